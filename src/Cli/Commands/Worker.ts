/**
 * `sluice worker --db f [--concurrency n …]`: claims and processes pending items of every run (or
 * one) until none are left. Several workers on one database share the work through leases.
 *
 * @since 0.1.0
 */
import { Command } from "@effect/cli"
import { Effect, Option } from "effect"
import { makeOwner } from "../../Engine/Pipeline.js"
import * as Worker from "../../Engine/Worker.js"
import * as RunConfig from "../../Domain/RunConfig.js"
import * as PerRun from "../../Stages/PerRun.js"
import { Store } from "../../Store/Store.js"
import * as Tracing from "../../Telemetry/Tracing.js"
import { failure, usage } from "../CliError.js"
import * as Compose from "../Compose.js"
import * as Flags from "../Flags.js"
import * as UpstreamUrl from "../../Llm/UpstreamUrl.js"

/** @since 0.1.0 */
export const command = Command.make(
  "worker",
  {
    db: Flags.db,
    run: Flags.runId,
    concurrency: Flags.concurrency,
    baseUrl: Flags.baseUrl,
    rpm: Flags.rpm,
    tpm: Flags.tpm,
    inputTpm: Flags.inputTpm,
    outputTpm: Flags.outputTpm,
    maxAttempts: Flags.maxAttempts,
    attemptTimeout: Flags.attemptTimeout,
    noCache: Flags.noCache,
    drainTimeout: Flags.drainTimeout,
    lease: Flags.lease,
    traceContent: Flags.traceContent
  },
  (o) =>
    Effect.gen(function* () {
      const badUrl = UpstreamUrl.problem(o.baseUrl)
      if (badUrl !== undefined) return yield* usage(`sluice: ${badUrl}`)
      const store = yield* Store
      const run = Option.getOrUndefined(o.run)
      if (run !== undefined) {
        const info = yield* store.getRun(run)
        if (Option.isNone(info)) return yield* failure(`sluice: no run "${run}" in ${Compose.describeDb(o.db)}`)
        if (Option.isNone(RunConfig.decodeOption(info.value.config))) {
          return yield* failure(
            `sluice: run "${run}" was started by a program with stages of its own; run that program to resume it`
          )
        }
      }
      const owner = makeOwner()
      const result = yield* Worker.run({
        owner,
        concurrency: o.concurrency,
        run,
        // Only runs whose stages this worker can rebuild from their settings.
        runs: run === undefined ? Effect.provideService(PerRun.portableRuns, Store, store) : undefined,
        until: "idle",
        attempt: Flags.attemptOf(o),
        drainTimeout: `${o.drainTimeout} seconds`,
        leaseMs: o.lease * 1000
      })
      yield* Effect.sync(() =>
        process.stderr.write(`sluice: worker ${owner} ${result.stoppedBy}; it finished ${result.finished} item(s)\n`)
      )
      if (result.stoppedBy === "upstream") {
        return yield* failure(`sluice: ${result.stopMessage ?? "the upstream cannot be used"}; the items stay pending`)
      }
    }).pipe(
      Effect.provide(
        Compose.workerLayer({
          db: o.db,
          upstream: Flags.upstreamOf(o)
        })
      ),
      Effect.catchTag("StoreError", (e) => Effect.fail(failure(`sluice: ${e.message}`))),
      Tracing.withTraceContent(o.traceContent)
    )
).pipe(Command.withDescription("Claim and process pending items until none are left; start several to share the work"))
