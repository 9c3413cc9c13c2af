/**
 * A circuit breaker: closed → open → half-open → closed, so a broken upstream is left alone for a
 * while instead of being hammered by every item, each spending attempts on it.
 *
 * - closed: calls pass; their outcomes fill a COUNT-based sliding window of the last `windowSize`
 *   calls. Once it holds at least `minimumCalls` and the share of failures reaches `failureRatio`,
 *   the circuit opens. Count-based because the question is "is the upstream broken", not "how busy
 *   is it": a time window would trip on a handful of calls when traffic is thin;
 * - open: calls fail at once with `CircuitOpen { retryAtMs }` (the engine hands the item back to
 *   pending and stops claiming until then) for `coolDownMs`;
 * - half-open: up to `halfOpenProbes` calls go through as probes. The first failing probe re-opens
 *   the circuit for another cool-down; once that many probes have succeeded it closes, with an empty
 *   window. Other calls meanwhile get `CircuitOpen` with a short `retryAtMs`.
 *
 * Only `Transient` errors count as failures: a 429 is the upstream working as designed (admission
 * handles it) and `Invalid` is our input's fault. Successes count as successes; other errors,
 * defects and interruptions count as nothing. Time comes from `Clock`, so `TestClock` drives it.
 *
 * @since 0.1.0
 */
import { Cause, Clock, Context, Effect, Exit, Layer, Metric, Ref } from "effect"
import { CircuitOpen } from "../Domain/Errors.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface CircuitBreakerOptions {
  /** How many of the most recent calls the failure ratio is taken over. Default 20. */
  readonly windowSize?: number | undefined
  /** No tripping before the window holds this many calls. Default 10. */
  readonly minimumCalls?: number | undefined
  /** The share of failures (0..1] in the window that opens the circuit. Default 0.5. */
  readonly failureRatio?: number | undefined
  /** How long the circuit stays open before a probe may go, in milliseconds. Default 30000. */
  readonly coolDownMs?: number | undefined
  /** Calls let through while half-open; that many successes close the circuit. Default 1. */
  readonly halfOpenProbes?: number | undefined
  /**
   * Open only once the upstream has answered at least once. Default true: the breaker is there to
   * ride out an outage of an upstream that worked; one that never answered (a wrong URL, a server
   * that is not up) is a setting to fix, and holding items for it would only hide the error, so its
   * calls fail after their attempts with the cause instead.
   */
  readonly tripOnlyAfterSuccess?: boolean | undefined
  /** Which errors count as failures. Default: `Transient` only. */
  readonly isFailure?: ((error: unknown) => boolean) | undefined
}

/** @since 0.1.0 */
export type CircuitStatus = "closed" | "open" | "half-open"

/**
 * @since 0.1.0
 * @category models
 */
export interface CircuitState {
  readonly status: CircuitStatus
  /** While open: when the next probe may go (Clock milliseconds). */
  readonly retryAtMs: number | undefined
  /** While closed: calls and failures in the window. */
  readonly calls: number
  readonly failures: number
  /** Times the circuit opened (from closed or from half-open). */
  readonly trips: number
}

/**
 * @since 0.1.0
 * @category tags
 */
export class CircuitBreaker extends Context.Tag("sluice/Engine/CircuitBreaker")<
  CircuitBreaker,
  {
    /** Runs `effect` when the circuit lets it, and records how it went. */
    readonly protect: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | CircuitOpen, R>
    readonly state: Effect.Effect<CircuitState>
    /** Times the circuit opened. */
    readonly trips: Effect.Effect<number>
  }
>() {}

type Circuit =
  | { readonly _tag: "Closed"; readonly window: ReadonlyArray<boolean> }
  | { readonly _tag: "Open"; readonly until: number }
  | { readonly _tag: "HalfOpen"; readonly inFlight: number; readonly succeeded: number }

interface Internal {
  readonly circuit: Circuit
  readonly trips: number
  /** Whether the upstream has answered at least once since this breaker was made. */
  readonly answered: boolean
}

type Admit =
  { readonly _tag: "Pass"; readonly probe: boolean } | { readonly _tag: "Reject"; readonly retryAtMs: number }

type Outcome = "success" | "failure" | "neutral"

interface Transition {
  readonly to: CircuitStatus
  readonly message: string
}

const closed: Circuit = { _tag: "Closed", window: [] }

const statusOf = (c: Circuit): CircuitStatus =>
  c._tag === "Closed" ? "closed" : c._tag === "Open" ? "open" : "half-open"

const isTransient = (error: unknown): boolean =>
  typeof error === "object" && error !== null && "_tag" in error && error._tag === "Transient"

/**
 * Circuit state changes, tagged `to` with the state entered.
 *
 * @since 0.1.0
 * @category metrics
 */
export const transitionsTotal = Metric.counter("sluice_circuit_transitions_total", {
  description: "Circuit breaker state changes, by the state entered",
  incremental: true
})

/**
 * The circuit's state: 0 closed, 1 half-open, 2 open.
 *
 * @since 0.1.0
 * @category metrics
 */
export const stateGauge = Metric.gauge("sluice_circuit_state", {
  description: "Circuit breaker state: 0 closed, 1 half-open, 2 open"
})
const GAUGE: Record<CircuitStatus, number> = { closed: 0, "half-open": 1, open: 2 }

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: CircuitBreakerOptions = {}): Effect.Effect<CircuitBreaker["Type"]> =>
  Effect.gen(function* () {
    const windowSize = Math.max(1, Math.floor(options.windowSize ?? 20))
    const minimumCalls = Math.min(windowSize, Math.max(1, Math.floor(options.minimumCalls ?? 10)))
    const failureRatio = Math.min(1, Math.max(Number.EPSILON, options.failureRatio ?? 0.5))
    const coolDownMs = Math.max(0, options.coolDownMs ?? 30_000)
    const probes = Math.max(1, Math.floor(options.halfOpenProbes ?? 1))
    const isFailure = options.isFailure ?? isTransient
    // A rejected call while probes are out comes back soon: the probes decide within one call.
    const probeWaitMs = Math.min(coolDownMs, 1_000)

    const tripOnlyAfterSuccess = options.tripOnlyAfterSuccess ?? true
    const ref = yield* Ref.make<Internal>({ circuit: closed, trips: 0, answered: false })
    yield* Metric.set(stateGauge, 0)

    const open = (s: Internal, now: number, why: string): [Transition, Internal] => [
      { to: "open", message: `circuit opened: ${why}; next probe in ${coolDownMs} ms` },
      { ...s, circuit: { _tag: "Open", until: now + coolDownMs }, trips: s.trips + 1 }
    ]

    const admit = (s: Internal, now: number): [readonly [Admit, Transition | undefined], Internal] => {
      const c = s.circuit
      switch (c._tag) {
        case "Closed":
          return [[{ _tag: "Pass", probe: false }, undefined], s]
        case "Open":
          if (now < c.until) return [[{ _tag: "Reject", retryAtMs: c.until }, undefined], s]
          return [
            [
              { _tag: "Pass", probe: true },
              { to: "half-open", message: `circuit half-open: letting ${probes} probe call(s) through` }
            ],
            { ...s, circuit: { _tag: "HalfOpen", inFlight: 1, succeeded: 0 } }
          ]
        case "HalfOpen":
          if (c.inFlight + c.succeeded >= probes)
            return [[{ _tag: "Reject", retryAtMs: now + probeWaitMs }, undefined], s]
          return [[{ _tag: "Pass", probe: true }, undefined], { ...s, circuit: { ...c, inFlight: c.inFlight + 1 } }]
      }
    }

    const record = (s: Internal, probe: boolean, outcome: Outcome, now: number): [Transition | undefined, Internal] => {
      const c = s.circuit
      if (probe) {
        // A probe whose circuit has moved on (another probe failed) no longer decides anything.
        if (c._tag !== "HalfOpen") return [undefined, s]
        const inFlight = c.inFlight - 1
        if (outcome === "failure") return open(s, now, "a probe call failed")
        if (outcome === "neutral") return [undefined, { ...s, circuit: { ...c, inFlight } }]
        const succeeded = c.succeeded + 1
        if (succeeded >= probes) {
          return [
            { to: "closed", message: `circuit closed: ${succeeded} probe call(s) succeeded` },
            { ...s, answered: true, circuit: closed }
          ]
        }
        return [undefined, { ...s, circuit: { ...c, inFlight, succeeded } }]
      }
      // A call that started while closed and ends after the circuit opened counts for nothing.
      if (c._tag !== "Closed" || outcome === "neutral") return [undefined, s]
      const answered = s.answered || outcome === "success"
      const window = [...c.window, outcome === "failure"].slice(-windowSize)
      const failures = window.filter((f) => f).length
      if (
        (answered || !tripOnlyAfterSuccess) &&
        window.length >= minimumCalls &&
        failures / window.length >= failureRatio
      ) {
        return open({ ...s, answered }, now, `${failures} of the last ${window.length} calls failed`)
      }
      return [undefined, { ...s, answered, circuit: { _tag: "Closed", window } }]
    }

    const report = (t: Transition | undefined): Effect.Effect<void> => {
      if (t === undefined) return Effect.void
      const log = t.to === "open" ? Effect.logWarning(t.message) : Effect.logInfo(t.message)
      return Effect.all(
        [
          log.pipe(Effect.annotateLogs("circuit", t.to)),
          Metric.increment(Metric.tagged(transitionsTotal, "to", t.to)),
          Metric.set(stateGauge, GAUGE[t.to])
        ],
        { discard: true }
      )
    }

    const outcomeOf = <A, E>(exit: Exit.Exit<A, E>): Outcome => {
      if (Exit.isSuccess(exit)) return "success"
      for (const error of Cause.failures(exit.cause)) if (isFailure(error)) return "failure"
      return "neutral"
    }

    const protect = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | CircuitOpen, R> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function* () {
          const now = yield* Clock.currentTimeMillis
          const [decision, transition] = yield* Ref.modify(ref, (s) => admit(s, now))
          yield* report(transition)
          if (decision._tag === "Reject") {
            return yield* new CircuitOpen({
              retryAtMs: decision.retryAtMs,
              message: `circuit open: the upstream failed too often; next try in ${Math.max(0, decision.retryAtMs - now)} ms`
            })
          }
          const exit = yield* Effect.exit(restore(effect))
          const end = yield* Clock.currentTimeMillis
          yield* report(yield* Ref.modify(ref, (s) => record(s, decision.probe, outcomeOf(exit), end)))
          return yield* exit
        })
      )

    const state = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const s = yield* Ref.get(ref)
      const c = s.circuit
      return {
        // An open circuit whose cool-down is over is half-open in all but name: the next call probes.
        status: c._tag === "Open" && now >= c.until ? "half-open" : statusOf(c),
        retryAtMs: c._tag === "Open" ? c.until : undefined,
        calls: c._tag === "Closed" ? c.window.length : 0,
        failures: c._tag === "Closed" ? c.window.filter((f) => f).length : 0,
        trips: s.trips
      } satisfies CircuitState
    })

    return CircuitBreaker.of({ protect, state, trips: Effect.map(Ref.get(ref), (s) => s.trips) })
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: CircuitBreakerOptions = {}): Layer.Layer<CircuitBreaker> =>
  Layer.effect(CircuitBreaker, make(options))
