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
 * Thousands of waiters do not poll. They sit in one FIFO of `Deferred`s (`AdmissionQueue.ts`); one
 * pump fiber serves the head, computes exactly how long until the new head fits, and sleeps that long
 * (or until something that could make it fit sooner happens: a refund, a resync, a cancelled head). A
 * call that finds no queue and enough budget is admitted on the spot without touching the pump.
 *
 * The state is plain objects (`AdmissionLedger.ts`, `AdmissionDiscovery.ts`, `AdmissionResync.ts`)
 * changed only inside synchronous steps (`Effect.clockWith` callbacks), which the single JS thread runs
 * atomically, like `Ref.modify` without copying a queue of thousands on every arrival. This file is the
 * port and the Effect around them: the pump, interruption, the fleet's tap.
 *
 * @since 0.1.0
 */
import { Context, Deferred, Duration, Effect, Layer, Queue } from "effect"
import type { Scope } from "effect"
import { Invalid, type RateLimitSnapshot } from "../Domain/Errors.js"
import { Discovery } from "./AdmissionDiscovery.js"
import { type AdmissionState, Ledger } from "./AdmissionLedger.js"
import { type Costs, type Kind, type Limit, Ticket } from "./AdmissionLimit.js"
import { WaitQueue, type Waiter } from "./AdmissionQueue.js"
import * as AdmissionResync from "./AdmissionResync.js"
import { makeTap, type Supply } from "./AdmissionSupply.js"

export {
  /** @since 0.2.0 */
  DEFAULT_WINDOW_MS
} from "./AdmissionLedger.js"
export type {
  /** @since 0.1.0 */
  AdmissionState
} from "./AdmissionLedger.js"
export type {
  /** @since 0.2.0 */
  Need,
  /** @since 0.2.0 */
  Supply,
  /** @since 0.2.0 */
  Tap
} from "./AdmissionSupply.js"

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
 * @since 0.1.0
 * @category models
 */
export interface AdmissionOptions {
  /** Requests per minute; 0 or undefined means unknown (learned from headers, else discovered). */
  readonly rpm?: number | undefined
  /** Tokens per minute; 0 or undefined means unknown (learned from headers, else not limited). */
  readonly tpm?: number | undefined
  /**
   * Input and output tokens per minute, for an upstream that limits them apart (Anthropic); 0 or
   * undefined means unknown (learned from its headers). Known from the start, the first calls are
   * admitted against them: otherwise the first wave goes out before any answer has told the limits,
   * and an output limit that counts each call's `max_tokens` at its start can refuse most of it.
   */
  readonly inputTpm?: number | undefined
  readonly outputTpm?: number | undefined
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

/**
 * Builds an Admission whose pump fiber lives in the given scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: AdmissionOptions = {}): Effect.Effect<Admission["Type"], never, Scope.Scope> =>
  Effect.gen(function* () {
    const supply = options.supply
    /** Whether the fleet budget, not the clock, fills this limit's bucket. */
    const supplied = (ledger: Ledger, l: Limit): boolean =>
      supply !== undefined && (l.kind === "tokens" || (l.kind === "requests" && !ledger.discovering()))
    const now0 = yield* Effect.clockWith((clock) => Effect.succeed(clock.unsafeCurrentTimeMillis()))
    const ledger = new Ledger(options, now0, supplied)
    const discovery = new Discovery(ledger)
    const line = new WaitQueue()

    const wake = yield* Queue.sliding<void>(1)
    const poke = Queue.offer(wake, undefined)
    const hunger = yield* Queue.sliding<void>(1)
    const hungry = supply === undefined ? () => {} : () => void Queue.unsafeOffer(hunger, undefined)

    // Sleeps are whole milliseconds: the bucket keeps refilling meanwhile and every head that fits is
    // served in one step, so rounding up delays a grant by under a millisecond and loses no budget
    // (and keeps TestClock instants integral).
    const pump = Effect.gen(function* () {
      while (true) {
        const { delay, waited } = yield* Effect.clockWith((clock) =>
          Effect.sync(() => {
            const step = line.serve(ledger, clock.unsafeCurrentTimeMillis(), hungry)
            line.compact()
            return step
          })
        )
        if (waited > 0) ledger.totalWaitMs += waited
        if (delay === undefined) yield* Queue.take(wake)
        else yield* Effect.raceFirst(Effect.sleep(Duration.millis(Math.max(1, Math.ceil(delay)))), Queue.take(wake))
      }
    })
    yield* Effect.forkScoped(pump)
    yield* Effect.addFinalizer(() => Effect.sync(() => line.interruptAll()))

    /** Gives `amounts` back; the pump looks again when anyone waits. */
    const giveBack = (amounts: Partial<Record<Kind, number>>) =>
      Effect.clockWith((clock) => {
        ledger.giveBack(amounts, "both", clock.unsafeCurrentTimeMillis())
        return line.live > 0 ? poke : Effect.void
      })

    const cancel = (w: Waiter) =>
      Effect.suspend(() => {
        if (w.status === "waiting") {
          line.cancel(w)
          // It may have been the head: the next one may fit now.
          return poke
        }
        // Granted but interrupted before it could use it: the whole cost goes back.
        if (w.status === "granted" && w.ticket !== undefined && !w.ticket.settled) {
          w.ticket.settled = true
          const t = w.ticket
          return giveBack({ requests: t.requests, tokens: t.tokens, input: t.inputTokens, output: t.outputTokens })
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
        ledger.refill(now)
        ledger.called = true
        const invalid = ledger.tooLarge(costs)
        if (invalid !== undefined) return Effect.fail(invalid)
        if (line.live === 0 && now >= ledger.pausedUntil) {
          const { bound, ms } = ledger.waitFor(costs)
          if (ms === 0) {
            ledger.take(costs)
            return Effect.succeed<Reservation>(new Ticket(r, t, i, o, now, 0, undefined))
          }
          ledger.boundBy = bound
        }
        const w = line.push(costs, now)
        return poke.pipe(
          Effect.zipRight(Deferred.await(w.deferred)),
          Effect.onInterrupt(() => cancel(w))
        )
      })
    }

    const settle = (reservation: Reservation, used: Used): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (!(reservation instanceof Ticket) || reservation.settled) return Effect.void
        reservation.settled = true
        discovery.succeeded(reservation)
        return Effect.clockWith((clock) =>
          ledger.settle(reservation, used, clock.unsafeCurrentTimeMillis()) && line.live > 0 ? poke : Effect.void
        )
      })

    const refund = (reservation: Reservation): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (!(reservation instanceof Ticket) || reservation.settled) return Effect.void
        reservation.settled = true
        return giveBack({
          tokens: reservation.tokens,
          input: reservation.inputTokens,
          output: reservation.outputTokens
        })
      })

    const lower = (reservation: Reservation, cost: Cost): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (!(reservation instanceof Ticket) || reservation.settled) return Effect.void
        const t = cost.tokens ?? 0
        return Effect.clockWith((clock) =>
          ledger.lower(
            reservation,
            t,
            cost.inputTokens ?? t,
            cost.outputTokens ?? 0,
            clock.unsafeCurrentTimeMillis()
          ) && line.live > 0
            ? poke
            : Effect.void
        )
      })

    const pauseHere = (ms: number, reservation?: Reservation): Effect.Effect<void> =>
      Effect.clockWith((clock) => {
        const now = clock.unsafeCurrentTimeMillis()
        const admittedAt = reservation?.admittedAtMs ?? now
        ledger.rateLimited(now, ms, admittedAt)
        const note = ledger.discovering()
          ? discovery.rateLimited(now, admittedAt)
          : ledger.shrinkWindow(now, admittedAt)
        return note === undefined ? Effect.void : Effect.logDebug(note)
      })

    const pause = (ms: number, reservation?: Reservation): Effect.Effect<void> =>
      supply === undefined || !Number.isFinite(ms) || ms <= 0
        ? pauseHere(ms, reservation)
        : Effect.zipRight(
            pauseHere(ms, reservation),
            Effect.clockWith((clock) => supply.paused(clock.unsafeCurrentTimeMillis() + ms))
          )

    const resync = (snapshot: RateLimitSnapshot): Effect.Effect<void> =>
      Effect.clockWith((clock) => {
        const learned = AdmissionResync.resync(ledger, snapshot, clock.unsafeCurrentTimeMillis())
        if (learned.length === 0) return Effect.void
        // New limits can make a waiting head fit, or impossible: let the pump look.
        return Effect.zipRight(
          Effect.logInfo(`admission: limits from the upstream's headers: ${learned.join(", ")}`),
          poke
        )
      })

    const state = Effect.clockWith((clock) =>
      Effect.sync((): AdmissionState => ledger.state(clock.unsafeCurrentTimeMillis(), line.live))
    )

    if (supply !== undefined) {
      const tap = makeTap(ledger, line, (l) => supplied(ledger, l), poke, Queue.take(hunger))
      yield* Effect.forkScoped(supply.run(tap))
    }

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
