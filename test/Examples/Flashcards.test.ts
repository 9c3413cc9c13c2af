/**
 * The flashcards batch (case 4) end to end: two LLM stages per vocabulary item, ordered output, a rerun
 * served from the cache, an outage the circuit breaker rides out, and the metrics row in SQLite.
 *
 * Every test starts the simulator on a real loopback port (127.0.0.1) with the example's responder and
 * uses real time (it.scopedLive); each is bounded by TIMEOUT. The simulator's limit is high, so the
 * runs are bound by CPU (a few seconds for 500 items), not by the RPM.
 */
import { describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Effect, Fiber, Redacted } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Model from "../../examples/flashcards/model.js"
import * as Flashcards from "../../examples/flashcards/program.js"
import * as Vocabulary from "../../examples/flashcards/vocabulary.js"
import * as Simulator from "../../src/Simulator/Simulator.js"
import { readJsonl, tempDir } from "../support/Temp.js"

const TIMEOUT = 60_000
const ITEMS = 500
const CONCURRENCY = 16
const UPSTREAM_RPM = 60_000
const terms = Vocabulary.take(ITEMS)

const setup = Effect.gen(function* () {
  const sim = yield* Simulator.make({ responder: Model.responder, rpm: UPSTREAM_RPM, latencyMs: 5, seed: 4 })
  const dir = yield* tempDir("sluice-flashcards-")
  const options = (run: string, extra: Partial<Flashcards.FlashcardsOptions> = {}): Flashcards.FlashcardsOptions => ({
    upstream: { baseUrl: sim.url, apiKey: Redacted.make("sk-test"), rpm: UPSTREAM_RPM },
    database: path.join(dir, "flashcards.db"),
    output: path.join(dir, `${run}.jsonl`),
    run,
    terms,
    concurrency: CONCURRENCY,
    ...extra
  })
  return { sim, dir, options }
})

/** Every line in input order, for the right term, with the card the responder makes for it. */
const expectOrderedAndRight = (file: string) => {
  const lines = readJsonl(file)
  expect(lines).toHaveLength(ITEMS)
  lines.forEach((line, i) => {
    expect(line.seq).toBe(i)
    expect(line.key).toBe(terms[i]!.id)
    expect(line.status).toBe("completed")
    expect(line.output).toEqual(Model.expectedFlashcard(terms[i]!))
  })
}

/** The run's row as SQLite holds it, read with a connection of our own. */
const metricsRow = (database: string, run: string): Record<string, number> => {
  const db = new Database(database, { readonly: true })
  try {
    return db
      .prepare(
        `SELECT concurrency, duration_ms, item_ms, items_timed, rate_limit_hits, admission_wait_ms, retries,
                circuit_trips, cache_hits, cache_misses, tokens_in, tokens_out, cost_usd FROM runs WHERE id = ?`
      )
      .get(run) as Record<string, number>
  } finally {
    db.close()
  }
}

describe("Flashcards (real loopback simulator, real time)", () => {
  it.scopedLive(
    "500 items: ordered output, the right card for every term, two upstream calls per item, the metrics row filled; a rerun over the same store makes 0 upstream calls and writes the same bytes",
    () =>
      Effect.gen(function* () {
        const { options, sim } = yield* setup
        const first = yield* Flashcards.run(options("first"))

        expect(first.timedOut).toBe(false)
        expect(first.counts).toMatchObject({ completed: ITEMS, failed: 0, pending: 0, processing: 0 })
        expectOrderedAndRight(first.output)

        // Two calls per item: stage 1 with {term, gloss}, stage 2 with stage 1's analysis in it.
        const stats = yield* sim.stats
        expect(stats.received).toBe(2 * ITEMS)
        expect(stats.accepted).toBe(2 * ITEMS)
        expect(stats.rateLimited).toBe(0)
        const calls = new Map<string, Array<string>>()
        for (const entry of yield* sim.log) {
          const body = JSON.parse(entry.content) as { term: string; analysis?: unknown }
          const stages = calls.get(body.term) ?? []
          stages.push(body.analysis === undefined ? "analyse" : "write")
          calls.set(body.term, stages)
        }
        expect(calls.size).toBe(ITEMS)
        for (const t of terms) expect(calls.get(t.term)?.sort()).toEqual(["analyse", "write"])

        // The metrics row, in SQLite.
        const row = metricsRow(options("first").database, "first")
        expect(row).toMatchObject({
          concurrency: CONCURRENCY,
          items_timed: ITEMS,
          rate_limit_hits: 0,
          retries: 0,
          circuit_trips: 0,
          cache_hits: 0,
          cache_misses: 2 * ITEMS
        })
        expect(row["duration_ms"]).toBeGreaterThan(0)
        expect(row["item_ms"]! / row["items_timed"]!).toBeGreaterThan(0)
        expect(row["item_ms"]! / row["items_timed"]!).toBeLessThan(row["duration_ms"]!)
        expect(row["tokens_in"]).toBe(stats.promptTokens)
        expect(row["tokens_out"]).toBe(stats.completionTokens)
        expect(row["cost_usd"]).toBeGreaterThan(0)
        expect(first.metrics).toMatchObject({
          concurrency: row["concurrency"],
          durationMs: row["duration_ms"],
          itemsTimed: row["items_timed"],
          cacheMisses: row["cache_misses"],
          tokensIn: row["tokens_in"]
        })

        // The same vocabulary again, as a new run over the same store file.
        const again = yield* Flashcards.run(options("again"))
        expect(again.counts).toMatchObject({ completed: ITEMS, failed: 0, pending: 0 })
        expect(yield* sim.stats).toEqual(stats)
        expect(fs.readFileSync(again.output).equals(fs.readFileSync(first.output))).toBe(true)
        expect(metricsRow(options("again").database, "again")).toMatchObject({
          concurrency: CONCURRENCY,
          items_timed: ITEMS,
          cache_hits: 2 * ITEMS,
          cache_misses: 0,
          tokens_in: 0,
          tokens_out: 0,
          cost_usd: 0,
          circuit_trips: 0
        })
        expect(again.metrics.durationMs).toBeGreaterThan(0)
      }),
    TIMEOUT
  )

  it.scopedLive(
    "an outage of 3 s mid-run: the breaker opens, no item fails, every item completes after recovery, and only a handful of calls reach the failing upstream",
    () =>
      Effect.gen(function* () {
        const { options, sim } = yield* setup
        const OUTAGE_MS = 3_000
        const COOL_DOWN_MS = 1_000
        const opts = options("outage", { circuitBreaker: { coolDownMs: COOL_DOWN_MS } })

        const running = yield* Effect.fork(Flashcards.run(opts))
        // About a fifth of the way in, every call starts failing.
        while ((yield* sim.stats).accepted < (2 * ITEMS) / 5) yield* Effect.sleep("10 millis")
        const before = yield* sim.stats
        yield* sim.outage(OUTAGE_MS)
        const startedAt = Date.now()
        const report = yield* Fiber.join(running)
        const after = yield* sim.stats

        expect(before.errors).toBe(0)
        expect(report.timedOut).toBe(false)
        expect(report.counts).toMatchObject({ completed: ITEMS, failed: 0, pending: 0, processing: 0 })
        expectOrderedAndRight(report.output)
        // Items waited out the outage rather than failing: the run ended after it.
        expect(Date.now() - startedAt).toBeGreaterThanOrEqual(OUTAGE_MS - 100)

        // Calls that met the outage: the ones in flight when it began (at most one per item in the
        // stages) until the breaker tripped, then one probe per cool-down. Without the breaker every
        // item would spend all its attempts on it (16 × 4) and then fail.
        const failedCalls = after.errors
        expect(failedCalls).toBeGreaterThan(0)
        expect(failedCalls).toBeLessThanOrEqual(CONCURRENCY + Math.ceil(OUTAGE_MS / COOL_DOWN_MS) + 4)
        // Every item's two answers were used once; the answers of items sent back mid-way came from the cache.
        expect(after.accepted).toBeGreaterThanOrEqual(2 * ITEMS)

        const row = metricsRow(opts.database, "outage")
        expect(row["circuit_trips"]).toBeGreaterThanOrEqual(1)
        expect(row["items_timed"]).toBe(ITEMS)
        expect(row["concurrency"]).toBe(CONCURRENCY)
        expect(row["retries"]).toBeGreaterThanOrEqual(1)
        expect(row["cache_hits"]! + row["cache_misses"]!).toBe(2 * ITEMS)
        expect(row["cache_misses"]).toBeLessThanOrEqual(after.accepted)
        expect(row["duration_ms"]).toBeGreaterThanOrEqual(OUTAGE_MS)
        yield* Effect.log(
          `outage: ${failedCalls} calls failed, ${row["circuit_trips"]} trips, ${row["retries"]} retries, run ${row["duration_ms"]} ms`
        )
      }),
    TIMEOUT
  )

  it.scopedLive(
    "a run that starts during a 2 s outage, with tripOnlyAfterSuccess off: the breaker trips on its first calls, nothing fails, all 50 items complete once it is over",
    () =>
      Effect.gen(function* () {
        const { options, sim } = yield* setup
        const few = terms.slice(0, 50)
        yield* sim.outage(2_000)
        // By default the breaker opens only for an upstream that has answered once (one that never has
        // is more likely a wrong URL, and its items should fail with the cause); a host that knows its
        // upstream is sound turns that off to ride out an outage from the first call.
        const report = yield* Flashcards.run(
          options("down", { terms: few, circuitBreaker: { coolDownMs: 500, tripOnlyAfterSuccess: false } })
        )
        expect(report.counts).toMatchObject({ completed: few.length, failed: 0, pending: 0 })
        expect(readJsonl(report.output).map((l) => l.output)).toEqual(few.map(Model.expectedFlashcard))
        const stats = yield* sim.stats
        // The items in flight at the start, then one probe per cool-down.
        expect(stats.errors).toBeLessThanOrEqual(CONCURRENCY + Math.ceil(2_000 / 500) + 4)
        expect(stats.accepted).toBe(2 * few.length)
        expect(report.metrics.circuitTrips).toBeGreaterThanOrEqual(1)
        expect(report.makespanMs).toBeGreaterThanOrEqual(1_900)
      }),
    TIMEOUT
  )

  it.scopedLive(
    "the batch timeout stops a slow run cleanly; running the same run id again finishes it, with every item once and in order",
    () =>
      Effect.gen(function* () {
        const slow = yield* Simulator.make({ responder: Model.responder, latencyMs: 100, latencySigma: 0, seed: 5 })
        const { options } = yield* setup
        const few = terms.slice(0, 40)
        const opts = options("timeout", {
          upstream: { baseUrl: slow.url, apiKey: Redacted.make("sk-test"), rpm: UPSTREAM_RPM },
          terms: few,
          concurrency: 4
        })
        // 40 items × 2 calls × 100 ms over 4 at once is about 2 s.
        const stopped = yield* Flashcards.run({ ...opts, batchTimeout: "600 millis" })
        expect(stopped.timedOut).toBe(true)
        expect(stopped.counts.failed).toBe(0)
        expect(stopped.counts.completed).toBeGreaterThan(0)
        expect(stopped.counts.pending).toBeGreaterThan(0)

        const resumed = yield* Flashcards.run(opts)
        expect(resumed.timedOut).toBe(false)
        expect(resumed.counts).toMatchObject({ completed: few.length, failed: 0, pending: 0 })
        const lines = readJsonl(resumed.output)
        expect(lines.map((l) => l.key)).toEqual(few.map((t) => t.id))
        expect(lines.map((l) => l.output)).toEqual(few.map(Model.expectedFlashcard))
        // Nothing was asked twice: what the first session finished came from the store, not the upstream.
        expect((yield* slow.stats).accepted).toBe(2 * few.length)
      }),
    TIMEOUT
  )
})
