/**
 * The fleet budget's rows, as the store keeps them: one row per upstream (its shared buckets, its
 * paused-until and its use over the last minute) and one row per process drawing on it (a holder).
 *
 * The store only reads and writes these rows under a lock on the upstream's row; what they mean (how a
 * bucket refills, who may take a slice) is `Governor/FleetLedger.ts`, so both stores share one rule.
 *
 * @since 0.1.0
 */

/**
 * One upstream's shared state. `at` is null until the first slice is taken (a new row).
 *
 * @since 0.1.0
 */
export interface FleetRow {
  /** `base URL|model|key hash`: never the key itself. */
  readonly upstream: string
  /** The limits in force for the fleet (the smallest any live holder is given); null when none. */
  readonly rpm: number | null
  readonly tpm: number | null
  /** The shared buckets' levels at `at`; negative is a debt. */
  readonly requests: number
  readonly tokens: number
  readonly at: number | null
  /** Everyone waits until then (a 429 seen by any holder). */
  readonly pausedUntil: number
  /** 429s reported by the holders, summed. */
  readonly rateLimitHits: number
  /** What was handed out, per minute-long window: the current one (from `windowAt`) and the one before. */
  readonly windowAt: number
  readonly windowRequests: number
  readonly windowTokens: number
  readonly prevRequests: number
  readonly prevTokens: number
}

/**
 * One process drawing on an upstream's row.
 *
 * @since 0.1.0
 */
export interface FleetHolder {
  readonly upstream: string
  readonly holder: string
  /** The limits this process was given (or learned); null when it knows none. */
  readonly rpm: number | null
  readonly tpm: number | null
  /** The span of each limit its buckets hold (Admission's burst window); the fleet uses the smallest. */
  readonly windowMs: number
  /** Alive until then; each contact renews it. */
  readonly seenUntil: number
  /** What it may still hold of its slices: it counts against the shared buckets until `sliceUntil`. */
  readonly sliceRequests: number
  readonly sliceTokens: number
  readonly sliceUntil: number
  /** Everything it was ever handed, summed. */
  readonly takenRequests: number
  readonly takenTokens: number
  /**
   * What the head of its line waits for, since when (0: not waiting), and until when that stands
   * unless renewed: holders that waited longer are served first (FIFO across processes).
   */
  readonly wantRequests: number
  readonly wantTokens: number
  readonly waitingSince: number
  readonly waitingUntil: number
}

/**
 * An upstream's row and its holders, as read under the row's lock.
 *
 * @since 0.1.0
 */
export interface FleetSnapshot {
  readonly row: FleetRow
  readonly holders: ReadonlyArray<FleetHolder>
}

/**
 * What one step writes back, and what it returns to its caller.
 *
 * @since 0.1.0
 */
export interface FleetChange<A> {
  readonly row: FleetRow
  /** Holders to insert or replace. */
  readonly upsert: ReadonlyArray<FleetHolder>
  /** Holders to delete. */
  readonly remove: ReadonlyArray<string>
  readonly result: A
}

/**
 * A new row: nothing taken yet.
 *
 * @since 0.1.0
 */
export const emptyRow = (upstream: string): FleetRow => ({
  upstream,
  rpm: null,
  tpm: null,
  requests: 0,
  tokens: 0,
  at: null,
  pausedUntil: 0,
  rateLimitHits: 0,
  windowAt: 0,
  windowRequests: 0,
  windowTokens: 0,
  prevRequests: 0,
  prevTokens: 0
})

/** Columns as the SQL stores name them, in one order for reading and writing. */
export const ROW_COLUMNS = [
  ["upstream", "upstream"],
  ["rpm", "rpm"],
  ["tpm", "tpm"],
  ["requests", "requests"],
  ["tokens", "tokens"],
  ["at", "at"],
  ["pausedUntil", "paused_until"],
  ["rateLimitHits", "rate_limit_hits"],
  ["windowAt", "window_at"],
  ["windowRequests", "window_requests"],
  ["windowTokens", "window_tokens"],
  ["prevRequests", "prev_requests"],
  ["prevTokens", "prev_tokens"]
] as const satisfies ReadonlyArray<readonly [keyof FleetRow, string]>

/** @since 0.1.0 */
export const HOLDER_COLUMNS = [
  ["upstream", "upstream"],
  ["holder", "holder"],
  ["rpm", "rpm"],
  ["tpm", "tpm"],
  ["windowMs", "window_ms"],
  ["seenUntil", "seen_until"],
  ["sliceRequests", "slice_requests"],
  ["sliceTokens", "slice_tokens"],
  ["sliceUntil", "slice_until"],
  ["takenRequests", "taken_requests"],
  ["takenTokens", "taken_tokens"],
  ["wantRequests", "want_requests"],
  ["wantTokens", "want_tokens"],
  ["waitingSince", "waiting_since"],
  ["waitingUntil", "waiting_until"]
] as const satisfies ReadonlyArray<readonly [keyof FleetHolder, string]>

const num = (v: unknown): number => (typeof v === "number" ? v : Number(v))
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : num(v))

/**
 * A row as the driver returns it (Postgres gives bigints as text).
 *
 * @since 0.1.0
 */
export const rowOf = (r: Record<string, unknown>): FleetRow => ({
  upstream: String(r["upstream"]),
  rpm: numOrNull(r["rpm"]),
  tpm: numOrNull(r["tpm"]),
  requests: num(r["requests"]),
  tokens: num(r["tokens"]),
  at: numOrNull(r["at"]),
  pausedUntil: num(r["paused_until"]),
  rateLimitHits: num(r["rate_limit_hits"]),
  windowAt: num(r["window_at"]),
  windowRequests: num(r["window_requests"]),
  windowTokens: num(r["window_tokens"]),
  prevRequests: num(r["prev_requests"]),
  prevTokens: num(r["prev_tokens"])
})

/** @since 0.1.0 */
export const holderOf = (r: Record<string, unknown>): FleetHolder => ({
  upstream: String(r["upstream"]),
  holder: String(r["holder"]),
  rpm: numOrNull(r["rpm"]),
  tpm: numOrNull(r["tpm"]),
  windowMs: num(r["window_ms"]),
  seenUntil: num(r["seen_until"]),
  sliceRequests: num(r["slice_requests"]),
  sliceTokens: num(r["slice_tokens"]),
  sliceUntil: num(r["slice_until"]),
  takenRequests: num(r["taken_requests"]),
  takenTokens: num(r["taken_tokens"]),
  wantRequests: num(r["want_requests"]),
  wantTokens: num(r["want_tokens"]),
  waitingSince: num(r["waiting_since"]),
  waitingUntil: num(r["waiting_until"])
})
