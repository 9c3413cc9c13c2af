import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Metric, Ref, TestClock } from "effect"
import { Invalid, RateLimited, Transient } from "../../src/Domain/Errors.js"
import * as CircuitBreaker from "../../src/Governor/CircuitBreaker.js"

const transient = new Transient({ reason: "Status", status: 503, message: "unavailable" })

// The state machine from a cold start; the default (open only after a first success) has its own test.
const options = {
  windowSize: 10,
  minimumCalls: 4,
  failureRatio: 0.5,
  coolDownMs: 10_000,
  halfOpenProbes: 1,
  tripOnlyAfterSuccess: false
}

/** A call that counts how often it really ran. */
const counted = <A, E>(calls: Ref.Ref<number>, effect: Effect.Effect<A, E>) =>
  Effect.zipRight(
    Ref.update(calls, (n) => n + 1),
    effect
  )

const openedCount = Metric.value(Metric.tagged(CircuitBreaker.transitionsTotal, "to", "open"))

describe("CircuitBreaker", () => {
  it.effect(
    "by default an upstream that never answered does not open the circuit: its calls fail with their own error",
    () =>
      Effect.gen(function* () {
        const breaker = yield* CircuitBreaker.make({ ...options, tripOnlyAfterSuccess: undefined })
        for (let i = 0; i < 8; i++) {
          const error = yield* Effect.flip(breaker.protect(Effect.fail(transient)))
          assert.strictEqual(error._tag, "Transient")
        }
        assert.strictEqual((yield* breaker.state).status, "closed")
        assert.strictEqual(yield* breaker.trips, 0)
        // Once it has answered, failures open it as usual.
        yield* breaker.protect(Effect.void)
        for (let i = 0; i < 4; i++) yield* Effect.flip(breaker.protect(Effect.fail(transient)))
        assert.strictEqual((yield* breaker.state).status, "open")
        assert.strictEqual(yield* breaker.trips, 1)
      })
  )

  it.effect("closed → open on the failure ratio → CircuitOpen while open → half-open → closed on a probe success", () =>
    Effect.gen(function* () {
      const breaker = yield* CircuitBreaker.make(options)
      const calls = yield* Ref.make(0)
      const openedBefore = (yield* openedCount).count

      yield* breaker.protect(counted(calls, Effect.void))
      yield* breaker.protect(counted(calls, Effect.void))
      yield* Effect.flip(breaker.protect(counted(calls, Effect.fail(transient))))
      // 1 failure of 3 calls: below the minimum of 4 calls anyway.
      assert.strictEqual((yield* breaker.state).status, "closed")
      yield* TestClock.adjust("1 second")
      const fourth = yield* Effect.flip(breaker.protect(counted(calls, Effect.fail(transient))))
      assert.strictEqual(fourth._tag, "Transient") // the call that trips still reports its own error
      const opened = yield* breaker.state
      assert.strictEqual(opened.status, "open")
      assert.strictEqual(opened.retryAtMs, 11_000)
      assert.strictEqual(yield* breaker.trips, 1)
      assert.strictEqual((yield* openedCount).count - openedBefore, 1)

      // Open: fails at once, the effect never runs.
      yield* TestClock.adjust("9999 millis")
      const rejected = yield* Effect.flip(breaker.protect(counted(calls, Effect.succeed("ran"))))
      assert.strictEqual(rejected._tag, "CircuitOpen")
      assert.strictEqual(rejected._tag === "CircuitOpen" && rejected.retryAtMs, 11_000)
      assert.strictEqual(yield* Ref.get(calls), 4)

      // Cool-down over: one probe goes; others are turned away while it is in flight.
      yield* TestClock.adjust("1 millis")
      const gate = yield* Deferred.make<void>()
      const probe = yield* Effect.fork(breaker.protect(counted(calls, Deferred.await(gate))))
      yield* TestClock.adjust("1 millis")
      assert.strictEqual((yield* breaker.state).status, "half-open")
      const meanwhile = yield* Effect.flip(breaker.protect(counted(calls, Effect.void)))
      assert.strictEqual(meanwhile._tag, "CircuitOpen")
      assert.strictEqual(meanwhile._tag === "CircuitOpen" && meanwhile.retryAtMs, 11_001 + 1_000)
      assert.strictEqual(yield* Ref.get(calls), 5)
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(probe)
      const closed = yield* breaker.state
      assert.strictEqual(closed.status, "closed")
      assert.strictEqual(closed.calls, 0) // a fresh window
      yield* breaker.protect(counted(calls, Effect.void))
      assert.strictEqual(yield* Ref.get(calls), 6)
      assert.strictEqual(yield* breaker.trips, 1)
    })
  )

  it.effect("a failed probe re-opens the circuit for another cool-down and counts a trip", () =>
    Effect.gen(function* () {
      const breaker = yield* CircuitBreaker.make(options)
      for (let i = 0; i < 4; i++) yield* Effect.flip(breaker.protect(Effect.fail(transient)))
      assert.strictEqual(yield* breaker.trips, 1)
      yield* TestClock.adjust("10 seconds")
      const probe = yield* Effect.flip(breaker.protect(Effect.fail(transient)))
      assert.strictEqual(probe._tag, "Transient")
      const reopened = yield* breaker.state
      assert.strictEqual(reopened.status, "open")
      assert.strictEqual(reopened.retryAtMs, 20_000)
      assert.strictEqual(yield* breaker.trips, 2)
      yield* TestClock.adjust("9 seconds")
      assert.strictEqual((yield* Effect.flip(breaker.protect(Effect.void)))._tag, "CircuitOpen")
      yield* TestClock.adjust("1 second")
      yield* breaker.protect(Effect.void)
      assert.strictEqual((yield* breaker.state).status, "closed")
    })
  )

  it.effect("only Transient counts: 429s and Invalid never open it, successes dilute failures", () =>
    Effect.gen(function* () {
      const breaker = yield* CircuitBreaker.make(options)
      for (let i = 0; i < 10; i++) {
        yield* Effect.flip(breaker.protect(Effect.fail(new RateLimited({ retryAfterMs: 1000, message: "429" }))))
        yield* Effect.flip(breaker.protect(Effect.fail(new Invalid({ reason: "Status", status: 400, message: "bad" }))))
      }
      assert.strictEqual((yield* breaker.state).status, "closed")
      assert.strictEqual((yield* breaker.state).calls, 0)
      // 4 successes then 3 failures: 3/7 < 0.5.
      for (let i = 0; i < 4; i++) yield* breaker.protect(Effect.void)
      for (let i = 0; i < 3; i++) yield* Effect.flip(breaker.protect(Effect.fail(transient)))
      assert.strictEqual((yield* breaker.state).status, "closed")
      // The window slides over the last 10 calls: 3 more failures make 6 of 10.
      for (let i = 0; i < 3; i++) yield* Effect.flip(breaker.protect(Effect.fail(transient)))
      assert.strictEqual((yield* breaker.state).status, "open")
    })
  )

  it.effect("with several probes, the circuit closes only once all of them succeeded", () =>
    Effect.gen(function* () {
      const breaker = yield* CircuitBreaker.make({ ...options, halfOpenProbes: 2 })
      for (let i = 0; i < 4; i++) yield* Effect.flip(breaker.protect(Effect.fail(transient)))
      yield* TestClock.adjust("10 seconds")
      yield* breaker.protect(Effect.void)
      assert.strictEqual((yield* breaker.state).status, "half-open")
      yield* breaker.protect(Effect.void)
      assert.strictEqual((yield* breaker.state).status, "closed")
    })
  )
})
