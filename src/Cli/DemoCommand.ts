/**
 * `sluice demo`: the simulator in-process on a free loopback port, and a bundled sample through it.
 *
 * @since 0.1.0
 */
import { Command, Options } from "@effect/cli"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Pipeline from "../Engine/Pipeline.js"
import * as Simulator from "../Simulator/Simulator.js"
import { Store } from "../Store/Store.js"
import { failure } from "./CliError.js"
import * as Compose from "./Compose.js"
import { mails } from "./DemoData.js"
import * as ProgressView from "./ProgressView.js"
import * as Summary from "./Summary.js"

/** @since 0.1.0 */
export const command = Command.make(
  "demo",
  {
    dir: Options.text("dir").pipe(Options.withDefault("./sluice-demo"), Options.withDescription("Where the demo writes its files (replaced)")),
    items: Options.integer("items").pipe(Options.withDefault(300), Options.withDescription("How many sample items"))
  },
  (o) =>
    Effect.gen(function* () {
      const dir = path.resolve(o.dir)
      yield* Effect.sync(() => {
        fs.rmSync(dir, { recursive: true, force: true })
        fs.mkdirSync(dir, { recursive: true })
        fs.writeFileSync(path.join(dir, "items.jsonl"), mails(o.items).map((m) => JSON.stringify(m)).join("\n") + "\n")
      })
      const rpm = 1200
      const tpm = 200_000
      const sim = yield* Simulator.make({ port: 0, rpm, tpm, latencyMs: 150, latencySigma: 0.5, errorRate: 0.02, seed: 7 })
      yield* Effect.sync(() =>
        process.stderr.write(`sluice demo: simulator at ${sim.url} (${rpm} RPM, ${tpm} TPM, 150 ms median, 2% errors); ${o.items} items\n`)
      )
      const input = path.join(dir, "items.jsonl")
      const output = path.join(dir, "results.jsonl")
      const run = "demo"
      const config = { source: input, processor: "llm" as const, model: "gpt-4o-mini", maxTokens: 64 }
      const summary = yield* Effect.gen(function* () {
        const store = yield* Store
        yield* Effect.forkScoped(ProgressView.follow(run))
        const summary = yield* Pipeline.run({ run, config, concurrency: 16, output })
        const errors = summary.counts.failed > 0 ? yield* store.lastErrors(run, 1000) : []
        return Summary.render(summary, { output, errors })
      }).pipe(
        Effect.scoped,
        Effect.provide(
          Compose.runLayer({
            db: path.join(dir, "sluice.db"),
            input,
            run,
            config,
            upstream: { baseUrl: sim.url, timeoutMs: 30_000, rpm, tpm, cache: true }
          })
        ),
        Effect.catchTag("StoreError", (e) => Effect.fail(failure(`sluice: ${e.message}`)))
      )
      yield* Effect.sync(() => process.stderr.write(summary + "\n"))
    }).pipe(Effect.scoped)
).pipe(Command.withDescription("Run a bundled sample through an in-process simulator (no network, no key)"))
