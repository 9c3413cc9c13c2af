/**
 * The fleet budget's rule, as pure steps over an upstream's row and its holders (`Store/Fleet.ts`).
 * The store runs a step under the row's lock; `FleetBudget.ts` decides when to run one.
 *
 * - The row holds two shared buckets, requests and tokens, each holding the burst window of the
 *   fleet's limit (Admission's `windowMs`, the smallest any live holder uses; one second when none
 *   says), as Admission's own buckets do, refilled by time.
 * - A holder takes a slice: what the head of its line lacks, plus tens of milliseconds of the rate.
 *   The slice lives in that process's Admission buckets until `sliceUntil`; after that the process
 *   drops what is left of it (Admission's `expire`).
 * - The invariant: the shared level plus the live slices never exceed one window of the limit, so the
 *   fleet together never bursts more than one process could. A holder's slice counts against the
 *   others until it expires: a crashed holder's slice is never counted as given back (it may have
 *   been spent), but its hold on the bucket ends when its slice expires, and the whole second of
 *   burst comes back to the others.
 * - Limits: each holder votes the limits it was given (or learned from headers); the fleet uses the
 *   smallest vote of the holders alive. Never the largest: a process told a lower limit may know
 *   better (another key's share, a smaller tier), and obeying it costs throughput, never a 429.
 * - A 429 seen by any holder pauses all of them until its `retry-after` (`pausedUntil`), and empties
 *   the shared buckets: the upstream just said it has nothing left.
 *
 * @since 0.1.0
 */
import type { FleetChange, FleetHolder, FleetSnapshot } from "../Store/Fleet.js"
import {
  alive,
  capacityOf,
  DEFAULT_WINDOW_MS,
  MINUTE,
  positive,
  refill,
  shiftWindow,
  smallest
} from "./FleetBuckets.js"

export { smallest, usedPerMinute } from "./FleetBuckets.js"

/** Float drift allowance, as in Admission. */
const SLACK = 1e-9
/** A waiting holder that has not asked again for this long no longer holds its place in line. */
const WAITING_MS = 1_000
/** A holder silent for this long past its lease is forgotten. */
const FORGET_MS = 60_000

/**
 * The limits a holder works with: configured, else learned; undefined when unknown.
 *
 * @since 0.1.0
 */
export interface Limits {
  readonly rpm: number | undefined
  readonly tpm: number | undefined
  /** The span of each limit a bucket holds (Admission's burst window); default one second. */
  readonly windowMs?: number | undefined
}

/**
 * A holder asks for budget.
 *
 * @since 0.1.0
 */
export interface TakeRequest {
  readonly holder: string
  readonly now: number
  readonly vote: Limits
  /** What the head of its line lacks: granted all or nothing. */
  readonly need: { readonly requests: number; readonly tokens: number }
  /** How long a slice lasts, in milliseconds of the rate: asked for on top of `need`. */
  readonly sliceMs: number
  /** How long a slice counts against the others (and may be spent) before it expires. */
  readonly sliceTtlMs: number
  /** How long the holder counts as alive after this contact. */
  readonly seenTtlMs: number
  /** What it still holds of earlier slices (positive levels), which stays counted as its slice. */
  readonly holding: { readonly requests: number; readonly tokens: number }
}

/**
 * What a take returned.
 *
 * @since 0.1.0
 */
export interface TakeResult {
  readonly requests: number
  readonly tokens: number
  /** When nothing was granted: how long until the need could be met (a pause included). */
  readonly waitMs: number
  readonly pausedUntil: number
  /** The fleet's limits now. */
  readonly limits: Limits
  readonly holdersAlive: number
  /** Until when the slice may be spent. */
  readonly sliceUntil: number
}

const renewed = (
  h: FleetHolder | undefined,
  upstream: string,
  holder: string,
  vote: Limits,
  seenUntil: number
): FleetHolder => ({
  upstream,
  holder,
  rpm: positive(vote.rpm) ?? null,
  tpm: positive(vote.tpm) ?? null,
  windowMs: positive(vote.windowMs) ?? DEFAULT_WINDOW_MS,
  seenUntil,
  sliceRequests: h?.sliceRequests ?? 0,
  sliceTokens: h?.sliceTokens ?? 0,
  sliceUntil: h?.sliceUntil ?? 0,
  takenRequests: h?.takenRequests ?? 0,
  takenTokens: h?.takenTokens ?? 0,
  wantRequests: h?.wantRequests ?? 0,
  wantTokens: h?.wantTokens ?? 0,
  waitingSince: h?.waitingSince ?? 0,
  waitingUntil: h?.waitingUntil ?? 0
})

const forgotten = (holders: ReadonlyArray<FleetHolder>, now: number) =>
  holders.filter((h) => h.seenUntil + FORGET_MS < now).map((h) => h.holder)

/**
 * A holder asks for a slice: granted all of `need` (plus up to `sliceMs` of the rate) or nothing, with
 * how long to wait. A contact with no need only renews the holder and its vote.
 *
 * @since 0.1.0
 */
export const take =
  (req: TakeRequest) =>
  (snapshot: FleetSnapshot): FleetChange<TakeResult> => {
    const { now } = req
    const self = snapshot.holders.find((h) => h.holder === req.holder)
    const others = alive(
      snapshot.holders.filter((h) => h.holder !== req.holder),
      now
    )
    const limits: Limits = {
      rpm: smallest([req.vote.rpm, ...others.map((h) => h.rpm)]),
      tpm: smallest([req.vote.tpm, ...others.map((h) => h.tpm)]),
      windowMs: smallest([req.vote.windowMs, ...others.map((h) => h.windowMs)]) ?? DEFAULT_WINDOW_MS
    }
    // Live slices: the others' until they expire, and what this holder says it still holds.
    const live = others.filter((h) => h.sliceUntil > now)
    const held = {
      requests: live.reduce((s, h) => s + Math.max(0, h.sliceRequests), 0) + Math.max(0, req.holding.requests),
      tokens: live.reduce((s, h) => s + Math.max(0, h.sliceTokens), 0) + Math.max(0, req.holding.tokens)
    }
    // A level that is not a number (a row written by hand) counts as empty rather than as budget.
    const stored = snapshot.row
    const clean = {
      ...stored,
      requests: Number.isFinite(stored.requests) ? stored.requests : 0,
      tokens: Number.isFinite(stored.tokens) ? stored.tokens : 0
    }
    // A contact that asks for nothing (a heartbeat, a holder starting) leaves the buckets as they are:
    // their time runs from the last real take, so the first calls after an idle spell, or after the
    // fleet's start, still find the buckets short (`START_MARGIN`).
    const asks = req.need.requests > 0 || req.need.tokens > 0
    let row = asks ? refill(shiftWindow(clean, now), held.requests, held.tokens, now, limits) : shiftWindow(clean, now)
    row = { ...row, rpm: limits.rpm ?? null, tpm: limits.tpm ?? null }
    const holder = renewed(self, row.upstream, req.holder, req.vote, now + req.seenTtlMs)
    const base = {
      pausedUntil: row.pausedUntil,
      limits,
      holdersAlive: others.length + 1
    }
    const done = (h: FleetHolder, result: TakeResult): FleetChange<TakeResult> => ({
      row,
      upsert: [h],
      remove: forgotten(snapshot.holders, now),
      result
    })
    // Its place in line: since when it has waited, if it did at its last contact and still does.
    const waitingSince =
      asks && self !== undefined && self.waitingSince > 0 && self.waitingUntil > now ? self.waitingSince : now
    const nothing = (waitMs: number) =>
      done(
        {
          ...holder,
          sliceRequests: req.holding.requests,
          sliceTokens: req.holding.tokens,
          ...(asks
            ? {
                wantRequests: req.need.requests,
                wantTokens: req.need.tokens,
                waitingSince,
                waitingUntil: now + WAITING_MS
              }
            : {})
        },
        { requests: 0, tokens: 0, waitMs, sliceUntil: holder.sliceUntil, ...base }
      )
    if (row.pausedUntil > now) return nothing(row.pausedUntil - now)

    // Holders that have waited longer come first: what they wait for is not this one's to take.
    const ahead = others.filter(
      (h) =>
        h.waitingSince > 0 &&
        h.waitingUntil > now &&
        (h.waitingSince < waitingSince || (h.waitingSince === waitingSince && h.holder < req.holder))
    )
    const reserved = {
      requests: ahead.reduce((s, h) => s + Math.max(0, h.wantRequests), 0),
      tokens: ahead.reduce((s, h) => s + Math.max(0, h.wantTokens), 0)
    }

    // Per bucket: how long until the level covers the need. A need that does not fit beside the live
    // slices waits for the others' slices to expire; one that would not fit even then (a call larger
    // than the bucket) waits for the bucket to be as full as it can be, then is granted whole and
    // leaves a debt everyone waits for: as Admission treats a cost above a full bucket, and as the
    // upstream does.
    const windowMs = limits.windowMs ?? DEFAULT_WINDOW_MS
    const contended = others.some((h) => h.waitingSince > 0 && h.waitingUntil > now)
    const plan = (
      level: number,
      limit: number | undefined,
      minCapacity: number,
      need: number,
      heldNow: number,
      heldBySelf: number,
      othersUntil: number
    ) => {
      if (limit === undefined || need <= 0) return { need: 0, waitMs: 0 }
      const capacity = capacityOf(limit, minCapacity, windowMs)
      const room = Math.max(0, capacity - heldNow)
      if (need > room * (1 + SLACK) && need <= capacity - heldBySelf && othersUntil > now) {
        return { need, waitMs: othersUntil - now }
      }
      // While others wait too, it waits for a whole slice rather than taking crumbs: the database is
      // touched once per slice, and a busy fleet loses nothing by it (the bucket is far from full
      // while its holders wait).
      const wanted = Math.min(contended ? need + (limit * req.sliceMs) / MINUTE : need, room)
      const missing = wanted - level
      return { need, waitMs: missing <= Math.max(wanted, 1) * SLACK ? 0 : (missing * MINUTE) / limit }
    }
    const expiry = (pick: (h: FleetHolder) => number) =>
      Math.min(...live.filter((h) => pick(h) > 0).map((h) => h.sliceUntil), Number.POSITIVE_INFINITY)
    const othersUntil = (pick: (h: FleetHolder) => number) => {
      const at = expiry(pick)
      return Number.isFinite(at) ? at : 0
    }
    const r = plan(
      row.requests - reserved.requests,
      limits.rpm,
      1,
      req.need.requests,
      held.requests,
      Math.max(0, req.holding.requests),
      othersUntil((h) => h.sliceRequests)
    )
    const t = plan(
      row.tokens - reserved.tokens,
      limits.tpm,
      0,
      req.need.tokens,
      held.tokens,
      Math.max(0, req.holding.tokens),
      othersUntil((h) => h.sliceTokens)
    )
    const waitMs = Math.max(r.waitMs, t.waitMs)
    if (waitMs > 0) return nothing(Math.ceil(waitMs))
    if (r.need <= 0 && t.need <= 0) return nothing(0)

    // The need, and up to `sliceMs` of the rate more if the level has it. A dimension without a fleet
    // limit is not counted (the process's own bucket, if any, governs it).
    const grant = (level: number, limit: number | undefined, need: number) =>
      limit === undefined || need <= 0 ? 0 : need + Math.max(0, Math.min(level - need, (limit * req.sliceMs) / MINUTE))
    const gr = grant(row.requests - reserved.requests, limits.rpm, r.need)
    const gt = grant(row.tokens - reserved.tokens, limits.tpm, t.need)
    row = {
      ...row,
      requests: row.requests - gr,
      tokens: row.tokens - gt,
      windowRequests: row.windowRequests + gr,
      windowTokens: row.windowTokens + gt
    }
    const sliceUntil = now + req.sliceTtlMs
    return done(
      {
        ...holder,
        sliceRequests: req.holding.requests + gr,
        sliceTokens: req.holding.tokens + gt,
        sliceUntil,
        takenRequests: holder.takenRequests + gr,
        takenTokens: holder.takenTokens + gt,
        wantRequests: 0,
        wantTokens: 0,
        waitingSince: 0,
        waitingUntil: 0
      },
      { requests: gr, tokens: gt, waitMs: 0, sliceUntil, ...base }
    )
  }

/**
 * A 429: everyone waits until `untilMs`, and the shared buckets are emptied.
 *
 * @since 0.1.0
 */
export const pause =
  (now: number, untilMs: number) =>
  (snapshot: FleetSnapshot): FleetChange<number> => {
    const row = snapshot.row
    const pausedUntil = Math.max(row.pausedUntil, Math.ceil(untilMs))
    return {
      row: {
        ...row,
        requests: Math.min(row.requests, 0),
        tokens: Math.min(row.tokens, 0),
        at: row.at === null ? null : Math.max(row.at, now),
        pausedUntil,
        rateLimitHits: row.rateLimitHits + 1
      },
      upsert: [],
      remove: [],
      result: pausedUntil
    }
  }

/**
 * A holder leaves (shutdown): what it still holds of its slices goes back to the shared buckets, and
 * its row goes.
 *
 * @since 0.1.0
 */
export const leave =
  (holder: string, now: number, holding: { readonly requests: number; readonly tokens: number }) =>
  (snapshot: FleetSnapshot): FleetChange<void> => {
    const row = snapshot.row
    const self = snapshot.holders.find((h) => h.holder === holder)
    const live = self !== undefined && self.sliceUntil > now
    const windowMs =
      smallest(snapshot.holders.filter((h) => h.seenUntil > now).map((h) => h.windowMs)) ?? DEFAULT_WINDOW_MS
    const back = (level: number, limit: number | null, minCapacity: number, amount: number) =>
      limit === null || !live ? level : Math.min(capacityOf(limit, minCapacity, windowMs), level + Math.max(0, amount))
    return {
      row: {
        ...row,
        requests: back(row.requests, row.rpm, 1, holding.requests),
        tokens: back(row.tokens, row.tpm, 0, holding.tokens)
      },
      upsert: [],
      remove: [holder],
      result: undefined
    }
  }
