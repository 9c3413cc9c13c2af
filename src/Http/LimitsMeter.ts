/**
 * How close the service runs to each limit, live: requests and tokens per minute against the RPM and
 * TPM ceilings admission enforces, upstream calls in flight against the concurrency bound, the circuit
 * breaker, and 429s and retries per minute. The dashboard's limits panel and `/metrics`'
 * `sluice_limit_used_ratio` read it.
 *
 * Why a meter around the `Llm` rather than admission's own buckets: a bucket's level says how much is
 * left for the next second, not how much was used; what the upstream was really sent (a cached answer
 * is not a request, a 429 is) is seen at the Llm port, which the service's stages call. The ceilings
 * come from admission's `state`, so a limit learned from headers shows as soon as it is learned.
 *
 * The use is this process's. With the fleet budget (every process on one database sharing one budget
 * per upstream, `Governor/FleetBudget.ts`), `fleet` is every process's use of each upstream's limits,
 * read from the store every second and measured the same way (`FleetUse.ts`).
 *
 * @since 0.1.0
 */
import { Cause, Clock, Context, Effect, Exit, Layer, Metric, Option } from "effect"
import { Admission, type AdmissionState } from "../Governor/Admission.js"
import { CircuitBreaker, type CircuitState } from "../Governor/CircuitBreaker.js"
import { Llm } from "../Llm/Llm.js"
import { Store } from "../Store/Store.js"
import * as Metrics from "../Telemetry/Metrics.js"
import * as FleetUse from "./FleetUse.js"

/**
 * One limit's use against its ceiling.
 *
 * @since 0.1.0
 */
export interface LimitUse {
  /** Per minute for rates, at this moment for in-flight calls. */
  readonly used: number
  /** Undefined when no ceiling is known (then nothing is limited, or the rate is being discovered). */
  readonly limit: number | undefined
  /** Where the ceiling comes from: "configured", "headers", "discovered", "service" or "unknown". */
  readonly source: string
}

/**
 * @since 0.1.0
 */
export interface LimitsView {
  readonly rpm: LimitUse
  readonly tpm: LimitUse
  /** Upstream calls in flight against the service's concurrency bound. */
  readonly inFlight: LimitUse
  /** Calls queued in admission, and the bucket that last made one wait. */
  readonly waiting: number
  readonly boundBy: "rpm" | "tpm" | undefined
  /** Until when every call waits because of a 429 (epoch ms); undefined when not paused. */
  readonly pausedUntilMs: number | undefined
  readonly breaker: CircuitState | undefined
  /** Over the last minute (or since the service started, when that is shorter). */
  readonly perMinute: { readonly rateLimited: number; readonly retries: number }
  /** Each upstream's use by every process on the database, while the fleet budget is drawn on. */
  readonly fleet: ReadonlyArray<FleetLimits>
  /** Seconds the rates are measured over. */
  readonly windowSeconds: number
}

/**
 * One upstream's shared budget: every process's use of it.
 *
 * @since 0.1.0
 */
export interface FleetLimits {
  /** The upstream's base URL (the budget is per base URL, model and key). */
  readonly baseUrl: string
  readonly rpm: LimitUse
  readonly tpm: LimitUse
  /** Processes drawing on it now. */
  readonly processes: number
  readonly pausedUntilMs: number | undefined
  /** Seconds the rates are measured over. */
  readonly windowSeconds: number
}

/**
 * @since 0.1.0
 * @category tags
 */
export class LimitsMeter extends Context.Tag("sluice/Http/LimitsMeter")<
  LimitsMeter,
  { readonly view: Effect.Effect<LimitsView> }
>() {}

interface Totals {
  readonly atMs: number
  readonly requests: number
  readonly tokens: number
  readonly rateLimited: number
  readonly retries: number
}

/**
 * Requests and tokens are measured over this window: short enough to be live, long enough that the
 * one-second burst admission allows at the start (its bucket) adds under 7% to the rate.
 */
export const RATE_WINDOW_MS = 15_000
/**
 * Calls that start after this long with none (none in flight, none started or ended) begin a new busy
 * spell, and the rates are measured from its start until it is `RATE_WINDOW_MS` old: a run started on a
 * service that sat idle would otherwise read its first seconds against 15 s, mostly of idleness (a run at
 * its limit read 20% after 3 s, 80% only after 12 s).
 */
export const IDLE_MS = 5_000
/** The shortest span a rate is measured over, so that the first call does not read as a burst. */
const MIN_RATE_MS = 1_000
/** 429s and retries are counted over a minute, as the panel says. */
const COUNT_WINDOW_MS = 60_000
const SAMPLE_MS = 1_000

/** The first sample at or before `atMs`, else the oldest. */
const sampleAt = (samples: ReadonlyArray<Totals>, atMs: number): Totals => {
  let found = samples[0]!
  for (const s of samples) {
    if (s.atMs <= atMs) found = s
    else break
  }
  return found
}

const perMinute = (now: Totals, then: Totals, field: "requests" | "tokens" | "rateLimited" | "retries") => {
  const ms = now.atMs - then.atMs
  return ms <= 0 ? 0 : ((now[field] - then[field]) * 60_000) / ms
}

const admissionLimit = (state: AdmissionState | undefined, which: "rpm" | "tpm") => {
  if (state === undefined) return { limit: undefined, source: "unknown" }
  if (which === "tpm") return { limit: state.tpm, source: state.tpmSource }
  return state.rpmSource === "discovered"
    ? { limit: state.discoveredRpm, source: "discovered" }
    : { limit: state.rpm, source: state.rpmSource }
}

/**
 * Meters the `Llm` in context and provides it again, with the meter.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: { readonly concurrency: number }): Layer.Layer<Llm | LimitsMeter, never, Llm | Store> =>
  Layer.scopedContext(
    Effect.gen(function* () {
      const inner = yield* Llm
      const store = yield* Store
      const admission = yield* Effect.serviceOption(Admission)
      const breaker = yield* Effect.serviceOption(CircuitBreaker)
      // Plain counters: changed in synchronous steps on the one JS thread, read by the sampler.
      let requests = 0
      let tokens = 0
      let inFlight = 0
      // When the current busy spell began, and when a call last started or ended (epoch ms).
      let spellStartMs: number | undefined
      let lastActivityMs = Number.NEGATIVE_INFINITY

      const llm = Llm.of({
        complete: (request) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => {
            if (inFlight === 0 && now - lastActivityMs >= IDLE_MS) spellStartMs = now
            lastActivityMs = now
            inFlight++
            return inner.complete(request)
          }).pipe(
            Effect.onExit((exit) =>
              Effect.map(Clock.currentTimeMillis, (now) => {
                lastActivityMs = now
                inFlight--
                if (Exit.isSuccess(exit)) {
                  if (exit.value.cached) return
                  requests++
                  tokens += exit.value.usage.totalTokens
                  return
                }
                // A call that failed before it left (admission refused it, the circuit is open, it was
                // interrupted while waiting) is no request; an answer that was an error is.
                const failure = Option.getOrUndefined(Cause.failureOption(exit.cause))
                if (failure !== undefined && (failure._tag === "RateLimited" || failure._tag === "Transient")) {
                  requests++
                }
              })
            )
          )
      })

      const totals = Effect.gen(function* () {
        const [rateLimited, retries] = yield* Effect.all([
          Metric.value(Metrics.rateLimitedTotal),
          Metric.value(Metrics.retriesTotal)
        ])
        return {
          atMs: yield* Clock.currentTimeMillis,
          requests,
          tokens,
          rateLimited: rateLimited.count,
          retries: retries.count
        } satisfies Totals
      })

      let samples: Array<Totals> = [yield* totals]
      // The fleet's rows, read every second while the service runs: a store that does not answer leaves
      // the last reading in place (the page says the store is down on its own).
      let fleet: Array<ReadonlyMap<string, FleetUse.FleetTotals>> = []
      const FLEET_SAMPLES = RATE_WINDOW_MS / SAMPLE_MS + 2
      const sampleFleet = Effect.flatMap(Effect.option(Effect.timeout(store.fleetRead, "2 seconds")), (rows) =>
        Effect.map(Clock.currentTimeMillis, (now) => {
          if (rows._tag === "None") return
          fleet.push(FleetUse.advance(fleet.at(-1) ?? new Map(), rows.value, now, IDLE_MS))
          if (fleet.length > FLEET_SAMPLES) fleet = fleet.slice(-FLEET_SAMPLES)
        })
      )
      yield* sampleFleet
      const sample = Effect.flatMap(totals, (t) =>
        Effect.sync(() => {
          samples.push(t)
          if (samples.length > COUNT_WINDOW_MS / SAMPLE_MS + 2)
            samples = samples.slice(-(COUNT_WINDOW_MS / SAMPLE_MS + 1))
        })
      )

      const fleetView = (): ReadonlyArray<FleetLimits> => {
        const latest = fleet.at(-1)
        if (latest === undefined) return []
        const out: Array<FleetLimits> = []
        for (const t of latest.values()) {
          const use = FleetUse.perMinute(fleet, t, RATE_WINDOW_MS, MIN_RATE_MS)
          if (t.holdersAlive === 0 && use.requests === 0 && use.tokens === 0) continue
          out.push({
            baseUrl: t.upstream.split("|")[0] ?? t.upstream,
            rpm: { used: use.requests, limit: t.rpm, source: "fleet" },
            tpm: { used: use.tokens, limit: t.tpm, source: "fleet" },
            processes: t.holdersAlive,
            pausedUntilMs: t.pausedUntilMs > t.atMs ? t.pausedUntilMs : undefined,
            windowSeconds: Math.round(use.windowMs / 1000)
          })
        }
        return out
      }
      yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Effect.sleep(SAMPLE_MS), sample)))
      // Its own loop, so that a slow database never holds back this process's own readings.
      yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Effect.sleep(SAMPLE_MS), sampleFleet)))

      const view = Effect.gen(function* () {
        const now = yield* totals
        const state = Option.isSome(admission) ? yield* admission.value.state : undefined
        const circuit = Option.isSome(breaker) ? yield* breaker.value.state : undefined
        // The last RATE_WINDOW_MS, or the current busy spell when it is younger: nothing ended in the
        // IDLE_MS before the spell began, so the counts of the sample just before its start are its own.
        const spell = spellStartMs ?? Number.NEGATIVE_INFINITY
        const windowStartMs = Math.max(now.atMs - RATE_WINDOW_MS, spell)
        const sampled = sampleAt(samples, windowStartMs)
        const fromMs = Math.min(
          windowStartMs === spell ? Math.max(sampled.atMs, spell) : sampled.atMs,
          now.atMs - MIN_RATE_MS
        )
        const recent = { ...sampled, atMs: fromMs }
        const minute = sampleAt(samples, now.atMs - COUNT_WINDOW_MS)
        const rpm = admissionLimit(state, "rpm")
        const tpm = admissionLimit(state, "tpm")
        return {
          rpm: { used: perMinute(now, recent, "requests"), ...rpm },
          tpm: { used: perMinute(now, recent, "tokens"), ...tpm },
          inFlight: { used: inFlight, limit: options.concurrency, source: "service" },
          waiting: state?.waiting ?? 0,
          boundBy: state?.boundBy,
          pausedUntilMs: state !== undefined && state.pausedUntilMs > now.atMs ? state.pausedUntilMs : undefined,
          breaker: circuit,
          perMinute: {
            // Counts in the last minute, not scaled: a young service shows what really happened.
            rateLimited: now.rateLimited - minute.rateLimited,
            retries: now.retries - minute.retries
          },
          fleet: fleetView(),
          windowSeconds: Math.round((now.atMs - recent.atMs) / 1000)
        } satisfies LimitsView
      })

      return Context.make(Llm, llm).pipe(Context.add(LimitsMeter, LimitsMeter.of({ view })))
    })
  )

/**
 * A limit's use as a share of its ceiling; undefined when no ceiling is known.
 *
 * @since 0.1.0
 */
export const ratio = (use: LimitUse): number | undefined =>
  use.limit === undefined || use.limit <= 0 ? undefined : use.used / use.limit
