/**
 * Admission: LLM-aware rate limiting, so the upstream's whole budget is used and not one 429 earned.
 *
 * Why not Effect's `RateLimiter`: it refills at most about one unit per millisecond (too coarse for a
 * tokens-per-minute limit of millions), `withCost(n)` with `n` above its limit hangs forever, and a
 * costly call starves while cheap calls behind it keep taking whatever refills. Here instead:
 *
 * - two continuous buckets, requests and tokens, each holding ONE SECOND of its per-minute limit
 *   (at least one request), refilled from `Clock` with fractional precision: upstreams enforce a
 *   minute limit over short windows, so a minute's worth must never burst;
 * - strict FIFO: a costly waiter at the head blocks cheaper ones behind it, so it cannot starve;
 * - a cost above a full bucket (one second) waits for a full bucket and leaves a debt; a cost above
 *   the whole per-minute limit can never pass and fails at once with `Invalid` (reason "TooLarge");
 * - a reservation is an estimate; `settle` refunds or charges the difference once `usage` is known;
 * - `x-ratelimit-*` headers resynchronise the levels (and teach the limits when none are configured);
 * - `pause` (a 429) makes every waiter and every new call wait until `retry-after`;
 * - with no limit known at all, the request rate is discovered: halve on a 429, grow on success.
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
import { Context, Deferred, Duration, Effect, Exit, FiberId, Layer, Metric, Queue } from "effect"
import type { Scope } from "effect"
import { Invalid, type RateLimitSnapshot } from "../Domain/Errors.js"

/**
 * What one call costs. `requests` defaults to 1 and `tokens` to 0.
 *
 * @since 0.1.0
 */
export interface Cost {
  readonly requests?: number | undefined
  readonly tokens?: number | undefined
}

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
  /**
   * Where the buckets get their budget when not from the clock: a fleet budget shared by every process
   * on one database (`FleetBudget.ts`). Buckets of a known limit are then refilled only by what it
   * deposits; a request rate still being discovered keeps refilling from the clock.
   */
  readonly supply?: Supply | undefined
}

/**
 * What the head of the line lacks, and what the buckets hold, for a `Supply`.
 *
 * @since 0.1.0
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
}

/**
 * The handle a `Supply` feeds the buckets through.
 *
 * @since 0.1.0
 */
export interface Tap {
  /** Waits until the head of the line lacks budget the supply governs. */
  readonly hungry: Effect.Effect<void>
  readonly need: Effect.Effect<Need>
  /** Adds budget to the buckets, up to their capacity. */
  readonly deposit: (requests: number, tokens: number) => Effect.Effect<void>
  /** Drops what is left of the slices deposited (debts stay). */
  readonly expire: Effect.Effect<void>
  /** A pause seen elsewhere: everyone here waits until `untilMs` (not counted as a 429 here). */
  readonly pauseUntil: (untilMs: number) => Effect.Effect<void>
}

/**
 * The one seam through which a shared budget refills an Admission instead of the clock.
 *
 * @since 0.1.0
 */
export interface Supply {
  /** Runs for the life of the Admission, in its scope, feeding it through `tap`. */
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
    /** The call went through and used `actualTokens`: refund or charge the difference to the estimate. */
    readonly settle: (reservation: Reservation, actualTokens: number) => Effect.Effect<void>
    /** The call failed without using its tokens: give them back (the request stays spent). */
    readonly refund: (reservation: Reservation) => Effect.Effect<void>
    /**
     * A 429: everyone waits `ms` from now. Overlapping pauses extend, never shorten. While
     * discovering, it also halves the rate, once per congestion event: a 429 answering a call that
     * was admitted before the last decrease does not halve again.
     */
    readonly pause: (ms: number, reservation?: Reservation) => Effect.Effect<void>
    /** Sets the levels from `x-ratelimit-*` headers and learns limits not configured. */
    readonly resync: (snapshot: RateLimitSnapshot) => Effect.Effect<void>
    readonly state: Effect.Effect<AdmissionState>
  }
>() {}

/** Float refill drifts by about 1e-12 per step; a waiter that waited exactly as told must fit. */
const SLACK = 1e-9
const MIN_DISCOVERY_RPM = 1
const DEFAULT_DISCOVERY_START_RPM = 60
/** Before the first 429, the rate doubles every this many admitted calls that had to wait for it. */
const SLOW_START_CALLS = 8
/** After a 429, the rate returns quickly to this fraction of the rate the 429 came at... */
const RECOVER_TO = 0.9
/** ...then creeps up by this fraction of that rate per second, so the next 429 comes rarely. */
const CREEP_PER_SECOND = 0.001

/**
 * Milliseconds calls spent waiting for admission, summed (the engine's `admissionWaitMs`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const waitMsTotal = Metric.counter("sluice_admission_wait_ms_total", {
  description: "Milliseconds calls spent waiting for admission (request and token buckets, 429 pauses)"
})

interface Bucket {
  limit: number
  capacity: number
  perMs: number
  /** May go below zero after a charge larger than the estimate: a debt later calls wait for. */
  level: number
}

/**
 * A new bucket starts a little short of full: 15% of its second, and at least one request. The first
 * calls reach the upstream tens of milliseconds after they are admitted (connections are still
 * opening), so the upstream's bucket starts refilling later than ours; without this margin the
 * first burst can outrun its refill and draw a 429 (measured: the first call reached the simulator 59–107 ms
 * after its grant). It costs about 150 ms of budget once per run.
 */
const makeBucket = (limit: number, minCapacity: number, minMargin: number, full = false): Bucket => {
  const capacity = Math.max(limit / 60, minCapacity)
  const margin = full ? 0 : Math.min(capacity, Math.max(minMargin, capacity * 0.15))
  return { limit, capacity, perMs: limit / 60_000, level: capacity - margin }
}

const resize = (bucket: Bucket, limit: number, minCapacity: number): void => {
  bucket.limit = limit
  bucket.capacity = Math.max(limit / 60, minCapacity)
  bucket.perMs = limit / 60_000
  bucket.level = Math.min(bucket.level, bucket.capacity)
}

/**
 * Milliseconds until `bucket` can take `cost`; 0 when it can (within float slack). A cost larger
 * than the bucket (one second of the limit) waits for a full bucket and leaves a debt, as the
 * upstream does: large requests pass, the average rate still holds.
 */
const missingMs = (bucket: Bucket, cost: number): number => {
  // A call that needs none of this bucket does not wait for its debt.
  if (cost <= 0) return 0
  const missing = Math.min(cost, bucket.capacity) - bucket.level
  return missing <= bucket.capacity * SLACK ? 0 : missing / bucket.perMs
}

const debit = (level: number, cost: number): number =>
  level - cost < 0 && cost <= level * (1 + SLACK) ? 0 : level - cost

class Ticket implements Reservation {
  settled = false
  constructor(
    readonly requests: number,
    readonly tokens: number,
    readonly admittedAtMs: number,
    readonly waitedMs: number,
    readonly boundBy: Bound | undefined
  ) {}
}

interface Waiter {
  readonly requests: number
  readonly tokens: number
  readonly enqueuedAt: number
  readonly deferred: Deferred.Deferred<Ticket, Invalid>
  status: "waiting" | "granted" | "failed" | "cancelled"
  ticket: Ticket | undefined
  boundBy: Bound | undefined
}

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
    const startRpm = positive(options.discoveryStartRpm) ?? DEFAULT_DISCOVERY_START_RPM
    const supply = options.supply

    let last = yield* Effect.clockWith((clock) => Effect.succeed(clock.unsafeCurrentTimeMillis()))
    let rpmSource: AdmissionState["rpmSource"] =
      configuredRpm !== undefined ? "configured" : discover ? "discovered" : "unknown"
    let tpmSource: AdmissionState["tpmSource"] = configuredTpm !== undefined ? "configured" : "unknown"
    let requests: Bucket | undefined =
      configuredRpm !== undefined
        ? makeBucket(configuredRpm, 1, 1, startFull)
        : // The discovery rate is a guess far below any real limit: a margin of one request on it would
          // only hold the first call back a whole second.
          discover
          ? makeBucket(startRpm, 1, 1, true)
          : undefined
    let tokens: Bucket | undefined =
      configuredTpm !== undefined ? makeBucket(configuredTpm, 0, 0, startFull) : undefined
    // Supplied buckets hold only what the supply deposits.
    const supplied = (bucket: "rpm" | "tpm") => supply !== undefined && (bucket === "tpm" || rpmSource !== "discovered")
    if (requests !== undefined && supplied("rpm")) requests.level = 0
    if (tokens !== undefined && supplied("tpm")) tokens.level = 0
    /** The rate a 429 last came at, while discovering; undefined before the first. */
    let ceiling: number | undefined
    let lastDecreaseAt = Number.NEGATIVE_INFINITY
    let pausedUntil = 0
    let totalWaitMs = 0
    let boundBy: Bound | undefined
    let rateLimitHits = 0
    const queue: Array<Waiter> = []
    let head = 0
    let live = 0

    const wake = yield* Queue.sliding<void>(1)
    const poke = Queue.offer(wake, undefined)
    const hunger = yield* Queue.sliding<void>(1)

    /**
     * Until the first call arrives, time refills nothing: the start margin (see `makeBucket`) is for
     * the first calls, and a host that builds its layers, records its items and claims them before
     * calling (Pipeline.run: 0.1–1 s) would otherwise have refilled it away by then.
     */
    let called = startFull
    const refill = (now: number): void => {
      if (now <= last) return
      const dt = now - last
      last = now
      if (!called) return
      if (requests !== undefined && !supplied("rpm")) {
        requests.level = Math.min(requests.capacity, requests.level + dt * requests.perMs)
      }
      if (tokens !== undefined && !supplied("tpm"))
        tokens.level = Math.min(tokens.capacity, tokens.level + dt * tokens.perMs)
    }

    // While discovering, the capacity is a guess that grows: clamp rather than refuse.
    const requestCost = (n: number): number =>
      requests !== undefined && rpmSource === "discovered" ? Math.min(n, requests.capacity) : n

    const tooLarge = (r: number, t: number): Invalid | undefined => {
      if (tokens !== undefined && t > tokens.limit * (1 + SLACK)) {
        return new Invalid({
          reason: "TooLarge",
          message: `a call of ${Math.ceil(t)} tokens can never be admitted: it is more than the whole ${tokens.limit} TPM limit`
        })
      }
      if (requests !== undefined && rpmSource !== "discovered" && r > requests.limit * (1 + SLACK)) {
        return new Invalid({
          reason: "TooLarge",
          message: `a cost of ${r} requests can never be admitted: it is more than the whole ${requests.limit} RPM limit`
        })
      }
      return undefined
    }

    /** How long until `r` requests and `t` tokens fit, and which bucket binds. */
    const waitFor = (r: number, t: number): { readonly ms: number; readonly bound: Bound | undefined } => {
      let ms = 0
      let bound: Bound | undefined
      if (requests !== undefined) {
        const m = missingMs(requests, requestCost(r))
        if (m > ms) {
          ms = m
          bound = "rpm"
        }
      }
      if (tokens !== undefined) {
        const m = missingMs(tokens, t)
        if (m > ms) {
          ms = m
          bound = "tpm"
        }
      }
      return { ms, bound }
    }

    const take = (r: number, t: number): void => {
      // Only called once the cost fits (or the bucket is full): a cost above a full bucket leaves a
      // debt; otherwise the floor at 0 only absorbs float slack.
      if (requests !== undefined && r > 0) requests.level = debit(requests.level, requestCost(r))
      if (tokens !== undefined && t > 0) tokens.level = debit(tokens.level, t)
    }

    const setRate = (rpm: number): void => {
      if (requests !== undefined) resize(requests, Math.max(MIN_DISCOVERY_RPM, rpm), 1)
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
        const invalid = tooLarge(w.requests, w.tokens)
        if (invalid !== undefined) {
          w.status = "failed"
          live--
          head++
          Deferred.unsafeDone(w.deferred, Exit.fail(invalid))
          continue
        }
        if (now < pausedUntil) return { delay: pausedUntil - now, waited }
        const { bound, ms } = waitFor(w.requests, w.tokens)
        if (ms > 0) {
          w.boundBy = bound
          boundBy = bound
          if (supply !== undefined && supplied(bound === "tpm" ? "tpm" : "rpm")) Queue.unsafeOffer(hunger, undefined)
          return { delay: ms, waited }
        }
        take(w.requests, w.tokens)
        const ticket = new Ticket(w.requests, w.tokens, now, now - w.enqueuedAt, w.boundBy)
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
        if (waited > 0) {
          totalWaitMs += waited
          yield* Metric.incrementBy(waitMsTotal, waited)
        }
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
          return giveBack(w.ticket.requests, w.ticket.tokens)
        }
        return Effect.void
      })

    const acquire = (cost: Cost): Effect.Effect<Reservation, Invalid> => {
      const r = cost.requests ?? 1
      const t = cost.tokens ?? 0
      if (!Number.isFinite(r) || !Number.isFinite(t) || r < 0 || t < 0) {
        return Effect.fail(
          new Invalid({
            reason: "Input",
            message: `an admission cost must be finite and not negative (${r} requests, ${t} tokens)`
          })
        )
      }
      return Effect.clockWith((clock) => {
        const now = clock.unsafeCurrentTimeMillis()
        refill(now)
        called = true
        const invalid = tooLarge(r, t)
        if (invalid !== undefined) return Effect.fail(invalid)
        if (live === 0 && now >= pausedUntil) {
          const { bound, ms } = waitFor(r, t)
          if (ms === 0) {
            take(r, t)
            return Effect.succeed<Reservation>(new Ticket(r, t, now, 0, undefined))
          }
          boundBy = bound
        }
        const w: Waiter = {
          requests: r,
          tokens: t,
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

    const giveBack = (r: number, t: number) =>
      Effect.clockWith((clock) => {
        refill(clock.unsafeCurrentTimeMillis())
        if (requests !== undefined && r > 0) {
          requests.level = Math.min(requests.capacity, requests.level + requestCost(r))
        }
        if (tokens !== undefined && t !== 0) {
          // A usage above the estimate is a debt, bounded so one wild answer cannot stall everyone for long.
          tokens.level = Math.max(-tokens.capacity, Math.min(tokens.capacity, tokens.level + t))
        }
        return live > 0 ? poke : Effect.void
      })

    const increase = (ticket: Ticket) => {
      if (rpmSource !== "discovered" || requests === undefined || ticket.boundBy !== "rpm") return
      // Only calls that waited for the request bucket count: when the caller, not admission, is the
      // bottleneck, success says nothing about how much more the upstream would take.
      const rate = requests.limit
      if (ceiling === undefined) {
        setRate(rate * (1 + 1 / SLOW_START_CALLS))
        return
      }
      const target = ceiling * RECOVER_TO
      const creep = (ceiling * CREEP_PER_SECOND * 60) / rate
      setRate(rate < target ? Math.min(target, rate + Math.max(creep, (target - rate) / 4)) : rate + creep)
    }

    const settle = (reservation: Reservation, actualTokens: number): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (!(reservation instanceof Ticket) || reservation.settled) return Effect.void
        reservation.settled = true
        const used = Number.isFinite(actualTokens) ? Math.max(0, actualTokens) : reservation.tokens
        increase(reservation)
        return giveBack(0, reservation.tokens - used)
      })

    const refund = (reservation: Reservation): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (!(reservation instanceof Ticket) || reservation.settled) return Effect.void
        reservation.settled = true
        return giveBack(0, reservation.tokens)
      })

    const pause = (ms: number, reservation?: Reservation): Effect.Effect<void> =>
      Effect.clockWith((clock) => {
        const now = clock.unsafeCurrentTimeMillis()
        refill(now)
        rateLimitHits++
        if (Number.isFinite(ms) && ms > 0) pausedUntil = Math.max(pausedUntil, now + ms)
        const tell = supply !== undefined && Number.isFinite(ms) && ms > 0 ? supply.paused(now + ms) : Effect.void
        if (
          rpmSource === "discovered" &&
          requests !== undefined &&
          (reservation?.admittedAtMs ?? now) >= lastDecreaseAt
        ) {
          ceiling = requests.limit
          setRate(requests.limit / 2)
          lastDecreaseAt = now
          return Effect.zipRight(
            tell,
            Effect.logDebug(
              `admission: 429 at ${ceiling.toFixed(1)} RPM, discovery rate now ${requests.limit.toFixed(1)} RPM`
            )
          )
        }
        return tell
      })

    /**
     * The level a header implies: capacity less the upstream's deficit (from remaining or reset, the
     * larger). An upstream that counts a whole minute may owe more than one second: that is kept as a
     * debt, bounded like a usage debt.
     */
    const levelFrom = (bucket: Bucket, limit: number, remaining: number | undefined, resetMs: number | undefined) => {
      let deficit: number | undefined
      if (remaining !== undefined) deficit = Math.max(0, limit - remaining)
      if (resetMs !== undefined && resetMs >= 0) deficit = Math.max(deficit ?? 0, (resetMs * limit) / 60_000)
      return deficit === undefined
        ? undefined
        : Math.min(bucket.capacity, Math.max(-bucket.capacity, bucket.capacity - deficit))
    }

    const resync = (snapshot: RateLimitSnapshot): Effect.Effect<void> =>
      Effect.clockWith((clock) => {
        refill(clock.unsafeCurrentTimeMillis())
        const learned: Array<string> = []
        // A limit just learned replaces a level that described no limit (a discovery guess, or none).
        let freshRequests = false
        let freshTokens = false
        const headerRpm = positive(snapshot.limitRequests)
        if (headerRpm !== undefined) {
          // A configured limit is kept as a safety margin, unless the upstream says it is lower still.
          const rpm = configuredRpm === undefined ? headerRpm : Math.min(configuredRpm, headerRpm)
          if (requests === undefined || rpmSource === "discovered" || requests.limit !== rpm) {
            if (requests === undefined || rpmSource === "discovered") freshRequests = true
            if (requests === undefined) requests = makeBucket(rpm, 1, 1, startFull)
            else resize(requests, rpm, 1)
            rpmSource = rpm === configuredRpm ? "configured" : "headers"
            if (rpmSource === "headers") learned.push(`${rpm} RPM`)
          }
        }
        const headerTpm = positive(snapshot.limitTokens)
        if (headerTpm !== undefined) {
          const tpm = configuredTpm === undefined ? headerTpm : Math.min(configuredTpm, headerTpm)
          if (tokens === undefined || tokens.limit !== tpm) {
            if (tokens === undefined) freshTokens = true
            if (tokens === undefined) tokens = makeBucket(tpm, 0, 0, startFull)
            else resize(tokens, tpm, 0)
            tpmSource = tpm === configuredTpm ? "configured" : "headers"
            if (tpmSource === "headers") learned.push(`${tpm} TPM`)
          }
        }
        // Otherwise headers only ever lower a level: a snapshot predates the calls admitted since it was
        // taken, so raising to it would count those twice; and a one-second bucket refills soon anyway.
        if (requests !== undefined && rpmSource !== "discovered") {
          const level = levelFrom(
            requests,
            headerRpm ?? requests.limit,
            snapshot.remainingRequests,
            snapshot.resetRequestsMs
          )
          if (level !== undefined) requests.level = freshRequests ? level : Math.min(requests.level, level)
        }
        if (tokens !== undefined) {
          const level = levelFrom(tokens, headerTpm ?? tokens.limit, snapshot.remainingTokens, snapshot.resetTokensMs)
          if (level !== undefined) tokens.level = freshTokens ? level : Math.min(tokens.level, level)
        }
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
        return {
          rpm: rpmSource === "discovered" ? undefined : requests?.limit,
          tpm: tokens?.limit,
          rpmSource,
          tpmSource,
          discoveredRpm: rpmSource === "discovered" ? requests?.limit : undefined,
          requestLevel: requests?.level,
          requestCapacity: requests?.capacity,
          tokenLevel: tokens?.level,
          tokenCapacity: tokens?.capacity,
          waiting: live,
          pausedUntilMs: pausedUntil,
          totalWaitMs,
          boundBy,
          rateLimitHits
        }
      })
    )

    /** The seam a fleet budget refills the buckets through (see `Supply`). */
    const tapOf = (): Tap => ({
      hungry: Queue.take(hunger),
      need: Effect.clockWith((clock) =>
        Effect.sync((): Need => {
          refill(clock.unsafeCurrentTimeMillis())
          let r = 0
          let t = 0
          while (head < queue.length && queue[head]!.status !== "waiting") head++
          const w = queue[head]
          if (w !== undefined) {
            if (requests !== undefined && supplied("rpm") && w.requests > 0) {
              r = Math.max(0, Math.min(requestCost(w.requests), requests.capacity) - requests.level)
            }
            if (tokens !== undefined && supplied("tpm") && w.tokens > 0) {
              t = Math.max(0, Math.min(w.tokens, tokens.capacity) - tokens.level)
            }
          }
          return {
            requests: r,
            tokens: t,
            heldRequests: requests !== undefined && supplied("rpm") ? Math.max(0, requests.level) : 0,
            heldTokens: tokens !== undefined && supplied("tpm") ? Math.max(0, tokens.level) : 0,
            rpm: rpmSource === "discovered" ? undefined : requests?.limit,
            tpm: tokens?.limit
          }
        })
      ),
      deposit: (r, t) =>
        Effect.suspend(() => {
          if (requests !== undefined && supplied("rpm") && r > 0) {
            requests.level = Math.min(requests.capacity, requests.level + r)
          }
          if (tokens !== undefined && supplied("tpm") && t > 0)
            tokens.level = Math.min(tokens.capacity, tokens.level + t)
          return poke
        }),
      expire: Effect.sync(() => {
        if (requests !== undefined && supplied("rpm")) requests.level = Math.min(requests.level, 0)
        if (tokens !== undefined && supplied("tpm")) tokens.level = Math.min(tokens.level, 0)
      }),
      pauseUntil: (untilMs) =>
        Effect.suspend(() => {
          if (untilMs <= pausedUntil) return Effect.void
          pausedUntil = untilMs
          return poke
        })
    })

    const withCost =
      (cost: Cost) =>
      <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | Invalid, R> =>
        Effect.zipRight(acquire(cost), effect)

    if (supply !== undefined) yield* Effect.forkScoped(supply.run(tapOf()))

    return Admission.of({ withCost, acquire, settle, refund, pause, resync, state })
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: AdmissionOptions = {}): Layer.Layer<Admission> => Layer.scoped(Admission, make(options))
