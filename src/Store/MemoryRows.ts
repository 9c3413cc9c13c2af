/**
 * The in-memory store's rows, and its read-only queries: the part of `MemoryStore.ts` that only looks.
 *
 * @since 0.1.0
 */
import { Clock, Effect } from "effect"
import { emptyCounts, type RunCounts, type RunMetrics } from "../Domain/Run.js"
import type { ErrorRow, FailureRow, FailureTag, ResultRow, RunInfo, WorkerBeat, WorkerRow } from "./Store.js"

/** @since 0.1.0 */
export type Status = ResultRow["status"]

/** One item. @since 0.1.0 */
export interface Row {
  readonly seq: number
  key: string
  /** JSON text; null for a line that could not be read (nothing to process again). */
  readonly payload: string | null
  readonly line: number | null
  status: Status
  result: string | null
  errorTag: string | null
  errorMessage: string | null
  attempts: number
  deliveries: number
  route: string | null
  leaseOwner: string | null
  leaseExpires: number
  notBefore: number
  startedAt: number | null
  finishedAt: number | null
}

/** One run and its items. @since 0.1.0 */
export interface RunState {
  info: RunInfo
  /** JSON text of the config, so a stored config is a copy, as in the SQL stores. */
  config: string
  metrics: RunMetrics
  nextSeq: number
  readonly bySeq: Map<number, Row>
  readonly byKey: Map<string, Row>
  /** Rows in seq order: claims, results and pages walk it. */
  readonly ordered: Array<Row>
}

/** Inserts `row` into `rows`, kept in seq order; appending (the usual case) costs nothing. */
/** @since 0.1.0 */
export const insertOrdered = (rows: Array<Row>, row: Row) => {
  if (rows.length === 0 || rows[rows.length - 1]!.seq < row.seq) return void rows.push(row)
  let lo = 0
  let hi = rows.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (rows[mid]!.seq < row.seq) lo = mid + 1
    else hi = mid
  }
  rows.splice(lo, 0, row)
}

/** @since 0.1.0 */
export const runInfo = (state: RunState): RunInfo => ({ ...state.info, config: JSON.parse(state.config) })

/** A worker's last heartbeat. @since 0.1.0 */
export type WorkerState = WorkerBeat & { seenAt: number }

/**
 * The owner still holds the row's lease (under `lease`, the delivery it was claimed as, when given).
 *
 * @since 0.1.0
 */
export const holds = (row: Row | undefined, owner: string, lease: number | undefined): row is Row =>
  row !== undefined &&
  row.status === "processing" &&
  row.leaseOwner === owner &&
  (lease === undefined || row.deliveries === lease)

/**
 * The read-only methods of the Store port over the store's maps (runs in the order they were opened).
 *
 * @since 0.1.0
 */
export const makeReads = (runs: ReadonlyMap<string, RunState>, workerRows: ReadonlyMap<string, WorkerState>) => {
  /** The runs a read covers: one, or all in the order they were opened. */
  const scope = (run: string | undefined): ReadonlyArray<RunState> => {
    if (run === undefined) return [...runs.values()]
    const state = runs.get(run)
    return state === undefined ? [] : [state]
  }
  const allRows = (run: string | undefined) =>
    scope(run).flatMap((state) => state.ordered.map((row) => ({ run: state.info.id, row })))

  const counts = (run?: string) =>
    Effect.sync((): RunCounts => {
      const c = { ...emptyCounts }
      for (const { row } of allRows(run)) c[row.status]++
      return c
    })

  const results = (run: string, opts: { readonly afterSeq: number; readonly limit: number }) =>
    Effect.sync(() =>
      allRows(run)
        .filter(({ row }) => row.seq > opts.afterSeq)
        .slice(0, Math.max(0, opts.limit))
        .map(({ row }): ResultRow => ({
          seq: row.seq,
          key: row.key,
          status: row.status,
          outputJson: row.result,
          errorTag: row.errorTag,
          errorMessage: row.errorMessage,
          attempts: row.attempts
        }))
    )

  const lastErrors = (run: string | undefined, limit: number) =>
    Effect.sync(() =>
      allRows(run)
        .map((r, i) => ({ ...r, i }))
        .filter(({ row }) => row.status === "failed")
        .sort((a, b) => (b.row.finishedAt ?? -Infinity) - (a.row.finishedAt ?? -Infinity) || b.i - a.i)
        .slice(0, Math.max(0, limit))
        .map(({ run, row }): ErrorRow => ({
          run,
          seq: row.seq,
          key: row.key,
          errorTag: row.errorTag ?? "Unknown",
          errorMessage: row.errorMessage ?? "",
          attempts: row.attempts,
          finishedAt: row.finishedAt
        }))
    )

  const failures = (
    run: string,
    opts: { readonly tag?: string | undefined; readonly afterSeq: number; readonly limit: number }
  ) =>
    Effect.sync(() =>
      allRows(run)
        .filter(
          ({ row }) =>
            row.status === "failed" && row.seq > opts.afterSeq && (opts.tag === undefined || row.errorTag === opts.tag)
        )
        .slice(0, Math.max(0, opts.limit))
        .map(({ row }): FailureRow => ({
          seq: row.seq,
          key: row.key,
          line: row.line,
          errorTag: row.errorTag ?? "Unknown",
          errorMessage: row.errorMessage ?? "",
          attempts: row.attempts,
          finishedAt: row.finishedAt,
          retryable: row.payload !== null
        }))
    )

  const failureTags = (run: string) =>
    Effect.sync(() => {
      const byTag = new Map<string, { count: number; retryable: number }>()
      for (const { row } of allRows(run)) {
        if (row.status !== "failed") continue
        const tag = row.errorTag ?? "Unknown"
        const t = byTag.get(tag) ?? { count: 0, retryable: 0 }
        t.count++
        if (row.payload !== null) t.retryable++
        byTag.set(tag, t)
      }
      return [...byTag]
        .map(([tag, t]): FailureTag => ({ tag, ...t }))
        .sort((a, b) => b.count - a.count || (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0))
    })

  const finishedOverTime = (run: string, bucketMs: number) =>
    Effect.sync(() => {
      const size = Math.max(1, Math.floor(bucketMs))
      const buckets = new Map<number, number>()
      for (const { row } of allRows(run)) {
        if (row.finishedAt === null) continue
        const at = Math.floor(row.finishedAt / size) * size
        buckets.set(at, (buckets.get(at) ?? 0) + 1)
      }
      return [...buckets].sort(([a], [b]) => a - b).map(([atMs, finished]) => ({ atMs, finished }))
    })

  const workers = Effect.map(Clock.currentTimeMillis, (now) =>
    [...workerRows.values()]
      .filter((w) => w.seenAt + w.leaseMs > now)
      .sort((a, b) => a.startedAt - b.startedAt || (a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : 0))
      .map((w): WorkerRow => ({
        owner: w.owner,
        host: w.host,
        pid: w.pid,
        concurrency: w.concurrency,
        leaseMs: w.leaseMs,
        startedAt: w.startedAt,
        seenAt: w.seenAt,
        holding: allRows(undefined).filter(({ row }) => holds(row, w.owner, undefined)).length
      }))
  )

  return { allRows, counts, results, lastErrors, failures, failureTags, finishedOverTime, workers }
}
