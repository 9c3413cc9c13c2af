/**
 * A run: a named, resumable batch of items. Keys are unique within it.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * Items per status.
 *
 * @since 0.1.0
 */
export const RunCounts = Schema.Struct({
  pending: Schema.Number,
  processing: Schema.Number,
  completed: Schema.Number,
  skipped: Schema.Number,
  failed: Schema.Number
})

/** @since 0.1.0 */
export type RunCounts = typeof RunCounts.Type

/** @since 0.1.0 */
export const emptyCounts: RunCounts = { pending: 0, processing: 0, completed: 0, skipped: 0, failed: 0 }

/** @since 0.1.0 */
export const total = (c: RunCounts): number => c.pending + c.processing + c.completed + c.skipped + c.failed

/**
 * Per-run metrics kept in the store (the flashcard team's list, and the admission figures).
 * Sums, so that several workers and several sessions of one run add up.
 *
 * @since 0.1.0
 */
export const RunMetrics = Schema.Struct({
  /** The concurrency bound the run was last started with. */
  concurrency: Schema.Number,
  /** Wall time spent processing, summed over sessions (a resumed run adds its new session). */
  durationMs: Schema.Number,
  /** Sum of per-item processing durations; mean = itemMs / itemsTimed. */
  itemMs: Schema.Number,
  itemsTimed: Schema.Number,
  /** 429s answered by the upstream. */
  rateLimitHits: Schema.Number,
  /** Milliseconds items spent waiting for admission (request and token buckets, pauses). */
  admissionWaitMs: Schema.Number,
  retries: Schema.Number,
  circuitTrips: Schema.Number,
  cacheHits: Schema.Number,
  cacheMisses: Schema.Number,
  tokensIn: Schema.Number,
  tokensOut: Schema.Number,
  costUsd: Schema.Number
})

/** @since 0.1.0 */
export type RunMetrics = typeof RunMetrics.Type

/** @since 0.1.0 */
export const emptyMetrics: RunMetrics = {
  concurrency: 0,
  durationMs: 0,
  itemMs: 0,
  itemsTimed: 0,
  rateLimitHits: 0,
  admissionWaitMs: 0,
  retries: 0,
  circuitTrips: 0,
  cacheHits: 0,
  cacheMisses: 0,
  tokensIn: 0,
  tokensOut: 0,
  costUsd: 0
}

/**
 * Adds two metric deltas; `concurrency` is a setting, not a sum, so the later one wins.
 *
 * @since 0.1.0
 */
export const addMetrics = (a: RunMetrics, b: Partial<RunMetrics>): RunMetrics => ({
  concurrency: b.concurrency ?? a.concurrency,
  durationMs: a.durationMs + (b.durationMs ?? 0),
  itemMs: a.itemMs + (b.itemMs ?? 0),
  itemsTimed: a.itemsTimed + (b.itemsTimed ?? 0),
  rateLimitHits: a.rateLimitHits + (b.rateLimitHits ?? 0),
  admissionWaitMs: a.admissionWaitMs + (b.admissionWaitMs ?? 0),
  retries: a.retries + (b.retries ?? 0),
  circuitTrips: a.circuitTrips + (b.circuitTrips ?? 0),
  cacheHits: a.cacheHits + (b.cacheHits ?? 0),
  cacheMisses: a.cacheMisses + (b.cacheMisses ?? 0),
  tokensIn: a.tokensIn + (b.tokensIn ?? 0),
  tokensOut: a.tokensOut + (b.tokensOut ?? 0),
  costUsd: a.costUsd + (b.costUsd ?? 0)
})

/**
 * Why a session of a run ended.
 *
 * @since 0.1.0
 */
export const StopReason = Schema.Literal("finished", "budget", "upstream", "interrupted")

/** @since 0.1.0 */
export type StopReason = typeof StopReason.Type

/**
 * What `Pipeline.run` yields, and what the CLI prints.
 *
 * @since 0.1.0
 */
export const RunSummary = Schema.Struct({
  run: Schema.String,
  counts: RunCounts,
  metrics: RunMetrics,
  /** Wall time of this session. */
  makespanMs: Schema.Number,
  stoppedBy: StopReason
})

/** @since 0.1.0 */
export type RunSummary = typeof RunSummary.Type
