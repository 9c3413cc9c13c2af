/**
 * Rows as the SQL stores read them, and how they become the port's values. Shared by `SqliteStore`
 * and `PgStore`, whose columns are the same; PostgreSQL returns 64-bit integers as strings, so every
 * number goes through `Number`.
 *
 * @since 0.1.0
 */
import { emptyCounts, type RunCounts, type RunMetrics } from "../Domain/Run.js"
import type { ErrorRow, FailureRow, FailureTag, ResultRow, RunInfo } from "./Store.js"

/** A number as a driver returns it: SQLite's number, PostgreSQL's bigint text. */
type Num = number | string

/** The `runs` columns that hold a run's summed metrics. @since 0.1.0 */
export const METRIC_COLUMNS: ReadonlyArray<readonly [keyof RunMetrics, string]> = [
  ["durationMs", "duration_ms"],
  ["itemMs", "item_ms"],
  ["itemsTimed", "items_timed"],
  ["rateLimitHits", "rate_limit_hits"],
  ["admissionWaitMs", "admission_wait_ms"],
  ["retries", "retries"],
  ["circuitTrips", "circuit_trips"],
  ["cacheHits", "cache_hits"],
  ["cacheMisses", "cache_misses"],
  ["tokensIn", "tokens_in"],
  ["tokensOut", "tokens_out"],
  ["costUsd", "cost_usd"]
]

/** A run's metrics from its `runs` row (zeros for a run not found). @since 0.1.0 */
export const metricsOf = (row: Record<string, Num | null> | undefined): RunMetrics => {
  const m: Record<string, number> = { concurrency: Number(row?.["concurrency"] ?? 0) }
  for (const [field, column] of METRIC_COLUMNS) m[field] = Number(row?.[column] ?? 0)
  return m as unknown as RunMetrics
}

/** Counts per status from `SELECT status, count(*) AS n … GROUP BY status`. @since 0.1.0 */
export const countsOf = (rows: ReadonlyArray<{ readonly status: string; readonly n: Num }>): RunCounts => {
  const c: Record<string, number> = { ...emptyCounts }
  for (const r of rows) c[r.status] = Number(r.n)
  return c as unknown as RunCounts
}

/** @since 0.1.0 */
export interface RunRow {
  readonly id: string
  readonly config: string
  readonly created_at: Num
  readonly fetched_at: Num | null
}

/** @since 0.1.0 */
export const runInfoOf = (r: RunRow): RunInfo => ({
  id: r.id,
  config: JSON.parse(r.config),
  createdAt: Number(r.created_at),
  fetchedAt: r.fetched_at === null ? null : Number(r.fetched_at)
})

/** @since 0.1.0 */
export interface ResultSqlRow {
  readonly seq: Num
  readonly key: string
  readonly status: ResultRow["status"]
  readonly result: string | null
  readonly error_tag: string | null
  readonly error_message: string | null
  readonly attempts: number
}

/** @since 0.1.0 */
export const resultOf = (r: ResultSqlRow): ResultRow => ({
  seq: Number(r.seq),
  key: r.key,
  status: r.status,
  outputJson: r.result,
  errorTag: r.error_tag,
  errorMessage: r.error_message,
  attempts: r.attempts
})

/** @since 0.1.0 */
export interface ErrorSqlRow {
  readonly run: string
  readonly seq: Num
  readonly key: string
  readonly error_tag: string
  readonly error_message: string
  readonly attempts: number
  readonly finished_at: Num | null
}

/** @since 0.1.0 */
export const errorOf = (r: ErrorSqlRow): ErrorRow => ({
  run: r.run,
  seq: Number(r.seq),
  key: r.key,
  errorTag: r.error_tag,
  errorMessage: r.error_message,
  attempts: r.attempts,
  finishedAt: r.finished_at === null ? null : Number(r.finished_at)
})

/** @since 0.1.0 */
export interface FailureSqlRow {
  readonly seq: Num
  readonly key: string
  readonly line: Num | null
  readonly error_tag: string | null
  readonly error_message: string | null
  readonly attempts: number
  readonly finished_at: Num | null
  readonly retryable: Num | boolean
}

/** @since 0.1.0 */
export const failureOf = (r: FailureSqlRow): FailureRow => ({
  seq: Number(r.seq),
  key: r.key,
  line: r.line === null ? null : Number(r.line),
  errorTag: r.error_tag ?? "Unknown",
  errorMessage: r.error_message ?? "",
  attempts: r.attempts,
  finishedAt: r.finished_at === null ? null : Number(r.finished_at),
  retryable: r.retryable === true || Number(r.retryable) === 1
})

/** @since 0.1.0 */
export const failureTagOf = (r: { tag: string | null; n: Num; retryable: Num | null }): FailureTag => ({
  tag: r.tag ?? "Unknown",
  count: Number(r.n),
  retryable: Number(r.retryable ?? 0)
})
