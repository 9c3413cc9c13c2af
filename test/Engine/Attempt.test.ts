import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Fiber, Ref, TestClock } from "effect"
import { CircuitOpen, Invalid, OverBudget, RateLimited, Transient, type StageError } from "../../src/Domain/Errors.js"
import { attempt, emptyStats, makePauseGate, type AttemptOptions } from "../../src/Engine/Attempt.js"

const options: AttemptOptions = {
  maxAttempts: 5,
  attemptTimeout: "1 minute",
  baseBackoff: "100 millis",
  maxBackoff: "1 minute",
  maxPauses: 10
}

/** `Schedule.jittered` scales each delay by a factor in [0.8, 1.2) (effect/src/internal/schedule.ts). */
const JITTER_MIN = 0.8
const JITTER_MAX = 1.2

/** A stage call whose n-th call (0-based) does `plan(n)`, recording the clock at each call. */
const scripted = <A>(plan: (n: number) => Effect.Effect<A, StageError>) => {
  const times: Array<number> = []
  const call = Effect.flatMap(Clock.currentTimeMillis, (now) => {
    times.push(now)
    return plan(times.length - 1)
  })
  return { call, times }
}

const transient = (retryAfterMs?: number) =>
  new Transient({
    reason: "Status",
    status: 503,
    message: "503",
    ...(retryAfterMs === undefined ? {} : { retryAfterMs })
  })

const gaps = (times: ReadonlyArray<number>) => times.slice(1).map((t, i) => t - times[i]!)

/** Runs an attempt in a fiber and moves the test clock far enough for every backoff to pass. */
const runAttempt = <A>(call: Effect.Effect<A, StageError>, opts: AttemptOptions = options, timeout = true) =>
  Effect.gen(function* () {
    const gate = yield* makePauseGate
    const stats = emptyStats()
    const fiber = yield* Effect.fork(attempt(call, opts, gate, stats, timeout))
    yield* TestClock.adjust("1 hour")
    const result = yield* Fiber.join(fiber)
    return { result, stats, gate }
  })

describe("Attempt.attempt", () => {
  it.effect("succeeds on the first try without retrying", () =>
    Effect.gen(function* () {
      const stub = scripted(() => Effect.succeed("ok"))
      const { result, stats } = yield* runAttempt(stub.call)
      expect(result).toEqual({ _tag: "Ok", value: "ok", attempts: 1 })
      expect(stub.times).toEqual([0])
      expect(stats.retries).toBe(0)
    })
  )

  it.effect("retries Transient failures with exponential, jittered backoff", () =>
    Effect.gen(function* () {
      const stub = scripted((n) => (n < 4 ? Effect.fail(transient()) : Effect.succeed(n)))
      const { result, stats } = yield* runAttempt(stub.call)
      expect(result).toEqual({ _tag: "Ok", value: 4, attempts: 5 })
      expect(stats.retries).toBe(4)
      const g = gaps(stub.times)
      expect(g).toHaveLength(4)
      g.forEach((gap, k) => {
        const nominal = 100 * 2 ** k
        expect(gap).toBeGreaterThanOrEqual(Math.floor(JITTER_MIN * nominal))
        expect(gap).toBeLessThanOrEqual(Math.ceil(JITTER_MAX * nominal))
      })
      // the waits are spread, not exactly the nominal ones (items failing together do not retry together)
      expect(g.some((gap, k) => gap !== 100 * 2 ** k)).toBe(true)
      // Jitter never undoes the doubling: each wait is longer than the one before.
      for (let k = 1; k < g.length; k++) expect(g[k]!).toBeGreaterThan(g[k - 1]!)
    })
  )

  it.effect("caps the backoff at maxBackoff (before jitter)", () =>
    Effect.gen(function* () {
      const stub = scripted(() => Effect.fail(transient()))
      const { result } = yield* runAttempt(stub.call, { ...options, maxAttempts: 6, maxBackoff: "300 millis" })
      expect(result._tag).toBe("Failed")
      const g = gaps(stub.times)
      expect(g).toHaveLength(5)
      g.forEach((gap, k) => {
        const nominal = Math.min(100 * 2 ** k, 300)
        expect(gap).toBeGreaterThanOrEqual(Math.floor(JITTER_MIN * nominal))
        expect(gap).toBeLessThanOrEqual(Math.ceil(JITTER_MAX * nominal))
      })
    })
  )

  it.effect("never retries sooner than the upstream's retryAfterMs", () =>
    Effect.gen(function* () {
      // retry-after dominates the short early backoffs
      const short = scripted((n) => (n < 3 ? Effect.fail(transient(2_000)) : Effect.succeed("ok")))
      const a = yield* runAttempt(short.call)
      expect(a.result).toEqual({ _tag: "Ok", value: "ok", attempts: 4 })
      expect(gaps(short.times)).toEqual([2_000, 2_000, 2_000])

      // with a longer base, the backoff overtakes retry-after once it grows past it
      const long = scripted(() => Effect.fail(transient(1_500)))
      const b = yield* runAttempt(long.call, { ...options, baseBackoff: "1 second", maxAttempts: 4 })
      expect(b.result._tag).toBe("Failed")
      const g = gaps(long.times)
      expect(g).toHaveLength(3)
      g.forEach((gap, k) => {
        const nominal = 1_000 * 2 ** k
        expect(gap).toBeGreaterThanOrEqual(Math.max(1_500, Math.floor(JITTER_MIN * nominal)))
        expect(gap).toBeLessThanOrEqual(Math.max(1_500, Math.ceil(JITTER_MAX * nominal)))
      })
    })
  )

  it.effect("fails after maxAttempts transient failures, reporting every attempt", () =>
    Effect.gen(function* () {
      const stub = scripted(() => Effect.fail(transient()))
      const { result, stats } = yield* runAttempt(stub.call, { ...options, maxAttempts: 3 })
      expect(result._tag).toBe("Failed")
      if (result._tag !== "Failed") return
      expect(result.attempts).toBe(3)
      expect(result.error._tag).toBe("Transient")
      expect(stub.times).toHaveLength(3)
      expect(stats.retries).toBe(2)
    })
  )

  it.effect("Invalid fails after one attempt, with no retry and no wait", () =>
    Effect.gen(function* () {
      const stub = scripted(() => Effect.fail(new Invalid({ reason: "Status", status: 400, message: "bad request" })))
      const { result, stats } = yield* runAttempt(stub.call)
      expect(result).toMatchObject({ _tag: "Failed", attempts: 1, error: { _tag: "Invalid", message: "bad request" } })
      expect(stub.times).toEqual([0])
      expect(stats.retries).toBe(0)
    })
  )

  it.effect("Invalid after a transient failure stops the retries there", () =>
    Effect.gen(function* () {
      const stub = scripted((n) =>
        n === 0 ? Effect.fail(transient()) : Effect.fail(new Invalid({ reason: "Output", message: "schema" }))
      )
      const { result } = yield* runAttempt(stub.call)
      expect(result).toMatchObject({ _tag: "Failed", attempts: 2, error: { _tag: "Invalid" } })
      expect(stub.times).toHaveLength(2)
    })
  )

  it.effect("RateLimited spends no attempt and waits retryAfterMs through the pause gate", () =>
    Effect.gen(function* () {
      const stub = scripted((n) =>
        n < 2 ? Effect.fail(new RateLimited({ retryAfterMs: 2_000, message: "429" })) : Effect.succeed("ok")
      )
      const { result, stats, gate } = yield* runAttempt(stub.call, { ...options, maxAttempts: 1 })
      expect(result).toEqual({ _tag: "Ok", value: "ok", attempts: 1 })
      expect(stats.rateLimitHits).toBe(2)
      expect(stats.retries).toBe(0)
      const g = gaps(stub.times)
      expect(g).toHaveLength(2)
      // the gate adds at most a tenth of the pause (capped at 250 ms) as jitter
      for (const gap of g) {
        expect(gap).toBeGreaterThanOrEqual(2_000)
        expect(gap).toBeLessThanOrEqual(2_200)
      }
      expect(yield* Ref.get(gate.pausedUntil)).toBe(stub.times[1]! + 2_000)
      expect(stats.pausedMs).toBe(stub.times[2]!)
    })
  )

  it.effect("a 429 on one call holds back every other call sharing the gate", () =>
    Effect.gen(function* () {
      const gate = yield* makePauseGate
      const limited = scripted((n) =>
        n === 0 ? Effect.fail(new RateLimited({ retryAfterMs: 3_000, message: "429" })) : Effect.succeed("a")
      )
      const other = scripted(() => Effect.succeed("b"))
      const a = yield* Effect.fork(attempt(limited.call, options, gate, emptyStats()))
      yield* TestClock.adjust("100 millis")
      const b = yield* Effect.fork(attempt(other.call, options, gate, emptyStats()))
      yield* TestClock.adjust("1 minute")
      expect(yield* Fiber.join(a)).toEqual({ _tag: "Ok", value: "a", attempts: 1 })
      expect(yield* Fiber.join(b)).toEqual({ _tag: "Ok", value: "b", attempts: 1 })
      expect(limited.times[0]).toBe(0)
      expect(other.times[0]!).toBeGreaterThanOrEqual(3_000)
    })
  )

  it.effect("gives up after maxPauses consecutive 429s", () =>
    Effect.gen(function* () {
      const stub = scripted(() => Effect.fail(new RateLimited({ retryAfterMs: 10, message: "429" })))
      const { result } = yield* runAttempt(stub.call, { ...options, maxPauses: 2 })
      expect(result).toMatchObject({ _tag: "Failed", error: { _tag: "RateLimited" } })
      expect(stub.times).toHaveLength(3)
    })
  )

  it.effect("a call that never answers fails as a Transient Timeout and is retried", () =>
    Effect.gen(function* () {
      const opts = { ...options, attemptTimeout: "1 second" } as const
      const once = scripted((n) => (n === 0 ? Effect.never : Effect.succeed("late")))
      const first = yield* runAttempt(once.call, opts)
      expect(first.result).toEqual({ _tag: "Ok", value: "late", attempts: 2 })
      expect(once.times[1]!).toBeGreaterThanOrEqual(1_000 + JITTER_MIN * 100)
      expect(once.times[1]!).toBeLessThanOrEqual(1_000 + JITTER_MAX * 100)

      const never = scripted(() => Effect.never)
      const second = yield* runAttempt(never.call, { ...opts, maxAttempts: 2 })
      expect(second.result).toMatchObject({
        _tag: "Failed",
        attempts: 2,
        error: { _tag: "Transient", reason: "Timeout" }
      })
      expect(never.times).toHaveLength(2)
    })
  )

  it.effect("a synchronous stage (timeout = false) is not cut off by attemptTimeout", () =>
    Effect.gen(function* () {
      const opts = { ...options, attemptTimeout: "1 second", maxAttempts: 1 } as const
      const slow = () => scripted(() => Effect.as(Effect.sleep("5 seconds"), "done"))
      const untimed = slow()
      const a = yield* runAttempt(untimed.call, opts, false)
      expect(a.result).toEqual({ _tag: "Ok", value: "done", attempts: 1 })
      // the same call under a timeout does not finish: the flag is what lets it through
      const timed = slow()
      const b = yield* runAttempt(timed.call, opts, true)
      expect(b.result).toMatchObject({ _tag: "Failed", error: { _tag: "Transient", reason: "Timeout" } })
    })
  )

  it.effect("CircuitOpen and OverBudget hand the item back without a retry or a spent attempt", () =>
    Effect.gen(function* () {
      const open = scripted(() => Effect.fail(new CircuitOpen({ retryAtMs: 10_000, message: "open" })))
      const a = yield* runAttempt(open.call)
      expect(a.result).toMatchObject({ _tag: "Held", attempts: 0, error: { _tag: "CircuitOpen", retryAtMs: 10_000 } })
      expect(open.times).toHaveLength(1)

      const budget = scripted((n) =>
        n === 0
          ? Effect.fail(transient())
          : Effect.fail(new OverBudget({ budgetUsd: 1, spentUsd: 1, message: "budget" }))
      )
      const b = yield* runAttempt(budget.call)
      expect(b.result).toMatchObject({ _tag: "Held", attempts: 1, error: { _tag: "OverBudget" } })
      expect(budget.times).toHaveLength(2)
    })
  )
})
