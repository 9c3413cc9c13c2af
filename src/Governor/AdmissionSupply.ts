/**
 * THE FLEET SEAM: the one way a shared budget (`FleetBudget.ts`) fills an Admission instead of the
 * clock. The supply runs for the life of the Admission and fills its request and token buckets
 * through a `Tap`; a request rate still being discovered, and separate input/output token limits,
 * keep refilling from the clock.
 *
 * @since 0.3.0
 */
import { Effect } from "effect"
import type { Scope } from "effect"
import type { Ledger } from "./AdmissionLedger.js"
import type { Limit } from "./AdmissionLimit.js"
import type { WaitQueue } from "./AdmissionQueue.js"
import * as Bucket from "./Bucket.js"

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
 * The tap over one Admission's ledger and line.
 *
 * @since 0.3.0
 */
export const makeTap = (
  ledger: Ledger,
  line: WaitQueue,
  /** Whether the supply, not the clock, fills this limit's bucket. */
  supplied: (l: Limit) => boolean,
  poke: Effect.Effect<unknown>,
  hungry: Effect.Effect<void>
): Tap => ({
  hungry,

  need: Effect.clockWith((clock) =>
    Effect.sync((): Need => {
      ledger.refill(clock.unsafeCurrentTimeMillis())
      const w = line.first()
      const lacks = (l: Limit | undefined) =>
        l === undefined || w === undefined || !supplied(l)
          ? 0
          : Math.max(0, Math.min(ledger.costIn(l, w.costs), l.bucket.capacity) - l.bucket.level)
      const held = (l: Limit | undefined) => (l !== undefined && supplied(l) ? Math.max(0, l.bucket.level) : 0)
      const { requests, tokens } = ledger.limits
      return {
        requests: lacks(requests),
        tokens: lacks(tokens),
        heldRequests: held(requests),
        heldTokens: held(tokens),
        rpm: ledger.discovering() ? undefined : requests?.bucket.limit,
        tpm: tokens?.bucket.limit,
        windowMs: ledger.windowMs
      }
    })
  ),
  deposit: (r, t) =>
    Effect.suspend(() => {
      const { requests, tokens } = ledger.limits
      if (requests !== undefined && supplied(requests)) Bucket.grant(requests.bucket, r)
      if (tokens !== undefined && supplied(tokens)) Bucket.grant(tokens.bucket, t)
      return poke
    }),
  expire: Effect.sync(() =>
    ledger.each((l) => {
      if (supplied(l)) l.bucket.level = Math.min(l.bucket.level, 0)
    })
  ),
  pauseUntil: (untilMs) =>
    Effect.suspend(() => {
      if (untilMs <= ledger.pausedUntil) return Effect.void
      ledger.pausedUntil = untilMs
      return poke
    })
})
