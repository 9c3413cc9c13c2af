/**
 * The reconnecting store (`Reconnect.ts`) on the test clock: a database out of reach is retried with
 * backoff until it is back, said once when it goes and once when it returns; a call left unanswered
 * counts as out of reach; a wrong statement is not retried; a shutdown gives up after its deadline.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Logger, TestClock } from "effect"
import * as MemoryStore from "../../src/Store/MemoryStore.js"
import * as Reconnect from "../../src/Store/Reconnect.js"
import { StoreError, type Store } from "../../src/Store/Store.js"

const lost = new StoreError({ reason: "Unavailable", location: "postgres://db/sluice", message: "ECONNREFUSED" })

/** A memory store whose `counts` fails as out of reach while `down` says so, or never answers while `hang`. */
const flaky = Effect.gen(function* () {
  const inner = yield* MemoryStore.make
  const state = { down: false, hang: false, calls: 0 }
  const store: Store["Type"] = {
    ...inner,
    location: "postgres://db/sluice",
    counts: (run) =>
      Effect.suspend(() => {
        state.calls++
        if (state.hang) return Effect.never
        return state.down ? Effect.fail(lost) : inner.counts(run)
      })
  }
  return { store, state }
})

/** Warnings logged while `effect` runs. */
const withWarnings = <A, E, R>(effect: (said: Array<string>) => Effect.Effect<A, E, R>) => {
  const said: Array<string> = []
  const logger = Logger.make(({ message }) => {
    said.push((Array.isArray(message) ? message : [message]).join(" "))
  })
  return effect(said).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
}

describe("Reconnect", () => {
  it.effect("waits out a database that is down, with backoff, saying once that it went and once that it is back", () =>
    withWarnings((said) =>
      Effect.gen(function* () {
        const { state, store } = yield* flaky
        const { link, store: wrapped } = yield* Reconnect.make(store)
        yield* wrapped.openRun("r", {})
        state.down = true
        const call = yield* Effect.fork(wrapped.counts("r"))
        yield* TestClock.adjust("100 millis")
        expect(yield* link.lost).toBe(true)
        // 30 s down: retried, but with growing pauses (at most 5 s apart), not in a tight loop.
        yield* TestClock.adjust("30 seconds")
        expect(state.calls).toBeGreaterThan(5)
        expect(state.calls).toBeLessThan(30)
        state.down = false
        yield* TestClock.adjust("6 seconds")
        const counts = yield* Fiber.join(call)
        expect(counts.pending).toBe(0)
        expect(yield* link.lost).toBe(false)
        expect(said.filter((s) => s.includes("lost the database postgres://db/sluice"))).toHaveLength(1)
        expect(said.filter((s) => s.includes("is back after"))).toHaveLength(1)
        expect(said.find((s) => s.includes("is back after"))).toMatch(/is back after 3\d s; claiming again/)
      })
    )
  )

  it.effect("counts a call left unanswered past the timeout as the database lost, and tries again", () =>
    withWarnings((said) =>
      Effect.gen(function* () {
        const { state, store } = yield* flaky
        const { store: wrapped } = yield* Reconnect.make(store, { timeout: "3 seconds" })
        yield* wrapped.openRun("r", {})
        state.hang = true
        const call = yield* Effect.fork(wrapped.counts("r"))
        yield* TestClock.adjust("3 seconds")
        expect(said.filter((s) => s.includes("no answer from postgres://db/sluice within 3.0 s"))).toHaveLength(1)
        state.hang = false
        yield* TestClock.adjust("2 seconds")
        expect((yield* Fiber.join(call)).pending).toBe(0)
        expect(said.filter((s) => s.includes("is back after"))).toHaveLength(1)
      })
    )
  )

  it.effect("does not retry a statement the database refused (not a lost connection)", () =>
    Effect.gen(function* () {
      const inner = yield* MemoryStore.make
      let calls = 0
      const wrong = new StoreError({ reason: "Write", location: "postgres://db/sluice", message: "syntax error" })
      const { store } = yield* Reconnect.make({
        ...inner,
        counts: () => Effect.suspend(() => (calls++, Effect.fail(wrong)))
      })
      const error = yield* Effect.flip(store.counts("r"))
      expect(error).toBe(wrong)
      expect(calls).toBe(1)
    })
  )

  it.effect("gives up on a lost database once a shutdown's deadline has passed", () =>
    Effect.gen(function* () {
      const { state, store } = yield* flaky
      const { link, store: wrapped } = yield* Reconnect.make(store)
      yield* wrapped.openRun("r", {})
      state.down = true
      const call = yield* Effect.fork(wrapped.counts("r"))
      yield* TestClock.adjust("1 second")
      yield* link.giveUpWithin("10 seconds")
      yield* TestClock.adjust("20 seconds")
      const error = yield* Effect.flip(Fiber.join(call))
      expect(error.reason).toBe("Unavailable")
    })
  )
})
