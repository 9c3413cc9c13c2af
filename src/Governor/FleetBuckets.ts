/**
 * The fleet budget's row over time: its two shared buckets (requests and tokens) refilled by time and
 * capped below one window of the limit by the live slices, and the two minute windows of what was
 * handed out. Pure; the steps of `FleetLedger.ts` use them under the row's lock.
 *
 * @since 0.3.0
 */
import type { FleetHolder, FleetRow } from "../Store/Fleet.js"
import type { Limits } from "./FleetLedger.js"

/** A row not touched for this long starts short again (see `START_MARGIN`). */
const IDLE_MS = 1_000
/**
 * After an idle spell the buckets start 15% short (at least one request), as a new Admission bucket
 * does: the first calls reach the upstream later than they are granted, so its refill starts later.
 */
const START_MARGIN = 0.15
/** @since 0.3.0 */
export const MINUTE = 60_000
/** @since 0.3.0 */
export const DEFAULT_WINDOW_MS = 1_000

export const positive = (n: number | null | undefined): number | undefined =>
  n !== null && n !== undefined && Number.isFinite(n) && n > 0 ? n : undefined

export const alive = (holders: ReadonlyArray<FleetHolder>, now: number) => holders.filter((h) => h.seenUntil > now)

/**
 * The smallest limit any holder alive votes for (`self` included); undefined when none votes.
 *
 * @since 0.1.0
 */
export const smallest = (votes: ReadonlyArray<number | null | undefined>): number | undefined => {
  let min: number | undefined
  for (const v of votes) {
    const p = positive(v)
    if (p !== undefined && (min === undefined || p < min)) min = p
  }
  return min
}

/** One second of a limit; at least one request. */
/** `windowMs` of a limit; at least `minCapacity`. */
export const capacityOf = (limit: number, minCapacity: number, windowMs: number) =>
  Math.max((limit * windowMs) / MINUTE, minCapacity)

/** The minute windows moved to `now`. */
export const shiftWindow = (row: FleetRow, now: number): FleetRow => {
  if (now - row.windowAt < MINUTE) return row
  const lastOnly = now - row.windowAt < 2 * MINUTE
  return {
    ...row,
    windowAt: now - ((now - row.windowAt) % MINUTE),
    prevRequests: lastOnly ? row.windowRequests : 0,
    prevTokens: lastOnly ? row.windowTokens : 0,
    windowRequests: 0,
    windowTokens: 0
  }
}

/**
 * What the fleet was handed over the last minute (a sliding estimate from two minute windows).
 *
 * @since 0.1.0
 */
export const usedPerMinute = (row: FleetRow, now: number): { readonly requests: number; readonly tokens: number } => {
  const r = shiftWindow(row, now)
  const weight = Math.max(0, 1 - (now - r.windowAt) / MINUTE)
  return { requests: r.windowRequests + r.prevRequests * weight, tokens: r.windowTokens + r.prevTokens * weight }
}

/**
 * The row's buckets refilled to `now` for limits `rpm`/`tpm`, capped below one window of the limit
 * by the live slices (`heldR`, `heldT`).
 */
export const refill = (row: FleetRow, heldR: number, heldT: number, now: number, limits: Limits): FleetRow => {
  const windowMs = limits.windowMs ?? DEFAULT_WINDOW_MS
  const level = (current: number, limit: number | undefined, minCapacity: number, heldNow: number) => {
    if (limit === undefined) return 0
    const capacity = capacityOf(limit, minCapacity, windowMs)
    const cap = Math.max(0, capacity - heldNow)
    const idle = row.at === null || now - row.at >= IDLE_MS
    const dt = row.at === null ? 0 : Math.max(0, now - row.at)
    const refilled = row.at === null ? capacity : current + (dt * limit) / MINUTE
    const margin = Math.min(capacity, Math.max(minCapacity, capacity * START_MARGIN))
    const top = idle ? Math.min(cap, capacity - margin) : cap
    // Never lowered by the cap: a slice taken after the level was reached does not take budget back.
    return current > top && !idle ? Math.min(current, capacity) : Math.min(top, refilled)
  }
  return {
    ...row,
    requests: level(row.requests, limits.rpm, 1, heldR),
    tokens: level(row.tokens, limits.tpm, 0, heldT),
    // A holder whose clock was read before it waited for the lock is behind the last writer: moving
    // `at` back would refill that stretch twice.
    at: row.at === null ? now : Math.max(row.at, now)
  }
}
