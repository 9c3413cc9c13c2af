import { describe, expect, it } from "@effect/vitest"
import { Clock, type Duration, Effect, Fiber, Layer, Option, Random, Ref, Stream, TestClock } from "effect"
import * as path from "node:path"
import { CircuitOpen, Invalid, OverBudget, RateLimited, type StageError } from "../../src/Domain/Errors.js"
import { type Item, SourceRecord } from "../../src/Domain/Item.js"
import * as Pipeline from "../../src/Engine/Pipeline.js"
import * as Progress from "../../src/Engine/Progress.js"
import { Classifier, layerAll, Route } from "../../src/Stages/Classifier.js"
import * as Fetcher from "../../src/Stages/Fetcher.js"
import { layerStoreOnly, Persister } from "../../src/Stages/Persister.js"
import { type Processed, Processor } from "../../src/Stages/Processor.js"
import * as SqliteStore from "../../src/Store/SqliteStore.js"
import { Store } from "../../src/Store/Store.js"
import { readJsonl, tempDir } from "../support/Temp.js"

// ---- fixtures --------------------------------------------------------------------------------------

/** `n` records keyed k0…k(n-1), payload `{ n }`, in file order. */
const records = (n: number): Array<SourceRecord> =>
  Array.from({ length: n }, (_, i) => SourceRecord.record(`k${i}`, { n: i }, i, i + 1))

const nOf = (item: Item): number => (item.payload as { n: number }).n

/** What the stub processor answers for an item: depends on the item, so a mix-up shows. */
const answer = (n: number) => ({ n, square: n * n })

const completedLine = (n: number) => ({ seq: n, key: `k${n}`, status: "completed", output: answer(n) })

interface Stages {
  readonly records: ReadonlyArray<SourceRecord>
  readonly process: (item: Item) => Effect.Effect<Processed, StageError>
  readonly classify?: ((item: Item) => Effect.Effect<Route, StageError>) | undefined
  readonly persist?: ((item: Item, output: unknown) => Effect.Effect<void, StageError>) | undefined
  /** Wraps the real SQLite store, e.g. to record claims. */
  readonly wrapStore?: ((store: Store["Type"]) => Store["Type"]) | undefined
  /** A live source (a mailbox): read again every session; `acked` sees what it is told is done. */
  readonly live?: { readonly acked: Array<string> } | undefined
}

const layer = (filename: string, stages: Stages) => {
  const sqlite = SqliteStore.layer({ filename })
  const wrap = stages.wrapStore
  const store = wrap === undefined ? sqlite : Layer.effect(Store, Effect.map(Store, wrap)).pipe(Layer.provide(sqlite))
  const classify = stages.classify
  const persist = stages.persist
  return Layer.mergeAll(
    Layer.succeed(
      Fetcher.Fetcher,
      Fetcher.make(
        Stream.fromIterable(stages.records),
        (items) => Effect.sync(() => stages.live?.acked.push(...items.map((i) => i.key))),
        { live: stages.live !== undefined }
      )
    ),
    classify === undefined ? layerAll : Layer.succeed(Classifier, Classifier.of({ classify })),
    Layer.succeed(Processor, Processor.of({ process: (item) => stages.process(item) })),
    persist === undefined ? layerStoreOnly : Layer.succeed(Persister, Persister.of({ persist })),
    Progress.layer,
    store
  )
}

/** Moves the test clock until `fiber` is done; fails the test if it never is. */
const drive = <A, E>(fiber: Fiber.Fiber<A, E>, step: Duration.DurationInput = "250 millis", maxSteps = 1_000) =>
  Effect.gen(function* () {
    for (let i = 0; i < maxSteps; i++) {
      const exit = yield* Fiber.poll(fiber)
      if (Option.isSome(exit)) return yield* exit.value
      yield* TestClock.adjust(step)
    }
    return yield* Effect.dieMessage(`not done after ${maxSteps} clock steps`)
  })

/** Moves the test clock until `condition` holds; fails the test if it never does. */
const driveUntil = (condition: Effect.Effect<boolean>, step: Duration.DurationInput = "100 millis", maxSteps = 1_000) =>
  Effect.gen(function* () {
    for (let i = 0; i < maxSteps; i++) {
      if (yield* condition) return
      yield* TestClock.adjust(step)
    }
    return yield* Effect.dieMessage(`condition not reached after ${maxSteps} clock steps`)
  })

const startRun = (filename: string, options: Pipeline.RunOptions, stages: Stages) =>
  Effect.fork(Pipeline.run(options).pipe(Effect.provide(layer(filename, stages))))

const runToEnd = (filename: string, options: Pipeline.RunOptions, stages: Stages) =>
  Effect.flatMap(startRun(filename, options, stages), (fiber) => drive(fiber))

const countBy = (lines: ReadonlyArray<{ status: string }>) => {
  const c = { completed: 0, skipped: 0, failed: 0 }
  for (const l of lines) c[l.status as keyof typeof c]++
  return c
}

/** Per-key call counts, start times and the order calls started in. */
const makeCalls = () => {
  const count = new Map<string, number>()
  const starts: Array<{ key: string; at: number }> = []
  return {
    count: (key: string) => count.get(key) ?? 0,
    starts,
    record: (item: Item) =>
      Effect.map(Clock.currentTimeMillis, (at) => {
        count.set(item.key, (count.get(item.key) ?? 0) + 1)
        starts.push({ key: item.key, at })
      })
  }
}

const setup = Effect.map(tempDir(), (dir) => ({
  db: path.join(dir, "sluice.db"),
  out: path.join(dir, "out.jsonl")
}))

// ---- tests -----------------------------------------------------------------------------------------

// Concurrent: each test has its own TestClock, database and output file; run one by one they mostly
// wait on the TestClock's real-time yields.
describe.concurrent("Pipeline.run", () => {
  it.scoped("writes results in input order whatever order they finish in", () =>
    Effect.gen(function* () {
      const { db, out } = yield* setup
      const finished: Array<number> = []
      const summary = yield* runToEnd(
        db,
        { run: "order", concurrency: 8, output: out },
        {
          records: records(200),
          process: (item) =>
            Effect.gen(function* () {
              yield* Effect.sleep(`${yield* Random.nextIntBetween(0, 101)} millis`)
              finished.push(nOf(item))
              return { output: answer(nOf(item)) }
            })
        }
      )
      const ids = Array.from({ length: 200 }, (_, i) => i)
      // the latencies really did reorder the work …
      expect(finished).toHaveLength(200)
      expect(finished).not.toEqual(ids)
      // … and the output does not show it
      expect(readJsonl(out)).toEqual(ids.map(completedLine))
      expect(summary.stoppedBy).toBe("finished")
      expect(summary.counts).toEqual({ pending: 0, processing: 0, completed: 200, skipped: 0, failed: 0 })
    })
  )

  it.scoped("writes every item exactly once when the store answers asynchronously (a networked store)", () =>
    Effect.gen(function* () {
      const { db, out } = yield* setup
      let reads = 0
      yield* runToEnd(
        db,
        { run: "slow-store", concurrency: 4, output: out },
        {
          records: records(40),
          // Reads take a moment, as they do over a network, each a little longer than the one before:
          // when the output follower and the final catch-up overlap, the earlier read answers first.
          wrapStore: (store) => ({
            ...store,
            results: (run, o) => Effect.zipRight(Effect.sleep(`${3 + reads++} millis`), store.results(run, o))
          }),
          // the last item lags, so the follower is idle when its commit arrives
          process: (item) =>
            Effect.as(Effect.sleep(nOf(item) === 39 ? "300 millis" : `${(nOf(item) * 7) % 23} millis`), {
              output: answer(nOf(item))
            })
        }
      )
      expect(readJsonl(out)).toEqual(Array.from({ length: 40 }, (_, i) => completedLine(i)))
    })
  )

  it.scoped("an item slower than its lease keeps it: the heartbeat renews the leases in hand", () =>
    Effect.gen(function* () {
      const { db, out } = yield* setup
      const calls = makeCalls()
      const renewed: Array<number> = []
      yield* runToEnd(
        db,
        { run: "slow-items", concurrency: 2, output: out, leaseMs: 1_000 },
        {
          records: records(4),
          wrapStore: (store) => ({
            ...store,
            heartbeat: (owner, leaseMs, held) =>
              Effect.tap(store.heartbeat(owner, leaseMs, held), (n) => Effect.sync(() => renewed.push(n)))
          }),
          // Five leases long: unrenewed, each lease would lapse and the claimer would take it again.
          process: (item) =>
            Effect.as(Effect.zipRight(calls.record(item), Effect.sleep("5 seconds")), { output: answer(nOf(item)) })
        }
      )
      expect(readJsonl(out)).toEqual(Array.from({ length: 4 }, (_, i) => completedLine(i)))
      expect([0, 1, 2, 3].map((i) => calls.count(`k${i}`))).toEqual([1, 1, 1, 1])
      expect(Math.max(...renewed)).toBeGreaterThan(0)
    })
  )

  it.scoped("never has more than `concurrency` items in the processor, and does reach that many", () =>
    Effect.gen(function* () {
      const { db } = yield* setup
      const inFlight = yield* Ref.make(0)
      const peak = yield* Ref.make(0)
      yield* runToEnd(
        db,
        { run: "bound", concurrency: 5 },
        {
          records: records(80),
          process: (item) =>
            Effect.gen(function* () {
              const now = yield* Ref.updateAndGet(inFlight, (n) => n + 1)
              yield* Ref.update(peak, (p) => Math.max(p, now))
              yield* Effect.sleep(`${yield* Random.nextIntBetween(1, 60)} millis`)
              yield* Ref.update(inFlight, (n) => n - 1)
              return { output: answer(nOf(item)) }
            })
        }
      )
      expect(yield* Ref.get(peak)).toBe(5)
      expect(yield* Ref.get(inFlight)).toBe(0)
    })
  )

  it.scoped("concurrency 1 is strictly sequential, in input order", () =>
    Effect.gen(function* () {
      const { db, out } = yield* setup
      const inFlight = yield* Ref.make(0)
      const peak = yield* Ref.make(0)
      const order: Array<number> = []
      yield* runToEnd(
        db,
        { run: "sequential", concurrency: 1, output: out },
        {
          records: records(30),
          process: (item) =>
            Effect.gen(function* () {
              const now = yield* Ref.updateAndGet(inFlight, (n) => n + 1)
              yield* Ref.update(peak, (p) => Math.max(p, now))
              order.push(nOf(item))
              yield* Effect.sleep(`${yield* Random.nextIntBetween(0, 30)} millis`)
              yield* Ref.update(inFlight, (n) => n - 1)
              return { output: answer(nOf(item)) }
            })
        }
      )
      expect(yield* Ref.get(peak)).toBe(1)
      expect(order).toEqual(Array.from({ length: 30 }, (_, i) => i))
      expect(readJsonl(out)).toEqual(order.map(completedLine))
    })
  )

  it.scoped("an Invalid item fails alone, with its tag, message and attempts in the output", () =>
    Effect.gen(function* () {
      const { db, out } = yield* setup
      const calls = makeCalls()
      const summary = yield* runToEnd(
        db,
        { run: "invalid", concurrency: 4, output: out },
        {
          records: records(20),
          process: (item) =>
            Effect.zipRight(
              calls.record(item),
              nOf(item) === 7
                ? Effect.fail(new Invalid({ reason: "Status", status: 422, message: "unprocessable item 7" }))
                : Effect.as(Effect.sleep("20 millis"), { output: answer(nOf(item)) })
            )
        }
      )
      const lines = readJsonl(out)
      expect(lines).toHaveLength(20)
      lines.forEach((l, i) => {
        if (i === 7) {
          expect(l).toEqual({
            seq: 7,
            key: "k7",
            status: "failed",
            output: null,
            error: { tag: "Invalid", message: "unprocessable item 7", attempts: 1 }
          })
        } else {
          expect(l).toEqual(completedLine(i))
        }
      })
      expect(calls.count("k7")).toBe(1)
      expect(summary.counts).toEqual({ pending: 0, processing: 0, completed: 19, skipped: 0, failed: 1 })
    })
  )

  it.scoped("a Skip route is written as skipped with its reason, and never reaches the processor", () =>
    Effect.gen(function* () {
      const { db, out } = yield* setup
      const calls = makeCalls()
      yield* runToEnd(
        db,
        { run: "skip", concurrency: 3, output: out },
        {
          records: records(15),
          classify: (item) =>
            Effect.succeed(nOf(item) % 4 === 1 ? Route.skip(`not an offer (${item.key})`) : Route.process("offer")),
          process: (item) => Effect.as(calls.record(item), { output: answer(nOf(item)) })
        }
      )
      const lines = readJsonl(out)
      expect(lines).toHaveLength(15)
      lines.forEach((l, i) => {
        if (i % 4 === 1) {
          expect(l).toEqual({ seq: i, key: `k${i}`, status: "skipped", output: null, reason: `not an offer (k${i})` })
          expect(calls.count(`k${i}`)).toBe(0)
        } else {
          expect(l).toEqual(completedLine(i))
          expect(calls.count(`k${i}`)).toBe(1)
        }
      })
    })
  )

  it.scoped("a malformed source record fails that item with its line number; the rest complete", () =>
    Effect.gen(function* () {
      const { db, out } = yield* setup
      const calls = makeCalls()
      const source = records(10)
      source[4] = SourceRecord.malformed("5", 5, "not valid JSON (Unexpected token 'x')", 4)
      yield* runToEnd(
        db,
        { run: "malformed", concurrency: 4, output: out },
        { records: source, process: (item) => Effect.as(calls.record(item), { output: answer(nOf(item)) }) }
      )
      const lines = readJsonl(out)
      expect(lines.map((l) => l.seq)).toEqual(Array.from({ length: 10 }, (_, i) => i))
      expect(lines[4]).toMatchObject({ seq: 4, key: "5", status: "failed", error: { tag: "Invalid" } })
      expect(lines[4].error.message).toMatch(/^line 5: not valid JSON/)
      lines.forEach((l, i) => i !== 4 && expect(l).toEqual(completedLine(i)))
      expect(calls.starts.map((s) => s.key)).not.toContain("5")
      expect(calls.starts).toHaveLength(9)
    })
  )

  it.scoped("one RateLimited pauses everyone: no processor call starts before retry-after has passed", () =>
    Effect.gen(function* () {
      const { db, out } = yield* setup
      const calls = makeCalls()
      let limitedAt: number | undefined
      const summary = yield* runToEnd(
        db,
        { run: "ratelimit", concurrency: 4, output: out },
        {
          records: records(24),
          process: (item) =>
            Effect.gen(function* () {
              yield* calls.record(item)
              if (item.key === "k3" && limitedAt === undefined) {
                yield* Effect.sleep("30 millis")
                limitedAt = yield* Clock.currentTimeMillis
                return yield* Effect.fail(new RateLimited({ retryAfterMs: 5_000, message: "429 Too Many Requests" }))
              }
              yield* Effect.sleep("100 millis")
              return { output: answer(nOf(item)) }
            })
        }
      )
      expect(limitedAt).toBeDefined()
      const after = calls.starts.filter((s) => s.at >= limitedAt!)
      // every item after the first wave, and k3's own second try, waited for the pause
      expect(after.length).toBeGreaterThanOrEqual(24 - 4 + 1)
      for (const s of after) expect(s.at).toBeGreaterThanOrEqual(limitedAt! + 5_000)
      expect(calls.count("k3")).toBe(2)
      expect(readJsonl(out)).toEqual(Array.from({ length: 24 }, (_, i) => completedLine(i)))
      expect(summary.metrics.rateLimitHits).toBe(1)
      expect(summary.metrics.retries).toBe(0)
    })
  )

  it.scoped("a persist failure fails the item with a 'persist:' message, without processing it again", () =>
    Effect.gen(function* () {
      const { db, out } = yield* setup
      const calls = makeCalls()
      const persisted: Array<string> = []
      yield* runToEnd(
        db,
        { run: "persist", concurrency: 3, output: out },
        {
          records: records(10),
          process: (item) => Effect.as(calls.record(item), { output: answer(nOf(item)) }),
          persist: (item, output) =>
            nOf(item) === 6
              ? Effect.fail(new Invalid({ reason: "Status", status: 409, message: "row exists with other data" }))
              : Effect.sync(() => {
                  expect(output).toEqual(answer(nOf(item)))
                  persisted.push(item.key)
                })
        }
      )
      const lines = readJsonl(out)
      expect(lines[6]).toMatchObject({ seq: 6, key: "k6", status: "failed", output: null, error: { tag: "Invalid" } })
      expect(lines[6].error.message).toMatch(/^persist: /)
      expect(lines[6].error.message).toContain("row exists with other data")
      expect(calls.count("k6")).toBe(1)
      lines.forEach((l, i) => i !== 6 && expect(l).toEqual(completedLine(i)))
      expect([...persisted].sort()).toEqual(["k0", "k1", "k2", "k3", "k4", "k5", "k7", "k8", "k9"])
    })
  )

  it.scoped("the summary counts what the output holds", () =>
    Effect.gen(function* () {
      const { db, out } = yield* setup
      const source = records(40)
      source[11] = SourceRecord.malformed("12", 12, "not valid JSON", 11)
      const summary = yield* runToEnd(
        db,
        { run: "summary", concurrency: 6, output: out },
        {
          records: source,
          classify: (item) => Effect.succeed(nOf(item) % 5 === 0 ? Route.skip("boring") : Route.process()),
          process: (item) =>
            nOf(item) % 7 === 3
              ? Effect.fail(new Invalid({ reason: "Input", message: "no" }))
              : Effect.as(Effect.sleep("15 millis"), { output: answer(nOf(item)) })
        }
      )
      const lines = readJsonl(out)
      expect(lines).toHaveLength(40)
      const c = countBy(lines)
      // 8 multiples of 5; 3, 10, 17, 24, 31, 38 fail in the processor (10 is skipped first); and line 12
      expect(c).toEqual({ completed: 40 - 8 - 5 - 1, skipped: 8, failed: 6 })
      expect(summary.counts).toEqual({ pending: 0, processing: 0, ...c })
      expect(summary.stoppedBy).toBe("finished")
      expect(summary.sourceError).toBeUndefined()
    })
  )

  it.scoped("resumes after an interruption: every item once, in order, finished items never processed again", () =>
    Effect.gen(function* () {
      const { db, out } = yield* setup
      const calls = makeCalls()
      const completions = yield* Ref.make(0)
      let firstSession = true
      const stages: Stages = {
        records: records(50),
        process: (item) =>
          Effect.gen(function* () {
            yield* calls.record(item)
            // In the first session the upstream hangs after the first 20 items: the run is cut off.
            if (firstSession && nOf(item) >= 20) return yield* Effect.never
            yield* Effect.sleep("10 millis")
            yield* Ref.update(completions, (n) => n + 1)
            return { output: answer(nOf(item)) }
          })
      }
      const options: Pipeline.RunOptions = { run: "resume", concurrency: 4, output: out, drainTimeout: "200 millis" }

      const first = yield* startRun(db, options, stages)
      yield* driveUntil(Effect.map(Ref.get(completions), (n) => n >= 20))
      const interrupting = yield* Effect.fork(Fiber.interrupt(first))
      yield* drive(interrupting)
      // what finished before the interruption is stored and written
      expect(readJsonl(out)).toEqual(Array.from({ length: 20 }, (_, i) => completedLine(i)))

      firstSession = false
      const summary = yield* runToEnd(db, options, stages)
      expect(readJsonl(out)).toEqual(Array.from({ length: 50 }, (_, i) => completedLine(i)))
      for (let i = 0; i < 20; i++) expect(calls.count(`k${i}`)).toBe(1)
      for (let i = 20; i < 50; i++) expect(calls.count(`k${i}`)).toBeGreaterThanOrEqual(1)
      expect(summary.counts).toEqual({ pending: 0, processing: 0, completed: 50, skipped: 0, failed: 0 })
    })
  )

  it.scoped("CircuitOpen hands the item back to pending, holds claims until the retry time, then completes it", () =>
    Effect.gen(function* () {
      const { db, out } = yield* setup
      const calls = makeCalls()
      const claims: Array<number> = []
      let openedAt: number | undefined
      let retryAt = 0
      const fiber = yield* startRun(
        db,
        { run: "circuit", concurrency: 2, output: out },
        {
          records: records(12),
          wrapStore: (store) => ({
            ...store,
            claim: (o) =>
              Effect.zipRight(
                Effect.map(Clock.currentTimeMillis, (t) => claims.push(t)),
                store.claim(o)
              )
          }),
          process: (item) =>
            Effect.gen(function* () {
              yield* calls.record(item)
              if (item.key === "k5" && openedAt === undefined) {
                openedAt = yield* Clock.currentTimeMillis
                retryAt = openedAt + 10_000
                return yield* Effect.fail(new CircuitOpen({ retryAtMs: retryAt, message: "circuit open" }))
              }
              yield* Effect.sleep("50 millis")
              return { output: answer(nOf(item)) }
            })
        }
      )
      // Halfway through the hold, the item is pending again, not failed.
      yield* driveUntil(Effect.map(Clock.currentTimeMillis, (now) => openedAt !== undefined && now >= openedAt + 5_000))
      const observer = yield* SqliteStore.make({ filename: db })
      const rows = yield* observer.results("circuit", { afterSeq: -1, limit: 100 })
      expect(rows.find((r) => r.key === "k5")).toMatchObject({ status: "pending", errorTag: null })
      expect(rows.filter((r) => r.status === "failed")).toEqual([])

      const summary = yield* drive(fiber)
      expect(readJsonl(out)).toEqual(Array.from({ length: 12 }, (_, i) => completedLine(i)))
      expect(summary.counts).toEqual({ pending: 0, processing: 0, completed: 12, skipped: 0, failed: 0 })
      expect(calls.count("k5")).toBe(2)
      const k5 = calls.starts.filter((s) => s.key === "k5")
      expect(k5[1]!.at).toBeGreaterThanOrEqual(retryAt)
      expect(claims.filter((t) => t > openedAt! && t < retryAt)).toEqual([])
      // items not yet claimed when the circuit opened were claimed after it, not lost
      expect(claims.filter((t) => t >= retryAt).length).toBeGreaterThan(0)
    })
  )

  it.scoped("OverBudget stops the run: the rest stays pending, nothing fails", () =>
    Effect.gen(function* () {
      const { db, out } = yield* setup
      const calls = makeCalls()
      const summary = yield* runToEnd(
        db,
        { run: "budget", concurrency: 2, output: out },
        {
          records: records(20),
          process: (item) =>
            Effect.gen(function* () {
              yield* calls.record(item)
              yield* Effect.sleep("10 millis")
              if (nOf(item) >= 6) {
                return yield* Effect.fail(
                  new OverBudget({ budgetUsd: 1, spentUsd: 1, message: "budget of $1 reached" })
                )
              }
              return { output: answer(nOf(item)) }
            })
        }
      )
      expect(summary.stoppedBy).toBe("budget")
      expect(summary.counts).toEqual({ pending: 14, processing: 0, completed: 6, skipped: 0, failed: 0 })
      expect(readJsonl(out)).toEqual(Array.from({ length: 6 }, (_, i) => completedLine(i)))
      // it stopped admitting work: at most the items already in the stages reached the processor
      expect(calls.starts.length).toBeLessThanOrEqual(6 + 2)
      const store = yield* SqliteStore.make({ filename: db })
      expect(yield* store.counts("budget")).toEqual(summary.counts)
      const rows = yield* store.results("budget", { afterSeq: -1, limit: 100 })
      expect(rows.filter((r) => r.status === "pending").map((r) => r.attempts)).toEqual(Array(14).fill(0))
    })
  )
  it.scoped("a file source read to its end is not read again when the run resumes", () =>
    Effect.gen(function* () {
      const { db } = yield* setup
      const first = yield* runToEnd(
        db,
        { run: "file" },
        { records: records(5), process: (item) => Effect.succeed({ output: answer(nOf(item)) }) }
      )
      expect(first.counts.completed).toBe(5)
      // Resumed with a longer source: the run's source was already read to its end, so nothing is added.
      const second = yield* runToEnd(
        db,
        { run: "file" },
        { records: records(8), process: (item) => Effect.succeed({ output: answer(nOf(item)) }) }
      )
      expect(second.counts.completed).toBe(5)
    })
  )

  it.scoped("a live source is read again every session: new keys are processed, done ones acknowledged again", () =>
    Effect.gen(function* () {
      const { db } = yield* setup
      const calls = makeCalls()
      const mail = (n: number) => SourceRecord.record(`m${n}`, { n })
      const acked1: Array<string> = []
      const process = (item: Item) => Effect.as(calls.record(item), { output: answer(nOf(item)) })
      yield* runToEnd(db, { run: "inbox" }, { records: [mail(0), mail(1)], process, live: { acked: acked1 } })
      expect(acked1.sort()).toEqual(["m0", "m1"])
      // The mailbox still shows m0 and m1 (say their acknowledgement was lost) and has a new m2.
      const acked2: Array<string> = []
      const second = yield* runToEnd(
        db,
        { run: "inbox" },
        { records: [mail(0), mail(1), mail(2)], process, live: { acked: acked2 } }
      )
      expect(second.counts.completed).toBe(3)
      expect([calls.count("m0"), calls.count("m1"), calls.count("m2")]).toEqual([1, 1, 1])
      expect(acked2.sort()).toEqual(["m0", "m1", "m2"])
    })
  )
})
