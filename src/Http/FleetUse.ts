/**
 * The fleet's use of each limit for the limits panel, measured like this process's own: over the last
 * 15 s, or the fleet's current busy spell when that is younger.
 *
 * The fleet budget's row (`Store/Fleet.ts`) keeps what it handed out per minute-long window aligned to
 * the clock's minutes; its own per-minute figure (`FleetLedger.usedPerMinute`) is a sliding estimate
 * over the last minute, which reads a run at its limit as a sixth of it 10 s in. So the meter samples
 * the rows every second and turns the windows into running totals; a rate is then a difference of two
 * samples over the time between them.
 *
 * @since 0.1.0
 */
import type { FleetSnapshot } from "../Store/Fleet.js"

const MINUTE = 60_000

/**
 * One upstream's running totals as this meter saw them (from its first sighting, not from the start).
 *
 * @since 0.1.0
 */
export interface FleetTotals {
  readonly upstream: string
  readonly atMs: number
  /** Handed out since this meter first saw the row. */
  readonly requests: number
  readonly tokens: number
  /** The row's current window, to tell on the next sample what was added. */
  readonly windowAt: number
  readonly windowRequests: number
  readonly windowTokens: number
  /** When the current busy spell began (the sample before the first growth after `idleMs` without). */
  readonly spellStartMs: number
  readonly lastGrowthMs: number
  readonly rpm: number | undefined
  readonly tpm: number | undefined
  readonly holdersAlive: number
  readonly pausedUntilMs: number
}

/** What was handed out between two readings of the row. */
const added = (before: FleetTotals, row: FleetSnapshot["row"], field: "Requests" | "Tokens"): number => {
  const inWindow = row[`window${field}`]
  if (row.windowAt === before.windowAt) return Math.max(0, inWindow - before[`window${field}`])
  // The window moved on: the rest of the one we saw, when it is now the previous one, plus the new one.
  const restOfOld =
    row.windowAt - before.windowAt === MINUTE ? Math.max(0, row[`prev${field}`] - before[`window${field}`]) : 0
  return restOfOld + inWindow
}

/**
 * The totals after reading the rows at `atMs`.
 *
 * @since 0.1.0
 */
export const advance = (
  previous: ReadonlyMap<string, FleetTotals>,
  snapshots: ReadonlyArray<FleetSnapshot>,
  atMs: number,
  idleMs: number
): ReadonlyMap<string, FleetTotals> => {
  const next = new Map<string, FleetTotals>()
  for (const { holders, row } of snapshots) {
    const before = previous.get(row.upstream)
    const requests = before === undefined ? 0 : added(before, row, "Requests")
    const tokens = before === undefined ? 0 : added(before, row, "Tokens")
    const grew = requests > 0 || tokens > 0
    const lastGrowthMs = before === undefined ? Number.NEGATIVE_INFINITY : before.lastGrowthMs
    // A spell begins at the previous reading, the last moment known to be before its first call.
    const spellStartMs =
      before === undefined ? atMs : grew && atMs - lastGrowthMs > idleMs ? before.atMs : before.spellStartMs
    next.set(row.upstream, {
      upstream: row.upstream,
      atMs,
      requests: (before?.requests ?? 0) + requests,
      tokens: (before?.tokens ?? 0) + tokens,
      windowAt: row.windowAt,
      windowRequests: row.windowRequests,
      windowTokens: row.windowTokens,
      spellStartMs,
      lastGrowthMs: grew ? atMs : lastGrowthMs,
      rpm: row.rpm ?? undefined,
      tpm: row.tpm ?? undefined,
      holdersAlive: holders.filter((h) => h.seenUntil > atMs).length,
      pausedUntilMs: row.pausedUntil
    })
  }
  return next
}

/**
 * One upstream's use per minute at the latest reading, over `windowMs` or its busy spell when that is
 * younger, and at least `minMs`; `history` holds the earlier readings, oldest first.
 *
 * @since 0.1.0
 */
export const perMinute = (
  history: ReadonlyArray<ReadonlyMap<string, FleetTotals>>,
  latest: FleetTotals,
  windowMs: number,
  minMs: number
): { readonly requests: number; readonly tokens: number; readonly windowMs: number } => {
  const startMs = Math.max(latest.atMs - windowMs, latest.spellStartMs)
  let from: FleetTotals | undefined
  for (const sample of history) {
    const t = sample.get(latest.upstream)
    if (t === undefined) continue
    if (t.atMs <= startMs || from === undefined) from = t
    if (t.atMs > startMs) break
  }
  const base = from ?? latest
  const ms = Math.max(latest.atMs - base.atMs, minMs)
  return {
    requests: ((latest.requests - base.requests) * MINUTE) / ms,
    tokens: ((latest.tokens - base.tokens) * MINUTE) / ms,
    windowMs: ms
  }
}
