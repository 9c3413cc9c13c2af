import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Exit, Fiber, Option, Ref, Scope, TestClock } from "effect"
import * as Admission from "../../src/Governor/Admission.js"

// Everything here runs on TestClock: time moves only when a test says so.

/** Forks `n` callers of `cost`, each recording its index in `done` when admitted. */
const forkCallers = (
  admission: Admission.Admission["Type"],
  n: number,
  cost: Admission.Cost,
  done: Ref.Ref<Array<number>>,
  from = 0
) =>
  Effect.forEach(
    Array.from({ length: n }, (_, i) => from + i),
    (i) => Effect.fork(admission.withCost(cost)(Ref.update(done, (xs) => [...xs, i]))),
    { concurrency: 1 }
  )

/** The fiber's result if it has finished; a failed test instead of a hang if it has not. */
const finished = <A, E>(fiber: Fiber.Fiber<A, E>) =>
  Effect.flatMap(
    Fiber.poll(fiber),
    Option.match({ onNone: () => Effect.dieMessage("the call is still waiting"), onSome: (exit) => exit })
  )

const admittedAt = (done: Ref.Ref<Array<number>>, ms: number) =>
  Effect.gen(function* () {
    yield* TestClock.setTime(ms)
    return (yield* Ref.get(done)).length
  })

describe("Admission", () => {
  it.scoped("refills continuously with fractional precision: 90 RPM admits 1.5 requests per second", () =>
    Effect.gen(function* () {
      const admission = yield* Admission.make({ windowMs: 1000, startFull: true, rpm: 90 })
      const state = yield* admission.state
      assert.strictEqual(state.requestCapacity, 1.5)
      // Full bucket (1.5) admits one at once and leaves half a request.
      yield* admission.acquire({})
      const done = yield* Ref.make<Array<number>>([])
      yield* forkCallers(admission, 20, {}, done)
      // 0.5 left + 0.0015/ms: the next one fits at 333.3 ms, then one every 666.7 ms (1000, 1666.7, 2333.3).
      assert.strictEqual(yield* admittedAt(done, 300), 0)
      assert.strictEqual(yield* admittedAt(done, 400), 1)
      assert.strictEqual(yield* admittedAt(done, 990), 1)
      assert.strictEqual(yield* admittedAt(done, 1010), 2)
      assert.strictEqual(yield* admittedAt(done, 1600), 2)
      assert.strictEqual(yield* admittedAt(done, 1700), 3)
      assert.strictEqual(yield* admittedAt(done, 2400), 4)
      // Over 10 s: 1.5 + 15 = 16.5 requests in all: the first plus 15 waiters, the 16th at 10.33 s.
      assert.strictEqual(yield* admittedAt(done, 10_000), 15)
      assert.deepStrictEqual(
        yield* Ref.get(done),
        Array.from({ length: 15 }, (_, i) => i)
      )
    })
  )

  it.scoped(
    "by default a new bucket starts 15% of a second short (at least one request), for the upstream's later start",
    () =>
      Effect.gen(function* () {
        const admission = yield* Admission.make({ windowMs: 1000, rpm: 6_000, tpm: 600_000 }) // 100 requests, 10,000 tokens at once
        const state = yield* admission.state
        assert.closeTo(state.requestLevel ?? 0, 85, 1e-9)
        assert.closeTo(state.tokenLevel ?? 0, 8_500, 1e-9)
        const small = yield* Admission.make({ windowMs: 1000, rpm: 600 }) // 10 at once: 15% is 1.5 requests
        assert.closeTo((yield* small.state).requestLevel ?? 0, 8.5, 1e-9)
      })
  )

  it.scoped("a cost above the whole per-minute limit fails at once with Invalid TooLarge, never hangs", () =>
    Effect.gen(function* () {
      const admission = yield* Admission.make({ windowMs: 1000, startFull: true, rpm: 60, tpm: 60_000 })
      const tokens = yield* Effect.exit(admission.acquire({ tokens: 60_001 }))
      assert.isTrue(Exit.isFailure(tokens))
      const error = yield* Effect.flip(admission.withCost({ tokens: 100_000 })(Effect.succeed("ran")))
      assert.strictEqual(error._tag, "Invalid")
      assert.strictEqual(error.reason, "TooLarge")
      assert.match(error.message, /more than the whole 60000 TPM limit/)
      const requests = yield* Effect.flip(admission.acquire({ requests: 61 }))
      assert.strictEqual(requests.reason, "TooLarge")
      // A full bucket is fine, and a refused call charged nothing.
      const ok = yield* admission.acquire({ tokens: 1_000 })
      assert.strictEqual(ok.waitedMs, 0)
    })
  )

  it.scoped("a cost above one second's bucket but within the limit waits for a full bucket, then leaves a debt", () =>
    Effect.gen(function* () {
      const admission = yield* Admission.make({ windowMs: 1000, startFull: true, tpm: 60_000, discover: false }) // 1000 tokens at once, 1 token/ms
      yield* admission.acquire({ tokens: 500 })
      const done = yield* Ref.make<Array<number>>([])
      // 3000 tokens: more than the bucket holds, far less than the minute's limit.
      yield* Effect.fork(
        Effect.zipRight(
          admission.acquire({ tokens: 3_000 }),
          Effect.flatMap(Clock.currentTimeMillis, (t) => Ref.update(done, (xs) => [...xs, t]))
        )
      )
      yield* TestClock.adjust("499 millis")
      assert.deepStrictEqual(yield* Ref.get(done), [], "it waits for the bucket to be full again")
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(yield* Ref.get(done), [500])
      // The debt: the next 100-token call waits until 2000 + 100 tokens have refilled.
      const next = yield* Effect.fork(admission.acquire({ tokens: 100 }))
      yield* TestClock.adjust("2099 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(next)))
      yield* TestClock.adjust("1 millis")
      assert.isTrue(Option.isSome(yield* Fiber.poll(next)))
    })
  )

  it.scoped("first come, first served: a costly call queued first is not starved by cheap ones behind it", () =>
    Effect.gen(function* () {
      const admission = yield* Admission.make({ windowMs: 1000, startFull: true, rpm: 60_000, tpm: 60_000 }) // 1000 tokens, 1 token/ms
      yield* admission.acquire({ tokens: 1_000 }) // empty
      const order = yield* Ref.make<Array<string>>([])
      const record = (name: string) => Ref.update(order, (xs) => [...xs, name])
      const costly = yield* Effect.fork(admission.withCost({ tokens: 900 })(record("costly")))
      // Cheap calls arriving later would fit at once (10 tokens; 100 and then 500 have refilled);
      // they wait behind the costly one instead.
      yield* TestClock.setTime(100)
      const early = yield* Effect.forEach([1, 2, 3], (i) =>
        Effect.fork(admission.withCost({ tokens: 10 })(record(`cheap${i}`)))
      )
      yield* TestClock.setTime(500)
      const late = yield* Effect.forEach([4, 5], (i) =>
        Effect.fork(admission.withCost({ tokens: 10 })(record(`cheap${i}`)))
      )
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(yield* Ref.get(order), [])
      assert.strictEqual((yield* admission.state).waiting, 6)
      assert.strictEqual((yield* admission.state).boundBy, "tpm")
      yield* TestClock.setTime(899)
      assert.deepStrictEqual(yield* Ref.get(order), [])
      yield* TestClock.setTime(900)
      assert.deepStrictEqual(yield* Ref.get(order), ["costly"])
      yield* TestClock.setTime(950)
      yield* finished(costly)
      for (const f of [...early, ...late]) yield* finished(f)
      assert.deepStrictEqual(yield* Ref.get(order), ["costly", "cheap1", "cheap2", "cheap3", "cheap4", "cheap5"])
    })
  )

  it.scoped(
    "once refunds are believed, settling below the estimate gives the difference to waiting calls at once",
    () =>
      Effect.gen(function* () {
        const admission = yield* Admission.make({
          windowMs: 1000,
          startFull: true,
          rpm: 60_000,
          tpm: 60_000,
          assumeRefunds: true
        })
        const estimate = yield* admission.acquire({ tokens: 800 }) // 200 left
        const next = yield* Effect.fork(admission.acquire({ tokens: 500 })) // needs 300 ms of refill
        yield* TestClock.adjust("1 millis")
        assert.isTrue(Option.isNone(yield* Fiber.poll(next)))
        yield* admission.settle(estimate, 300) // 500 back
        yield* TestClock.adjust("1 millis")
        const admitted = yield* finished(next)
        assert.strictEqual(admitted.waitedMs, 1)
        // 200 + 1 + 500 refunded - 500 taken + 1 ms more; settling twice changes nothing.
        yield* admission.settle(estimate, 0)
        assert.closeTo((yield* admission.state).tokenLevel!, 202, 1e-6)
      })
  )

  it.scoped("usage above the estimate is charged as a debt that later calls wait for", () =>
    Effect.gen(function* () {
      const admission = yield* Admission.make({ windowMs: 1000, startFull: true, rpm: 60_000, tpm: 60_000 })
      const r = yield* admission.acquire({ tokens: 100 })
      yield* admission.settle(r, 1_500) // 1400 more than reserved: level 900 - 1400 = -500
      assert.closeTo((yield* admission.state).tokenLevel!, -500, 1e-6)
      // A call that needs no tokens does not wait for the token debt.
      assert.strictEqual((yield* admission.acquire({ requests: 1, tokens: 0 })).waitedMs, 0)
      const next = yield* Effect.fork(admission.acquire({ tokens: 100 }))
      yield* TestClock.setTime(599)
      assert.isTrue(Option.isNone(yield* Fiber.poll(next)))
      yield* TestClock.setTime(600)
      assert.strictEqual((yield* finished(next)).waitedMs, 600)
    })
  )

  it.scoped(
    "x-ratelimit headers lower the levels as far as our own ledger makes plausible, and teach unknown limits",
    () =>
      Effect.gen(function* () {
        const configured = yield* Admission.make({ windowMs: 1000, startFull: true, rpm: 600, tpm: 60_000 }) // 10 requests, 1000 tokens
        // Our ledger: 4 requests and 100 tokens owed. The upstream says 6 and 600: within the slack of 2
        // requests and 1000 tokens (coarse readings), so plausible, but without a 429 behind it a reading
        // lowers a level only to what our own ledger says: 10 - 4 and 1000 - 100.
        for (let i = 0; i < 4; i++) yield* configured.acquire({ tokens: 25 })
        yield* configured.resync({
          limitRequests: 600,
          remainingRequests: 594,
          limitTokens: 60_000,
          remainingTokens: 59_400
        })
        const s = yield* configured.state
        assert.strictEqual(s.requestLevel, 6)
        assert.strictEqual(s.tokenLevel, 900)
        // Six requests pass at once, the seventh waits for 1/10 s of refill.
        const done = yield* Ref.make<Array<number>>([])
        yield* forkCallers(configured, 7, { requests: 1 }, done)
        yield* TestClock.adjust("1 millis")
        assert.strictEqual((yield* Ref.get(done)).length, 6)
        yield* TestClock.setTime(100)
        assert.strictEqual((yield* Ref.get(done)).length, 7)
        // A deficit of 30 requests is far beyond our ledger: not believed without a 429 behind it...
        const before = (yield* configured.state).requestLevel
        yield* configured.resync({ limitRequests: 600, remainingRequests: 570 })
        assert.strictEqual((yield* configured.state).requestLevel, before)
        // Even after a 429, a source that claimed the implausible is not believed (its trust is spent);
        // the 429 itself halves the window (the upstream enforces over a shorter one): 5 requests.
        yield* configured.pause(0)
        yield* configured.resync({ limitRequests: 600, remainingRequests: 570 })
        assert.strictEqual((yield* configured.state).requestCapacity, 5)
        assert.isAtLeast((yield* configured.state).requestLevel!, 0)

        const unknown = yield* Admission.make({ windowMs: 1000, startFull: true })
        assert.strictEqual((yield* unknown.state).rpmSource, "discovered")
        yield* unknown.resync({
          limitRequests: 6_000,
          remainingRequests: 5_950,
          limitTokens: 120_000,
          resetTokensMs: 500
        })
        const learned = yield* unknown.state
        assert.strictEqual(learned.rpm, 6_000)
        assert.strictEqual(learned.rpmSource, "headers")
        assert.strictEqual(learned.tpm, 120_000)
        assert.strictEqual(learned.requestLevel, 50)
        // reset 500 ms of a 2000-token bucket filling 2 tokens/ms: 1000 missing.
        assert.strictEqual(learned.tokenLevel, 1_000)
      })
  )

  it.scoped("a learned limit that makes a waiting call impossible fails it instead of hanging", () =>
    Effect.gen(function* () {
      const admission = yield* Admission.make({ windowMs: 1000, startFull: true, rpm: 6_000 })
      yield* admission.pause(1_000)
      // Tokens are unknown, so only the pause holds it in the queue.
      const big = yield* Effect.fork(Effect.flip(admission.acquire({ tokens: 5_000 })))
      yield* TestClock.adjust("1 millis")
      assert.strictEqual((yield* admission.state).waiting, 1)
      yield* admission.resync({ limitTokens: 3_000 })
      const error = yield* Fiber.join(big)
      assert.strictEqual(error.reason, "TooLarge")
      assert.strictEqual((yield* admission.state).waiting, 0)
    })
  )

  it.scoped("one 429 makes every waiting and every new call wait until retry-after; pauses only extend", () =>
    Effect.gen(function* () {
      const admission = yield* Admission.make({ windowMs: 1000, startFull: true, rpm: 6_000 }) // 100 at once: buckets never bind here
      const done = yield* Ref.make<Array<number>>([])
      yield* admission.pause(2_000)
      yield* admission.pause(500) // shorter: must not shorten
      yield* forkCallers(admission, 5, {}, done)
      yield* TestClock.setTime(1_500)
      yield* forkCallers(admission, 3, {}, done, 5)
      assert.strictEqual((yield* admission.state).pausedUntilMs, 2_000)
      assert.strictEqual(yield* admittedAt(done, 1_999), 0)
      assert.strictEqual(yield* admittedAt(done, 2_000), 8)
      assert.deepStrictEqual(yield* Ref.get(done), [0, 1, 2, 3, 4, 5, 6, 7])
      const s = yield* admission.state
      assert.strictEqual(s.rateLimitHits, 2)
      assert.strictEqual(s.totalWaitMs, 5 * 2_000 + 3 * 500)
    })
  )

  it.effect("closing the admission's scope interrupts whoever still waits", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const admission = yield* Admission.make({ windowMs: 1000, startFull: true, rpm: 60 }).pipe(Scope.extend(scope))
      yield* admission.pause(10_000)
      const waiter = yield* Effect.fork(admission.acquire({}))
      yield* TestClock.adjust("1 millis")
      yield* Scope.close(scope, Exit.void)
      yield* TestClock.adjust("1 millis")
      const exit = yield* Fiber.poll(waiter)
      assert.isTrue(Option.isSome(exit) && Exit.isInterrupted(exit.value))
    })
  )

  it.scoped("an interrupted waiter gives its place back: the next one is served", () =>
    Effect.gen(function* () {
      const admission = yield* Admission.make({ windowMs: 1000, startFull: true, rpm: 60_000, tpm: 60_000 })
      yield* admission.acquire({ tokens: 1_000 })
      const costly = yield* Effect.fork(admission.acquire({ tokens: 900 }))
      const cheap = yield* Effect.fork(admission.acquire({ tokens: 10 }))
      yield* TestClock.adjust("5 millis")
      yield* Fiber.interrupt(costly)
      yield* TestClock.setTime(10)
      assert.strictEqual((yield* finished(cheap)).waitedMs, 10)
      assert.strictEqual((yield* admission.state).waiting, 0)
    })
  )
})
