/**
 * Polling in real time, for tests that watch real processes and servers (TestClock cannot drive them).
 */
import { Effect } from "effect"

/** Reads `get` every 50 ms until `ok` holds for what it returned, and returns that; fails the test after `ms`. */
export const waitFor = <A, E = never, R = never>(
  get: Effect.Effect<A, E, R>,
  ok: (a: A) => boolean,
  ms: number,
  what: string
) =>
  Effect.gen(function* () {
    const deadline = Date.now() + ms
    while (true) {
      const a = yield* get
      if (ok(a)) return a
      if (Date.now() > deadline) return yield* Effect.die(new Error(`timed out after ${ms} ms waiting for ${what}`))
      yield* Effect.sleep("50 millis")
    }
  })

/** Polls `check` every 50 ms until it holds; fails the test after `ms`. */
export const waitUntil = <E = never, R = never>(
  check: Effect.Effect<boolean, E, R> | (() => boolean),
  ms: number,
  what: string
) => Effect.asVoid(waitFor(typeof check === "function" ? Effect.sync(check) : check, (b) => b, ms, what))
