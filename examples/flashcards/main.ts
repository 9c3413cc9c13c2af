/**
 * `npm run example:flashcards`: 500 German vocabulary items through two LLM stages, with nothing to
 * configure.
 *
 * Starts the LLM simulator in-process (5,000 RPM, ~150 ms latency) playing both stages, and runs the
 * batch at 90% of that limit with the CLI's progress bar. Midway the simulator fails every call for
 * 3 s: the circuit breaker opens, items wait instead of failing, and all complete once it recovers.
 * Prints the summary and the run's metrics row from SQLite, then runs the same vocabulary again over
 * the same store file: every answer comes from the cache, with 0 upstream calls.
 *
 *   npm run example:flashcards -- [--items 500] [--outage 3000] [--concurrency 16]
 *
 * The store and both output files are left in a temporary directory, printed at the end.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Cause, Effect, Option, Redacted, Schema } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { type Run } from "sluice"
import { ProgressView } from "sluice/cli"
import { Simulator } from "sluice/simulator"
import * as Model from "./model.js"
import { Flashcard } from "./processor.js"
import * as Flashcards from "./program.js"
import * as Vocabulary from "./vocabulary.js"

const UPSTREAM_RPM = 5_000

const flag = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`)
  const v = i >= 0 ? Number(process.argv[i + 1]) : NaN
  return Number.isFinite(v) && v >= 0 ? v : fallback
}

const decodeLine = Schema.decodeUnknownSync(Schema.Struct({ output: Flashcard }))

const print = (line: string) => Effect.sync(() => process.stdout.write(`${line}\n`))

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`

/** The metrics row, as the flashcard team asked for it. */
const metricsLines = (m: Run.RunMetrics): ReadonlyArray<string> => {
  const answers = m.cacheHits + m.cacheMisses
  const hitRate = answers === 0 ? 0 : (100 * m.cacheHits) / answers
  const meanItem = m.itemsTimed === 0 ? 0 : m.itemMs / m.itemsTimed
  return [
    `  concurrency ${m.concurrency} · duration ${seconds(m.durationMs)} · mean item ${meanItem.toFixed(0)} ms (${m.itemsTimed} items timed)`,
    `  rate-limit hits ${m.rateLimitHits} · admission wait ${seconds(m.admissionWaitMs)} (summed) · retries ${m.retries} · circuit trips ${m.circuitTrips}`,
    `  cache ${m.cacheHits} hits / ${m.cacheMisses} misses (hit rate ${hitRate.toFixed(1)}%) · tokens ${m.tokensIn} in / ${m.tokensOut} out · cost $${m.costUsd.toFixed(4)}`
  ]
}

const main = Effect.gen(function* () {
  const items = Math.min(Vocabulary.all.length, Math.max(1, Math.floor(flag("items", 500))))
  const outageMs = flag("outage", 3_000)
  const concurrency = Math.max(1, Math.floor(flag("concurrency", 16)))

  const simulator = yield* Simulator.make({ responder: Model.responder, rpm: UPSTREAM_RPM, latencyMs: 150, seed: 3 })
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-flashcards-"))
  const base = {
    upstream: { baseUrl: simulator.url, apiKey: Redacted.make("sk-simulator"), rpm: UPSTREAM_RPM },
    database: path.join(dir, "flashcards.db"),
    terms: Vocabulary.take(items),
    concurrency,
    budgetUsd: 1
  } satisfies Partial<Flashcards.FlashcardsOptions>
  yield* print(
    `${items} vocabulary items, 2 LLM calls each; simulator at ${UPSTREAM_RPM} RPM, admission at 90% of it, ${concurrency} at once`
  )

  // The outage: once 40% of the calls are answered, every call fails for `outageMs`.
  if (outageMs > 0) {
    yield* Effect.forkScoped(
      Effect.gen(function* () {
        while ((yield* simulator.stats).accepted < items * 2 * 0.4) yield* Effect.sleep("50 millis")
        yield* simulator.outage(outageMs)
        yield* Effect.sync(() =>
          process.stderr.write(`\n  (simulated outage: every call fails for ${seconds(outageMs)})\n`)
        )
      })
    )
  }

  const first = yield* Flashcards.run(
    { ...base, run: "flashcards", output: path.join(dir, "flashcards.jsonl") },
    ProgressView.follow
  )
  const afterFirst = yield* simulator.stats
  const { completed, failed, pending } = first.counts
  yield* print(
    `\nRun "${first.run}": ${completed} flashcards, ${failed} failed, ${pending} pending in ${seconds(first.makespanMs)}` +
      (first.timedOut ? " (stopped by the batch timeout)" : "")
  )
  yield* print(
    `  upstream: ${afterFirst.received} calls (${afterFirst.accepted} answered, ${afterFirst.errors} failed by the outage, ${afterFirst.rateLimited} refused with 429)`
  )
  yield* print("Metrics row (SQLite):")
  for (const l of metricsLines(first.metrics)) yield* print(l)
  const lines = fs
    .readFileSync(first.output, "utf8")
    .split("\n")
    .filter((l) => l.length > 0)
  yield* print(`First cards of ${lines.length} in ${first.output}:`)
  for (const l of lines.slice(0, 3)) {
    const { card } = decodeLine(JSON.parse(l)).output
    yield* print(`  ${card.front} — ${card.back} (${card.grammar}): ${card.example}`)
  }

  yield* print(`\nAgain, as a new run over the same store file:`)
  const again = yield* Flashcards.run({
    ...base,
    run: "flashcards-again",
    output: path.join(dir, "flashcards-again.jsonl")
  })
  const afterAgain = yield* simulator.stats
  const identical = fs.readFileSync(again.output).equals(fs.readFileSync(first.output))
  yield* print(
    `Run "${again.run}": ${again.counts.completed} flashcards in ${seconds(again.makespanMs)}, ` +
      `${afterAgain.received - afterFirst.received} upstream calls; output ${identical ? "identical to" : "DIFFERENT from"} the first run's`
  )
  yield* print("Metrics row (SQLite):")
  for (const l of metricsLines(again.metrics)) yield* print(l)
  yield* print(`\nStore and outputs: ${dir}`)
})

main.pipe(
  Effect.scoped,
  Effect.tapErrorCause((cause) =>
    Cause.isInterruptedOnly(cause)
      ? Effect.void
      : Effect.sync(() => {
          const failure = Cause.failureOption(cause)
          process.stderr.write(`flashcards: ${Option.isSome(failure) ? failure.value.message : Cause.pretty(cause)}\n`)
        })
  ),
  NodeRuntime.runMain({ disableErrorReporting: true })
)
