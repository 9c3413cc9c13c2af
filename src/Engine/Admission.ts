/**
 * Admission: LLM-aware rate limiting, so the upstream's whole budget is used and not one 429 earned.
 *
 * Why not Effect's `RateLimiter`: it refills at most about one unit per millisecond (too coarse for a
 * tokens-per-minute limit of millions), `withCost(n)` with `n` above its limit hangs forever, and a
 * costly call starves while cheap calls behind it keep taking whatever refills. Here instead:
 *
 * - continuous buckets (`Bucket.ts`): requests, tokens, and input/output tokens where the upstream
 *   limits them apart (Anthropic); each holds a short window of its per-minute limit (250 ms by
 *   default, at least one request), refilled from `Clock` with fractional precision: upstreams enforce
 *   a minute limit over short windows, so a minute's worth must never burst. A 429 our own accounting
 *   did not predict halves the window (down to 50 ms): the upstream enforces over a shorter one;
 * - strict FIFO: a costly waiter at the head blocks cheaper ones behind it, so it cannot starve;
 * - a cost above a full bucket (one second) waits for a full bucket and leaves a debt; a cost above
 *   the whole per-minute limit can never pass and fails at once with `Invalid` (reason "TooLarge");
 * - a reservation is an estimate; `settle` charges usage above it at once, but gives back the unused
 *   part only once the upstream is shown to do so (`HeaderBelief.ts`): OpenAI keeps the `max_tokens`
 *   it charged at admission, Anthropic adjusts output tokens to actual use;
 * - rate headers resynchronise the levels (and teach the limits when none are configured), but only
 *   as far as `HeaderBelief.ts` finds them consistent with our own ledger and the 429s we saw;
 * - `pause` (a 429) makes every waiter and every new call wait until `retry-after`;
 * - with no limit known at all, the request rate is discovered: grow fast until a 429, halve on it,
 *   return at once to most of the rate the 429 came at, then probe gently upward.
 *
 * Thousands of waiters do not poll. They sit in one FIFO of `Deferred`s; one pump fiber serves the
 * head, computes exactly how long until the new head fits, and sleeps that long (or until something
 * that could make it fit sooner happens: a refund, a resync, a cancelled head). A call that finds no
 * queue and enough budget is admitted on the spot without touching the pump.
 *
 * The state is one closure-held record changed only inside synchronous steps (`Effect.clockWith`
 * callbacks), which the single JS thread runs atomically, like `Ref.modify` without copying a queue of
 * thousands on every arrival.
 *
 * @since 0.1.0
 */
import { Context, Deferred, Duration, Effect, Exit, FiberId, Layer, Queue } from "effect"
import type { Scope } from "effect"
import { Invalid, type RateLimitSnapshot } from "../Domain/Errors.js"
import * as Bucket from "./Bucket.js"
import * as HeaderBelief from "./HeaderBelief.js"

/**
 * What one call costs. `requests` defaults to 1 and `tokens` to 0.
 *
 * @since 0.1.0
 */
export interface Cost {
  readonly requests?: number | undefined
  /** Prompt plus completion allowance: what a combined tokens-per-minute limit counts. */
  readonly tokens?: number | undefined
  /** The prompt alone, for an upstream with a separate input-token limit; default `tokens`. */
  readonly inputTokens?: number | undefined
  /** The completion allowance alone, for a separate output-token limit; default 0. */
  readonly outputTokens?: number | undefined
}

/**
 * What a call used, once answered: a total, or the upstream's `usage`.
 *
 * @since 0.2.0
 */
export type Used = number | { readonly promptTokens: number; readonly completionTokens: number }

/**
 * The bucket that made a call wait: the request limit or the token limit.
 *
 * @since 0.1.0
 */
export type Bound = "rpm" | "tpm"

/**
 * An admitted cost. Settle it once (`settle` on success, `refund` on failure); later calls are no-ops.
 *
 * @since 0.1.0
 */
export interface Reservation {
  readonly requests: number
  readonly tokens: number
  readonly inputTokens: number
  readonly outputTokens: number
  /** When it was admitted (Clock milliseconds). */
  readonly admittedAtMs: number
  /** How long it waited in the queue, pauses included. */
  readonly waitedMs: number
  /** The bucket it last waited for, if any. */
  readonly boundBy: Bound | undefined
}

/**
 * A snapshot for progress and ETA ("bound by TPM").
 *
 * @since 0.1.0
 */
export interface AdmissionState {
  /** The request limit in force, configured or learned from headers; undefined while discovering or unknown. */
  readonly rpm: number | undefined
  /** The token limit in force; undefined when unknown (tokens are then not limited). */
  readonly tpm: number | undefined
  readonly rpmSource: "configured" | "headers" | "discovered" | "unknown"
  readonly tpmSource: "configured" | "headers" | "unknown"
  /** The request rate currently used while discovering, per minute. */
  readonly discoveredRpm: number | undefined
  readonly requestLevel: number | undefined
  readonly requestCapacity: number | undefined
  readonly tokenLevel: number | undefined
  readonly tokenCapacity: number | undefined
  /** Calls waiting in the queue. */
  readonly waiting: number
  /** Until when everyone waits because of a 429 (Clock milliseconds; 0 when never paused). */
  readonly pausedUntilMs: number
  /** Milliseconds all admitted calls spent waiting, summed. */
  readonly totalWaitMs: number
  /** The bucket that most recently made a call wait. */
  readonly boundBy: Bound | undefined
  /** 429s reported through `pause`. */
  readonly rateLimitHits: number
  /** The span of each limit a bucket holds now (shrinks on a 429 our accounting did not predict). */
  readonly windowMs: number
  /** Whether the upstream is believed to give back unused token allowance (learned; false until shown). */
  readonly refunds: boolean
  /** Separate input/output token limits, when the upstream reports them. */
  readonly inputTpm: number | undefined
  readonly outputTpm: number | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface AdmissionOptions {
  /** Requests per minute; 0 or undefined means unknown (learned from headers, else discovered). */
  readonly rpm?: number | undefined
  /** Tokens per minute; 0 or undefined means unknown (learned from headers, else not limited). */
  readonly tpm?: number | undefined
  /** Discover the request rate when no limit is known. Default true. */
  readonly discover?: boolean | undefined
  /** The rate discovery starts from, per minute. Default 60. */
  readonly discoveryStartRpm?: number | undefined
  /**
   * Start with full buckets. Default false: they start 15% of a second short (at least one request),
   * because the first calls reach the upstream later than they are admitted (see `makeBucket`).
   */
  readonly startFull?: boolean | undefined
  /** The span of each per-minute limit a bucket holds, in ms. Default 250 (see `DEFAULT_WINDOW_MS`). */
  readonly windowMs?: number | undefined
  /** Believe refunds of unused allowance from the start instead of learning them. Default false. */
  readonly assumeRefunds?: boolean | undefined
  /**
   * Where the buckets get their budget when not from the clock: a fleet budget shared by every process
   * on one database (`FleetBudget.ts`). The request and token buckets of a known limit are then filled
   * only by what it grants (`Bucket.grant`); a request rate still being discovered, and separate
   * input/output token limits, keep refilling from the clock.
   */
  readonly supply?: Supply | undefined
}

/**
 * What the head of the line lacks, and what the buckets hold, for a `Supply`.
 *
 * @since 0.2.0
 */
export interface Need {
  /** Missing before the head fits (0 when nothing waits or it fits). */
  readonly requests: number
  readonly tokens: number
  /** Positive levels: budget held and not yet spent. */
  readonly heldRequests: number
  readonly heldTokens: number
  /** The limits in force here (configured or learned), for the supply's vote. */
  readonly rpm: number | undefined
  readonly tpm: number | undefined
  /** The span of each limit a bucket holds here. */
  readonly windowMs: number
}

/**
 * The handle a `Supply` fills the buckets through.
 *
 * @since 0.2.0
 */
export interface Tap {
  /** Waits until the head of the line lacks budget the supply governs. */
  readonly hungry: Effect.Effect<void>
  readonly need: Effect.Effect<Need>
  /** Adds budget to the buckets, up to full (`Bucket.grant`). */
  readonly deposit: (requests: number, tokens: number) => Effect.Effect<void>
  /** Drops what is left of the budget deposited (debts stay). */
  readonly expire: Effect.Effect<void>
  /** A pause seen elsewhere: everyone here waits until `untilMs` (not counted as a 429 here). */
  readonly pauseUntil: (untilMs: number) => Effect.Effect<void>
}

/**
 * THE FLEET SEAM: the one way a shared budget fills an Admission instead of the clock.
 *
 * @since 0.2.0
 */
export interface Supply {
  /** Runs for the life of the Admission, in its scope, filling it through `tap`. */
  readonly run: (tap: Tap) => Effect.Effect<void, never, Scope.Scope>
  /** A 429 seen here, with everyone told to wait until `untilMs`. */
  readonly paused: (untilMs: number) => Effect.Effect<void>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Admission extends Context.Tag("sluice/Engine/Admission")<
  Admission,
  {
    /** Effect's `RateLimiter` shape: waits for `cost`, then runs the effect. */
    readonly withCost: (cost: Cost) => <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | Invalid, R>
    /** Waits in line until `cost` fits, then charges it. Interrupting the wait gives the place back. */
    readonly acquire: (cost: Cost) => Effect.Effect<Reservation, Invalid>
    /**
     * The call went through and used `used`: usage above the estimate is charged; the unused part is
     * given back only while the upstream is believed to refund it.
     */
    readonly settle: (reservation: Reservation, used: Used) => Effect.Effect<void>
    /** The call failed without using its tokens: give them back (the request stays spent). */
    readonly refund: (reservation: Reservation) => Effect.Effect<void>
    /**
     * Before the call is sent: it will ask for less than it waited for (a learned \`max_tokens\`
     * replaced the guess it queued with), so the difference goes back at once. Never raises a cost.
     */
    readonly lower: (reservation: Reservation, cost: Cost) => Effect.Effect<void>
    /**
     * A 429: everyone waits `ms` from now. Overlapping pauses extend, never shorten. While
     * discovering, it also halves the rate, once per congestion event: a 429 answering a call that
     * was admitted before the last decrease does not halve again.
     */
    readonly pause: (ms: number, reservation?: Reservation) => Effect.Effect<void>
    /** Lowers the levels to what believable rate headers say, and learns limits not configured. */
    readonly resync: (snapshot: RateLimitSnapshot) => Effect.Effect<void>
    readonly state: Effect.Effect<AdmissionState>
  }
>() {}

const SLACK = Bucket.SLACK
const MIN_DISCOVERY_RPM = 1
const DEFAULT_DISCOVERY_START_RPM = 60
/**
 * The span of a limit each bucket holds. OpenAI's guide says a per-minute limit may be enforced over
 * a second or less; a smaller burst is the weaker assumption, and while the limit binds (a queue is
 * waiting) the burst size costs nothing. Below ~200 ms an event loop that lags on a busy machine would
 * lose refill to the cap, so the window stops shrinking at `MIN_WINDOW_MS`.
 *
 * @since 0.2.0
 */
export const DEFAULT_WINDOW_MS = 250
const MIN_WINDOW_MS = 50
/** After a 429, header readings are believed beyond our own ledger for this long. */
const CONTESTED_MS = 10_000
/** Before the first 429, the rate doubles every this many admitted calls that had to wait for it. */
const SLOW_START_CALLS = 8
/** After a 429, the rate returns at once to this fraction of the rate the 429 came at... */
const RECOVER_TO = 0.9
/** ...then creeps up by this fraction of that rate per second, so the next 429 comes rarely. */
const CREEP_PER_SECOND = 0.002

type Kind = "requests" | "tokens" | "input" | "output"

/** One limit: its bucket, our own ledger of what the upstream is owed, and what we believe of its headers. */
interface Limit {
  readonly kind: Kind
  readonly bucket: Bucket.Bucket
  /** What an upstream counting as we do would be owed now, if it keeps every reservation... */
  owedKept: number
  /** ...and if it gives the unused allowance back at the answer. */
  owedRefunded: number
  readonly belief: HeaderBelief.Belief
}

/**
 * A new limit starts a little short of full: 15% of its window, and at least one request. The first
 * calls reach the upstream tens of milliseconds after they are admitted (connections are still
 * opening), so the upstream's bucket starts refilling later than ours; without this margin the
 * first burst can outrun its refill and draw a 429.
 */
const makeLimit = (
  kind: Kind,
  limit: number,
  windowMs: number,
  full: boolean,
  assumeRefunds: boolean,
  belief: HeaderBelief.Belief = HeaderBelief.make()
): Limit => {
  const min = kind === "requests" ? 1 : 0
  const capacity = Math.max((limit * windowMs) / 60_000, min)
  const margin = full ? 0 : Math.max(min, capacity * 0.15)
  if (assumeRefunds) belief.refunds = true
  return { kind, bucket: Bucket.make(limit, windowMs, min, margin), owedKept: 0, owedRefunded: 0, belief }
}

class Ticket implements Reservation {
  settled = false
  constructor(
    readonly requests: number,
    // Mutable only through \`lower\`, before the call is sent.
    public tokens: number,
    public inputTokens: number,
    public outputTokens: number,
    readonly admittedAtMs: number,
    readonly waitedMs: number,
    readonly boundBy: Bound | undefined
  ) {}
}

interface Waiter {
  readonly costs: Costs
  readonly enqueuedAt: number
  readonly deferred: Deferred.Deferred<Ticket, Invalid>
  status: "waiting" | "granted" | "failed" | "cancelled"
  ticket: Ticket | undefined
  boundBy: Bound | undefined
}

interface Costs {
  readonly requests: number
  readonly tokens: number
  readonly input: number
  readonly output: number
}

const costOf = (costs: Costs, kind: Kind): number =>
  kind === "requests"
    ? costs.requests
    : kind === "tokens"
      ? costs.tokens
      : kind === "input"
        ? costs.input
        : costs.output

const positive = (n: number | undefined): number | undefined =>
  n !== undefined && Number.isFinite(n) && n > 0 ? n : undefined

/**
 * Builds an Admission whose pump fiber lives in the given scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: AdmissionOptions = {}): Effect.Effect<Admission["Type"], never, Scope.Scope> =>
  Effect.gen(function* () {
    const configuredRpm = positive(options.rpm)
    const configuredTpm = positive(options.tpm)
    const discover = options.discover ?? true
    const startFull = options.startFull === true
    const assumeRefunds = options.assumeRefunds === true
    const startRpm = positive(options.discoveryStartRpm) ?? DEFAULT_DISCOVERY_START_RPM
    let windowMs = positive(options.windowMs) ?? DEFAULT_WINDOW_MS

    let last = yield* Effect.clockWith((clock) => Effect.succeed(clock.unsafeCurrentTimeMillis()))
    let rpmSource: AdmissionState["rpmSource"] =
      configuredRpm !== undefined ? "configured" : discover ? "discovered" : "unknown"
    let tpmSource: AdmissionState["tpmSource"] = configuredTpm !== undefined ? "configured" : "unknown"
    const limits: Partial<Record<Kind, Limit>> = {}
    if (configuredRpm !== undefined) limits.requests = makeLimit("requests", configuredRpm, windowMs, startFull, false)
    // The discovery rate is a guess far below any real limit: a margin on it would only hold the first call back.
    else if (discover) limits.requests = makeLimit("requests", startRpm, windowMs, true, false)
    if (configuredTpm !== undefined)
      limits.tokens = makeLimit("tokens", configuredTpm, windowMs, startFull, assumeRefunds)
    /** The rate a 429 last came at, while discovering; undefined before the first. */
    let ceiling: number | undefined
    let lastDecreaseAt = Number.NEGATIVE_INFINITY
    let lastShrinkAt = Number.NEGATIVE_INFINITY
    let contestedUntil = Number.NEGATIVE_INFINITY
    let pausedUntil = 0
    let totalWaitMs = 0
    let boundBy: Bound | undefined
    let rateLimitHits = 0
    const queue: Array<Waiter> = []
    let head = 0
    let live = 0

    const wake = yield* Queue.sliding<void>(1)
    const poke = Queue.offer(wake, undefined)
    const supply = options.supply
    const hunger = yield* Queue.sliding<void>(1)
    /** Whether the fleet budget, not the clock, fills this limit's bucket. */
    const supplied = (l: Limit): boolean =>
      supply !== undefined && (l.kind === "tokens" || (l.kind === "requests" && rpmSource !== "discovered"))

    const each = (f: (limit: Limit) => void): void => {
      for (const kind of ["requests", "tokens", "input", "output"] as const) {
        const l = limits[kind]
        if (l !== undefined) f(l)
      }
    }

    // Supplied buckets hold only what the fleet budget grants.
    each((l) => {
      if (supplied(l)) l.bucket.level = 0
    })

    /**
     * THE CLOCK REFILL: the one place time turns into budget (`Bucket.refill`). Until the first call
     * arrives, time refills nothing: the start margin is for the first calls, and a host that builds its
     * layers and claims items before calling (0.1–1 s) would otherwise have refilled it away by then.
     */
    let called = startFull
    const refill = (now: number): void => {
      if (now <= last) return
      const dt = now - last
      last = now
      if (!called) return
      each((l) => {
        if (!supplied(l)) Bucket.refill(l.bucket, dt)
        const paid = dt * l.bucket.perMs
        l.owedKept = Math.max(0, l.owedKept - paid)
        l.owedRefunded = Math.max(0, l.owedRefunded - paid)
      })
    }

    const discovering = () => rpmSource === "discovered"

    // While discovering, the capacity is a guess that grows: clamp rather than refuse.
    const costIn = (l: Limit, costs: Costs): number => {
      const c = costOf(costs, l.kind)
      return l.kind === "requests" && discovering() ? Math.min(c, l.bucket.capacity) : c
    }

    const tooLarge = (costs: Costs): Invalid | undefined => {
      for (const kind of ["tokens", "input", "output"] as const) {
        const l = limits[kind]
        const c = costOf(costs, kind)
        if (l !== undefined && c > l.bucket.limit * (1 + SLACK)) {
          const what = kind === "tokens" ? "TPM" : `${kind} TPM`
          return new Invalid({
            reason: "TooLarge",
            message: `a call of ${Math.ceil(c)} ${kind === "tokens" ? "" : `${kind} `}tokens can never be admitted: it is more than the whole ${l.bucket.limit} ${what} limit`
          })
        }
      }
      const r = limits.requests
      if (r !== undefined && !discovering() && costs.requests > r.bucket.limit * (1 + SLACK)) {
        return new Invalid({
          reason: "TooLarge",
          message: `a cost of ${costs.requests} requests can never be admitted: it is more than the whole ${r.bucket.limit} RPM limit`
        })
      }
      return undefined
    }

    /** How long until `costs` fit, and which bucket binds. */
    const waitFor = (costs: Costs): { readonly ms: number; readonly bound: Bound | undefined } => {
      let ms = 0
      let bound: Bound | undefined
      each((l) => {
        const m = Bucket.missingMs(l.bucket, costIn(l, costs))
        if (m > ms) {
          ms = m
          bound = l.kind === "requests" ? "rpm" : "tpm"
        }
      })
      return { ms, bound }
    }

    const take = (costs: Costs): void =>
      each((l) => {
        const c = costIn(l, costs)
        Bucket.take(l.bucket, c)
        l.owedKept += c
        l.owedRefunded += c
      })

    const setRate = (rpm: number): void => {
      const r = limits.requests
      if (r !== undefined) Bucket.resize(r.bucket, Math.max(MIN_DISCOVERY_RPM, rpm))
    }

    const grant = (w: Waiter, now: number): Ticket => {
      const c = w.costs
      return new Ticket(c.requests, c.tokens, c.input, c.output, now, now - w.enqueuedAt, w.boundBy)
    }

    /** Serves every head that fits; returns how long until the next one does (undefined: queue empty). */
    const serve = (now: number): { readonly delay: number | undefined; readonly waited: number } => {
      refill(now)
      let waited = 0
      while (head < queue.length) {
        const w = queue[head]!
        if (w.status !== "waiting") {
          head++
          continue
        }
        // Limits learned while it waited may have made it impossible.
        const invalid = tooLarge(w.costs)
        if (invalid !== undefined) {
          w.status = "failed"
          live--
          head++
          Deferred.unsafeDone(w.deferred, Exit.fail(invalid))
          continue
        }
        if (now < pausedUntil) return { delay: pausedUntil - now, waited }
        const { bound, ms } = waitFor(w.costs)
        if (ms > 0) {
          w.boundBy = bound
          boundBy = bound
          if (supply !== undefined) Queue.unsafeOffer(hunger, undefined)
          return { delay: ms, waited }
        }
        take(w.costs)
        const ticket = grant(w, now)
        w.status = "granted"
        w.ticket = ticket
        live--
        head++
        waited += ticket.waitedMs
        Deferred.unsafeDone(w.deferred, Exit.succeed(ticket))
      }
      queue.length = 0
      head = 0
      return { delay: undefined, waited }
    }

    const compact = (): void => {
      if (head > 1024 && head * 2 > queue.length) {
        queue.splice(0, head)
        head = 0
      }
    }

    // Sleeps are whole milliseconds: the bucket keeps refilling meanwhile and every head that fits is
    // served in one step, so rounding up delays a grant by under a millisecond and loses no budget
    // (and keeps TestClock instants integral).
    const pump = Effect.gen(function* () {
      while (true) {
        const { delay, waited } = yield* Effect.clockWith((clock) =>
          Effect.sync(() => {
            const step = serve(clock.unsafeCurrentTimeMillis())
            compact()
            return step
          })
        )
        if (waited > 0) totalWaitMs += waited
        if (delay === undefined) yield* Queue.take(wake)
        else yield* Effect.raceFirst(Effect.sleep(Duration.millis(Math.max(1, Math.ceil(delay)))), Queue.take(wake))
      }
    })
    yield* Effect.forkScoped(pump)
    // Shutting down: whoever still waits is interrupted rather than left hanging on a dead pump.
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        for (let i = head; i < queue.length; i++) {
          const w = queue[i]!
          if (w.status !== "waiting") continue
          w.status = "cancelled"
          Deferred.unsafeDone(w.deferred, Exit.interrupt(FiberId.none))
        }
        live = 0
      })
    )

    /** Adds `amount` per limit back to the buckets and both ledgers (negative: charges more). */
    const giveBack = (amounts: Partial<Record<Kind, number>>, ledger: "both" | "refunded") =>
      Effect.clockWith((clock) => {
        refill(clock.unsafeCurrentTimeMillis())
        each((l) => {
          const a = amounts[l.kind] ?? 0
          if (a === 0) return
          if (l.kind === "requests") Bucket.adjust(l.bucket, Math.min(a, l.bucket.capacity - l.bucket.level))
          else Bucket.adjust(l.bucket, a)
          l.owedRefunded = Math.max(0, l.owedRefunded - a)
          if (ledger === "both") l.owedKept = Math.max(0, l.owedKept - a)
        })
        return live > 0 ? poke : Effect.void
      })

    const cancel = (w: Waiter) =>
      Effect.suspend(() => {
        if (w.status === "waiting") {
          w.status = "cancelled"
          live--
          // It may have been the head: the next one may fit now.
          return poke
        }
        // Granted but interrupted before it could use it: the whole cost goes back.
        if (w.status === "granted" && w.ticket !== undefined && !w.ticket.settled) {
          w.ticket.settled = true
          const t = w.ticket
          return giveBack(
            { requests: t.requests, tokens: t.tokens, input: t.inputTokens, output: t.outputTokens },
            "both"
          )
        }
        return Effect.void
      })

    const acquire = (cost: Cost): Effect.Effect<Reservation, Invalid> => {
      const r = cost.requests ?? 1
      const t = cost.tokens ?? 0
      const i = cost.inputTokens ?? t
      const o = cost.outputTokens ?? 0
      if ([r, t, i, o].some((n) => !Number.isFinite(n) || n < 0)) {
        return Effect.fail(
          new Invalid({
            reason: "Input",
            message: `an admission cost must be finite and not negative (${r} requests, ${t} tokens)`
          })
        )
      }
      const costs: Costs = { requests: r, tokens: t, input: i, output: o }
      return Effect.clockWith((clock) => {
        const now = clock.unsafeCurrentTimeMillis()
        refill(now)
        called = true
        const invalid = tooLarge(costs)
        if (invalid !== undefined) return Effect.fail(invalid)
        if (live === 0 && now >= pausedUntil) {
          const { bound, ms } = waitFor(costs)
          if (ms === 0) {
            take(costs)
            return Effect.succeed<Reservation>(new Ticket(r, t, i, o, now, 0, undefined))
          }
          boundBy = bound
        }
        const w: Waiter = {
          costs,
          enqueuedAt: now,
          deferred: Deferred.unsafeMake<Ticket, Invalid>(FiberId.none),
          status: "waiting",
          ticket: undefined,
          boundBy: undefined
        }
        queue.push(w)
        live++
        return poke.pipe(
          Effect.zipRight(Deferred.await(w.deferred)),
          Effect.onInterrupt(() => cancel(w))
        )
      })
    }

    const increase = (ticket: Ticket) => {
      const r = limits.requests
      if (!discovering() || r === undefined || ticket.boundBy !== "rpm") return
      // Only calls that waited for the request bucket count: when the caller, not admission, is the
      // bottleneck, success says nothing about how much more the upstream would take.
      const rate = r.bucket.limit
      if (ceiling === undefined) {
        setRate(rate * (1 + 1 / SLOW_START_CALLS))
        return
      }
      const target = ceiling * RECOVER_TO
      const creep = (ceiling * CREEP_PER_SECOND * 60) / rate
      setRate(rate < target ? Math.min(target, rate + Math.max(creep, (target - rate) / 4)) : rate + creep)
    }

    /**
     * What the answer used against each token limit. Usage above the reservation is charged to the
     * bucket and both ledgers at once; the unused part goes to the refunding ledger always (so the
     * headers can show which ledger the upstream keeps), and to the bucket only while refunds are believed.
     */
    const settle = (reservation: Reservation, used: Used): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (!(reservation instanceof Ticket) || reservation.settled) return Effect.void
        reservation.settled = true
        increase(reservation)
        const total = typeof used === "number" ? used : used.promptTokens + used.completionTokens
        const usedOf: Record<Exclude<Kind, "requests">, number> = {
          tokens: Number.isFinite(total) ? Math.max(0, total) : reservation.tokens,
          input: typeof used === "number" ? reservation.inputTokens : Math.max(0, used.promptTokens),
          output: typeof used === "number" ? reservation.outputTokens : Math.max(0, used.completionTokens)
        }
        const reserved: Record<Exclude<Kind, "requests">, number> = {
          tokens: reservation.tokens,
          input: reservation.inputTokens,
          output: reservation.outputTokens
        }
        return Effect.clockWith((clock) => {
          refill(clock.unsafeCurrentTimeMillis())
          let changed = false
          each((l) => {
            if (l.kind === "requests") return
            const diff = reserved[l.kind] - usedOf[l.kind]
            if (diff === 0) return
            if (diff < 0) {
              Bucket.adjust(l.bucket, diff)
              l.owedKept -= diff
              l.owedRefunded -= diff
              return
            }
            l.owedRefunded = Math.max(0, l.owedRefunded - diff)
            if (l.belief.refunds) {
              Bucket.adjust(l.bucket, diff)
              changed = true
            }
          })
          return changed && live > 0 ? poke : Effect.void
        })
      })

    const refund = (reservation: Reservation): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (!(reservation instanceof Ticket) || reservation.settled) return Effect.void
        reservation.settled = true
        return giveBack(
          { tokens: reservation.tokens, input: reservation.inputTokens, output: reservation.outputTokens },
          "both"
        )
      })

    const lower = (reservation: Reservation, cost: Cost): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (!(reservation instanceof Ticket) || reservation.settled) return Effect.void
        const t = cost.tokens ?? 0
        const back = {
          tokens: Math.max(0, reservation.tokens - t),
          input: Math.max(0, reservation.inputTokens - (cost.inputTokens ?? t)),
          output: Math.max(0, reservation.outputTokens - (cost.outputTokens ?? 0))
        }
        if (back.tokens === 0 && back.input === 0 && back.output === 0) return Effect.void
        reservation.tokens -= back.tokens
        reservation.inputTokens -= back.input
        reservation.outputTokens -= back.output
        // The upstream never sees the difference: both ledgers forget it.
        return giveBack(back, "both")
      })

    /**
     * A 429. It pauses everyone; while discovering it halves the rate (once per congestion event);
     * otherwise it is evidence that our accounting misses something: for a while header readings are
     * believed beyond our ledger, a believed refund is taken back, and the window halves (once per
     * event) because the upstream enforces over a shorter one than our bursts assumed.
     */
    const pause = (ms: number, reservation?: Reservation): Effect.Effect<void> =>
      supply === undefined || !Number.isFinite(ms) || ms <= 0
        ? pauseHere(ms, reservation)
        : Effect.zipRight(
            pauseHere(ms, reservation),
            Effect.clockWith((clock) => supply.paused(clock.unsafeCurrentTimeMillis() + ms))
          )

    const pauseHere = (ms: number, reservation?: Reservation): Effect.Effect<void> =>
      Effect.clockWith((clock) => {
        const now = clock.unsafeCurrentTimeMillis()
        refill(now)
        rateLimitHits++
        if (Number.isFinite(ms) && ms > 0) pausedUntil = Math.max(pausedUntil, now + ms)
        contestedUntil = now + CONTESTED_MS
        const admittedAt = reservation?.admittedAtMs ?? now
        each((l) => HeaderBelief.unexpected429(l.belief, admittedAt))
        const r = limits.requests
        if (discovering() && r !== undefined) {
          if (admittedAt < lastDecreaseAt) return Effect.void
          ceiling = r.bucket.limit
          setRate(r.bucket.limit / 2)
          lastDecreaseAt = now
          return Effect.logDebug(
            `admission: 429 at ${ceiling.toFixed(1)} RPM, discovery rate now ${r.bucket.limit.toFixed(1)} RPM`
          )
        }
        if (admittedAt < lastShrinkAt || windowMs <= MIN_WINDOW_MS) return Effect.void
        windowMs = Math.max(MIN_WINDOW_MS, windowMs / 2)
        lastShrinkAt = now
        each((l) => Bucket.resize(l.bucket, l.bucket.limit, windowMs))
        return Effect.logDebug(`admission: unexpected 429, bursts now hold ${windowMs} ms of each limit`)
      })

    /** Creates or resizes a limit from a header's stated limit; true when the limit is new. */
    const learnLimit = (kind: Kind, headerLimit: number | undefined, configured: number | undefined): boolean => {
      if (headerLimit === undefined) return false
      // A configured limit is kept as a safety margin, unless the upstream says it is lower still.
      const limit = configured === undefined ? headerLimit : Math.min(configured, headerLimit)
      const existing = limits[kind]
      if (existing !== undefined && existing.bucket.limit === limit && !(kind === "requests" && discovering())) {
        return false
      }
      const fresh = existing === undefined || (kind === "requests" && discovering())
      if (existing === undefined) {
        // Only Anthropic states a separate output limit, and it documents adjusting it to actual use.
        const belief = kind === "output" ? HeaderBelief.documentedRefund(last) : HeaderBelief.make()
        limits[kind] = makeLimit(kind, limit, windowMs, startFull, assumeRefunds, belief)
      } else Bucket.resize(existing.bucket, limit)
      if (kind === "requests") rpmSource = limit === configuredRpm ? "configured" : "headers"
      if (kind === "tokens") tpmSource = limit === configuredTpm ? "configured" : "headers"
      return fresh
    }

    /** Applies what the headers say of one limit's level, as far as it is believed. */
    const resyncLimit = (
      kind: Kind,
      fresh: boolean,
      headerLimit: number | undefined,
      remaining: number | undefined,
      resetMs: number | undefined,
      now: number
    ): void => {
      const l = limits[kind]
      if (l === undefined || (kind === "requests" && discovering())) return
      const candidates = HeaderBelief.readings(l.bucket.limit, remaining, resetMs, headerLimit)
      if (candidates.length === 0) return
      const b = l.bucket
      if (fresh) {
        // No ledger yet to judge by: start from the reset reading (meaningful on every upstream that
        // sends it), else remaining.
        const first = candidates.find((c) => c.source === "reset") ?? candidates[0]!
        l.owedKept = l.owedRefunded = first.deficit
        b.level = Math.max(-b.capacity, Math.min(b.capacity, b.capacity - first.deficit))
        return
      }
      const slack = HeaderBelief.slackOf(b.limit, kind === "requests" ? "requests" : "tokens")
      // Our ledger as we believe the upstream keeps it: with refunds believed, the refunding one.
      const owed = l.belief.refunds ? l.owedRefunded : l.owedKept
      const deficit = HeaderBelief.decide(l.belief, candidates, owed, slack, now < contestedUntil)
      if (kind !== "requests") HeaderBelief.voteRefund(l.belief, candidates, l.owedKept, l.owedRefunded, b.limit)
      // Headers only ever lower a level: a snapshot predates the calls admitted since it was taken, so
      // raising to it would count those twice; and a short bucket refills soon anyway.
      if (deficit !== undefined) b.level = Math.min(b.level, Math.max(-b.capacity, b.capacity - deficit))
    }

    const resync = (snapshot: RateLimitSnapshot): Effect.Effect<void> =>
      Effect.clockWith((clock) => {
        const now = clock.unsafeCurrentTimeMillis()
        refill(now)
        const before = { rpm: limits.requests?.bucket.limit, tpm: limits.tokens?.bucket.limit }
        const s = snapshot
        const split = s.limitInputTokens !== undefined || s.limitOutputTokens !== undefined
        const freshR = learnLimit("requests", positive(s.limitRequests), configuredRpm)
        // Where input and output are limited apart, the combined tokens headers only repeat the tighter
        // of the two (Anthropic): a combined bucket would count both against one limit.
        const freshT = split ? false : learnLimit("tokens", positive(s.limitTokens), configuredTpm)
        const freshI = learnLimit("input", positive(s.limitInputTokens), undefined)
        const freshO = learnLimit("output", positive(s.limitOutputTokens), undefined)
        resyncLimit("requests", freshR, positive(s.limitRequests), s.remainingRequests, s.resetRequestsMs, now)
        if (!split) resyncLimit("tokens", freshT, positive(s.limitTokens), s.remainingTokens, s.resetTokensMs, now)
        resyncLimit("input", freshI, positive(s.limitInputTokens), s.remainingInputTokens, s.resetInputTokensMs, now)
        resyncLimit(
          "output",
          freshO,
          positive(s.limitOutputTokens),
          s.remainingOutputTokens,
          s.resetOutputTokensMs,
          now
        )
        const learned: Array<string> = []
        if (rpmSource === "headers" && limits.requests?.bucket.limit !== before.rpm) {
          learned.push(`${limits.requests?.bucket.limit} RPM`)
        }
        if (tpmSource === "headers" && limits.tokens?.bucket.limit !== before.tpm) {
          learned.push(`${limits.tokens?.bucket.limit} TPM`)
        }
        if (freshI) learned.push(`${limits.input?.bucket.limit} input TPM`)
        if (freshO) learned.push(`${limits.output?.bucket.limit} output TPM`)
        if (learned.length === 0) return Effect.void
        // New limits can make a waiting head fit, or impossible: let the pump look.
        return Effect.zipRight(
          Effect.logInfo(`admission: limits from the upstream's headers: ${learned.join(", ")}`),
          poke
        )
      })

    const state = Effect.clockWith((clock) =>
      Effect.sync((): AdmissionState => {
        refill(clock.unsafeCurrentTimeMillis())
        const r = limits.requests?.bucket
        const t = limits.tokens?.bucket
        return {
          rpm: discovering() ? undefined : r?.limit,
          tpm: t?.limit,
          rpmSource,
          tpmSource,
          discoveredRpm: discovering() ? r?.limit : undefined,
          requestLevel: r?.level,
          requestCapacity: r?.capacity,
          tokenLevel: t?.level,
          tokenCapacity: t?.capacity,
          waiting: live,
          pausedUntilMs: pausedUntil,
          totalWaitMs,
          boundBy,
          rateLimitHits,
          windowMs,
          refunds: (limits.tokens ?? limits.output ?? limits.input)?.belief.refunds ?? assumeRefunds,
          inputTpm: limits.input?.bucket.limit,
          outputTpm: limits.output?.bucket.limit
        }
      })
    )

    /** The seam a fleet budget fills the buckets through (see `Supply`). */
    const tap: Tap = {
      hungry: Queue.take(hunger),
      need: Effect.clockWith((clock) =>
        Effect.sync((): Need => {
          refill(clock.unsafeCurrentTimeMillis())
          while (head < queue.length && queue[head]!.status !== "waiting") head++
          const w = queue[head]
          const lacks = (l: Limit | undefined) =>
            l === undefined || w === undefined || !supplied(l)
              ? 0
              : Math.max(0, Math.min(costIn(l, w.costs), l.bucket.capacity) - l.bucket.level)
          const held = (l: Limit | undefined) => (l !== undefined && supplied(l) ? Math.max(0, l.bucket.level) : 0)
          return {
            requests: lacks(limits.requests),
            tokens: lacks(limits.tokens),
            heldRequests: held(limits.requests),
            heldTokens: held(limits.tokens),
            rpm: discovering() ? undefined : limits.requests?.bucket.limit,
            tpm: limits.tokens?.bucket.limit,
            windowMs
          }
        })
      ),
      deposit: (r, t) =>
        Effect.suspend(() => {
          const requests = limits.requests
          const tokens = limits.tokens
          if (requests !== undefined && supplied(requests)) Bucket.grant(requests.bucket, r)
          if (tokens !== undefined && supplied(tokens)) Bucket.grant(tokens.bucket, t)
          return poke
        }),
      expire: Effect.sync(() =>
        each((l) => {
          if (supplied(l)) l.bucket.level = Math.min(l.bucket.level, 0)
        })
      ),
      pauseUntil: (untilMs) =>
        Effect.suspend(() => {
          if (untilMs <= pausedUntil) return Effect.void
          pausedUntil = untilMs
          return poke
        })
    }
    if (supply !== undefined) yield* Effect.forkScoped(supply.run(tap))

    const withCost =
      (cost: Cost) =>
      <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | Invalid, R> =>
        Effect.zipRight(acquire(cost), effect)

    return Admission.of({ withCost, acquire, settle, refund, lower, pause, resync, state })
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: AdmissionOptions = {}): Layer.Layer<Admission> => Layer.scoped(Admission, make(options))
