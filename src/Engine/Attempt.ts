/**
 * Runs one stage call for one item under the error policy: a per-attempt timeout, retries with
 * exponential backoff and jitter, pauses on 429 that spend no attempt, holds and stops.
 *
 * @since 0.1.0
 */
import { Clock, Duration, Effect, Option, Random, Ref, Schedule } from "effect"
import { Transient, UpstreamUnusable, type CircuitOpen, type OverBudget, type StageError } from "../Domain/Errors.js"
import { decide } from "./Policy.js"

/**
 * @since 0.1.0
 */
export interface AttemptOptions {
  /** Attempts per stage call, the first included. */
  readonly maxAttempts: number
  /** A call that takes longer fails as `Transient` (reason "Timeout") and may be retried. */
  readonly attemptTimeout: Duration.DurationInput
  /** The first retry's backoff; each further one doubles, with jitter, up to `maxBackoff`. */
  readonly baseBackoff: Duration.DurationInput
  readonly maxBackoff: Duration.DurationInput
  /** Consecutive 429 pauses one call may sit through before it fails (they spend no attempt). */
  readonly maxPauses: number
}

/** @since 0.1.0 */
export const defaultAttemptOptions: AttemptOptions = {
  maxAttempts: 5,
  attemptTimeout: "60 seconds",
  baseBackoff: "200 millis",
  maxBackoff: "30 seconds",
  maxPauses: 1000
}

/**
 * The retry policy for transient failures: exponential from `baseBackoff`, jittered so that items
 * failing together do not retry together, capped at `maxBackoff`, never sooner than the upstream's
 * own `retry-after`, and only while the policy says `Retry`.
 *
 * @since 0.1.0
 */
export const transientRetry = (options: AttemptOptions) =>
  Schedule.exponential(options.baseBackoff, 2).pipe(
    Schedule.jittered,
    // After the jitter, so the cap holds exactly.
    Schedule.union(Schedule.spaced(options.maxBackoff)),
    Schedule.intersect(Schedule.recurs(Math.max(0, options.maxAttempts - 1))),
    Schedule.intersect(Schedule.identity<StageError>()),
    Schedule.modifyDelay(([, error], delay) => {
      const action = decide(error)
      return action._tag === "Retry" ? Duration.max(delay, Duration.millis(action.ms)) : delay
    }),
    Schedule.whileInput((error: StageError) => decide(error)._tag === "Retry")
  )

/**
 * The shared 429 gate of one worker: a pause asked by any item makes every item wait.
 *
 * @since 0.1.0
 */
export interface PauseGate {
  readonly pausedUntil: Ref.Ref<number>
}

/** @since 0.1.0 */
export const makePauseGate = Effect.map(Ref.make(0), (pausedUntil): PauseGate => ({ pausedUntil }))

const awaitGate = (gate: PauseGate) =>
  Effect.gen(function* () {
    const until = yield* Ref.get(gate.pausedUntil)
    const now = yield* Clock.currentTimeMillis
    if (until > now) {
      // A little jitter, so the paused items do not all arrive at the upstream in the same millisecond.
      const jitter = yield* Random.nextIntBetween(0, Math.max(1, Math.min(250, Math.ceil((until - now) / 10))))
      yield* Effect.sleep(Duration.millis(until - now + jitter))
      return until - now + jitter
    }
    return 0
  })

/**
 * What one call came to.
 *
 * @since 0.1.0
 */
export type Attempted<A> =
  | { readonly _tag: "Ok"; readonly value: A; readonly attempts: number }
  | { readonly _tag: "Failed"; readonly error: StageError; readonly attempts: number }
  | { readonly _tag: "Held"; readonly error: CircuitOpen | OverBudget | UpstreamUnusable; readonly attempts: number }

/**
 * Counters an attempt loop adds to, for the run's metrics.
 *
 * @since 0.1.0
 */
export interface AttemptStats {
  retries: number
  rateLimitHits: number
  pausedMs: number
}

/** @since 0.1.0 */
export const emptyStats = (): AttemptStats => ({ retries: 0, rateLimitHits: 0, pausedMs: 0 })

/**
 * Runs `call` until it succeeds or the policy ends it. Never fails: every ending is a value.
 *
 * @since 0.1.0
 */
export const attempt = <A>(
  call: Effect.Effect<A, StageError>,
  options: AttemptOptions,
  gate: PauseGate,
  stats: AttemptStats,
  timeout = true
): Effect.Effect<Attempted<A>> => {
  const timed = !timeout
    ? call
    : call.pipe(
        Effect.timeoutFail({
          duration: options.attemptTimeout,
          onTimeout: () =>
            new Transient({ reason: "Timeout", message: `no answer within ${Duration.format(options.attemptTimeout)}` })
        })
      )
  // The first try is the hot path: no schedule driver is built unless it fails.
  return Effect.flatMap(awaitGate(gate), (waited) => {
    stats.pausedMs += waited
    return Effect.matchEffect(timed, {
      onSuccess: (value): Effect.Effect<Attempted<A>> => Effect.succeed({ _tag: "Ok", value, attempts: 1 }),
      onFailure: (error) => retryLoop(timed, error, options, gate, stats)
    })
  })
}

const unreachable = (error: Transient) =>
  new UpstreamUnusable({
    reason: "Unreachable",
    message: `the upstream is unreachable and has never answered: ${error.message}`
  })

const retryLoop = <A>(
  timed: Effect.Effect<A, StageError>,
  first: StageError,
  options: AttemptOptions,
  gate: PauseGate,
  stats: AttemptStats
): Effect.Effect<Attempted<A>> =>
  Effect.gen(function* () {
    const driver = yield* Schedule.driver(transientRetry(options))
    let attempts = 1
    let pauses = 0
    let error = first
    while (true) {
      const action = decide(error)
      switch (action._tag) {
        case "Pause": {
          // The upstream refused before doing any work: this try does not count as an attempt.
          attempts--
          stats.rateLimitHits++
          if (++pauses > options.maxPauses) return { _tag: "Failed", error, attempts } as const
          const now = yield* Clock.currentTimeMillis
          yield* Ref.update(gate.pausedUntil, (until) => Math.max(until, now + action.ms))
          break
        }
        case "Retry": {
          const next = yield* Effect.option(driver.next(error))
          if (Option.isNone(next)) {
            // Failing the item would blame it for an upstream that was never there: the run stops
            // instead, the item pending, so the same command resumes once the upstream is up.
            if (error._tag === "Transient" && error.neverAnswered === true) {
              return { _tag: "Held", error: unreachable(error), attempts: attempts - 1 } as const
            }
            return { _tag: "Failed", error, attempts } as const
          }
          stats.retries++
          break
        }
        case "Hold":
        case "Stop":
          return {
            _tag: "Held",
            error: error as CircuitOpen | OverBudget | UpstreamUnusable,
            attempts: attempts - 1
          } as const
        case "Fail":
          return { _tag: "Failed", error, attempts } as const
      }
      stats.pausedMs += yield* awaitGate(gate)
      attempts++
      const result = yield* Effect.either(timed)
      if (result._tag === "Right") return { _tag: "Ok", value: result.right, attempts } as const
      error = result.left
    }
  })
