/**
 * `npm run example:tracking`: tracking extraction against a local helpdesk and the LLM simulator, with
 * nothing to configure.
 *
 * Starts a helpdesk with 300 conversations (3 pages of 100; the second page answers 503 once, one
 * conversation's messages answer 500 once), and the simulator playing the model under the team's
 * limits, 500 RPM / 200k TPM, with realistic latency; runs the extraction with 20 at once; prints what
 * it found and what it cost upstream; then runs it again with the same run id and shows that the rerun
 * made no upstream call for the conversations already scanned.
 *
 * At 500 RPM the first run takes about 40 s: that is the limit, not the engine (300 requests / 500 RPM
 * = 36 s). `TRACKING_RPM`, `TRACKING_TPM` and `TRACKING_CONVERSATIONS` change the defaults.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Cause, Config, Effect, Fiber, Option, Redacted, Schedule } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Simulator } from "sluice/simulator"
import * as Helpdesk from "./helpdesk.js"
import * as Model from "./model.js"
import * as Tracking from "./program.js"

const print = (line: string) => Effect.sync(() => process.stdout.write(`${line}\n`))

const settings = Config.all({
  rpm: Config.integer("TRACKING_RPM").pipe(
    Config.withDefault(500),
    Config.withDescription("The model's requests per minute.")
  ),
  tpm: Config.integer("TRACKING_TPM").pipe(
    Config.withDefault(200_000),
    Config.withDescription("The model's tokens per minute.")
  ),
  conversations: Config.integer("TRACKING_CONVERSATIONS").pipe(
    Config.withDefault(300),
    Config.withDescription("Conversations in the helpdesk.")
  )
})

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`

const main = Effect.gen(function* () {
  const { rpm, tpm, conversations: n } = yield* settings
  const conversations = Helpdesk.generate(n)
  const planted = conversations.filter((c) => c.tracking.length > 0)
  const helpdesk = yield* Helpdesk.make({
    conversations,
    latencyMs: 15,
    pageFaults: { 2: [503] },
    messageFaults: { [Helpdesk.conversationId(42)]: [500] }
  })
  const simulator = yield* Simulator.make({
    responder: Model.makeResponder(),
    rpm,
    tpm,
    latencyMs: 400,
    seed: 11
  })
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "tracking-extraction-"))),
    (d) => Effect.sync(() => fs.rmSync(d, { recursive: true, force: true }))
  )
  const options: Tracking.TrackingOptions = {
    helpdesk: { url: helpdesk.url },
    llm: { baseUrl: simulator.url, apiKey: Redacted.make("sk-simulator"), rpm, tpm },
    database: path.join(dir, "sluice.db"),
    results: path.join(dir, "team.db")
  }
  yield* print(
    `Helpdesk on ${helpdesk.url}: ${n} conversations (${Math.ceil(n / 100)} pages of 100), ${planted.length} with tracking numbers`
  )
  yield* print(`Model: the simulator at ${rpm} RPM / ${tpm.toLocaleString("en")} TPM, ~400 ms a request; 20 at once\n`)

  // A line every five seconds while the first run works.
  const ticker = yield* Effect.forkScoped(
    Effect.repeat(
      Effect.flatMap(Effect.all([simulator.stats, helpdesk.counts]), ([s, h]) =>
        print(`  … ${h.messages} message fetches, ${s.accepted} model answers, ${s.inFlight} in flight`)
      ),
      Schedule.spaced("5 seconds")
    ).pipe(Effect.delay("5 seconds"))
  )
  const first = yield* Tracking.run(options)
  yield* Fiber.interrupt(ticker)
  const before = { helpdesk: yield* helpdesk.counts, model: yield* simulator.stats }

  const recovered = [...Model.flaky].filter((id) => !first.failed.some((f) => f.key === id)).length
  yield* print(
    `\nFirst run: ${first.scanned} conversations scanned, ${first.withTracking} with tracking numbers, ${first.failed.length} failed` +
      ` (${recovered} more recovered after a decode retry) in ${seconds(first.summary.makespanMs)}`
  )
  for (const f of first.failed) yield* print(`  failed ${f.key}: ${f.tag}: ${f.message.slice(0, 110)}`)
  const errors = [...before.helpdesk.errors].map(([status, count]) => `${count}× ${status}`).join(", ") || "none"
  yield* print(
    `  upstream calls: ${before.helpdesk.pages} page listings and ${before.helpdesk.messages} message fetches (errors: ${errors}); ` +
      `${before.model.received} model requests, ${before.model.rateLimited} answered 429, at most ${before.model.peakInFlight} in flight`
  )
  const floor = (before.model.accepted / rpm) * 60_000
  yield* print(
    `  ${before.model.promptTokens + before.model.completionTokens} tokens; request-bound floor ${before.model.accepted} / ${rpm} RPM = ${seconds(floor)}`
  )
  yield* print(`  ${Tracking.TABLE}: ${first.rows.length} rows, e.g.`)
  for (const r of first.rows.slice(0, 4)) yield* print(`    ${r.conversation_id}  ${r.carrier.padEnd(9)} ${r.number}`)

  const second = yield* Tracking.run(options)
  const after = { helpdesk: yield* helpdesk.counts, model: yield* simulator.stats }
  const messageFetches = after.helpdesk.messages - before.helpdesk.messages
  const modelCalls = after.model.received - before.model.received
  yield* print(
    `\nRerun (same run id): ${messageFetches + modelCalls} upstream calls for scanned conversations ` +
      `(${messageFetches} message fetches, ${modelCalls} model requests); it listed ${after.helpdesk.pages - before.helpdesk.pages} pages ` +
      `to look for new conversations and found ${second.summary.counts.completed + second.summary.counts.failed - first.scanned - first.failed.length}; ` +
      `${second.rows.length} rows in ${Tracking.TABLE}; ${seconds(second.summary.makespanMs)}`
  )
})

main.pipe(
  Effect.scoped,
  Effect.tapErrorCause((cause) =>
    Cause.isInterruptedOnly(cause)
      ? Effect.void
      : Effect.sync(() => {
          const failure = Cause.failureOption(cause)
          process.stderr.write(`tracking: ${Option.isSome(failure) ? failure.value.message : Cause.pretty(cause)}\n`)
        })
  ),
  NodeRuntime.runMain({ disableErrorReporting: true })
)
