/**
 * The engine's metrics, as Effect `Metric`s: counted once per group commit, not per item, so they
 * cost nothing on the hot path. `Prometheus.ts` renders them for `GET /metrics`.
 *
 * @since 0.1.0
 */
import { Effect, Metric, MetricBoundaries } from "effect"

/** Items brought to an outcome, tagged `outcome` = completed | skipped | failed. @since 0.1.0 */
export const itemsTotal = Metric.counter("sluice_items_total", {
  description: "Items brought to an outcome",
  incremental: true
})

/** Items handed back to pending without an outcome (circuit open, budget, shutdown). @since 0.1.0 */
export const itemsReleasedTotal = Metric.counter("sluice_items_released_total", {
  description: "Items handed back to pending without an outcome",
  incremental: true
})

/** Items leased by this process and not yet committed. @since 0.1.0 */
export const itemsInFlight = Metric.gauge("sluice_items_in_flight", {
  description: "Items leased by this process and not yet committed"
})

/** Seconds an item spent in the stages, tagged `outcome`. @since 0.1.0 */
export const itemDuration = Metric.histogram(
  "sluice_item_duration_seconds",
  MetricBoundaries.exponential({ start: 0.001, factor: 2, count: 18 }),
  "Seconds an item spent in classify, process and persist"
)

/** Transient failures that were retried. @since 0.1.0 */
export const retriesTotal = Metric.counter("sluice_retries_total", {
  description: "Retried attempts",
  incremental: true
})

/** 429 answers from upstreams. @since 0.1.0 */
export const rateLimitedTotal = Metric.counter("sluice_rate_limited_total", {
  description: "429 answers from upstreams",
  incremental: true
})

/** Seconds items waited before being admitted (rate limits and 429 pauses). @since 0.1.0 */
export const admissionWaitSeconds = Metric.counter("sluice_admission_wait_seconds_total", {
  description: "Seconds items waited for admission",
  incremental: true
})

/** LLM tokens, tagged `direction` = in | out. @since 0.1.0 */
export const tokensTotal = Metric.counter("sluice_tokens_total", { description: "LLM tokens", incremental: true })

/** Estimated spend. @since 0.1.0 */
export const costUsdTotal = Metric.counter("sluice_cost_usd_total", {
  description: "Estimated spend in USD",
  incremental: true
})

/** Response cache lookups, tagged `result` = hit | miss. @since 0.1.0 */
export const cacheLookupsTotal = Metric.counter("sluice_cache_lookups_total", {
  description: "Response cache lookups",
  incremental: true
})

/** Group commits and their size. @since 0.1.0 */
export const commitSize = Metric.histogram(
  "sluice_commit_items",
  MetricBoundaries.exponential({ start: 1, factor: 2, count: 12 }),
  "Items per group commit"
)

/**
 * Every engine metric with each of its label sets, so a scrape shows them at 0 from the start: a
 * counter that appears only after its first increment makes `rate()` miss that increment, and an
 * alert on "no failures series" cannot tell "none yet" from "not scraped".
 *
 * @since 0.1.0
 */
export const registered: ReadonlyArray<Metric.Metric<any, any, any>> = [
  ...(["completed", "skipped", "failed"] as const).flatMap((outcome) => [
    itemsTotal.pipe(Metric.tagged("outcome", outcome)),
    itemDuration.pipe(Metric.tagged("outcome", outcome))
  ]),
  itemsReleasedTotal,
  itemsInFlight,
  retriesTotal,
  rateLimitedTotal,
  admissionWaitSeconds,
  tokensTotal.pipe(Metric.tagged("direction", "in")),
  tokensTotal.pipe(Metric.tagged("direction", "out")),
  costUsdTotal,
  cacheLookupsTotal.pipe(Metric.tagged("result", "hit")),
  cacheLookupsTotal.pipe(Metric.tagged("result", "miss")),
  commitSize
]

/**
 * Registers `metrics` in Effect's registry without changing them (reading a metric creates it).
 *
 * @since 0.1.0
 */
export const register = (metrics: ReadonlyArray<Metric.Metric<any, any, any>>): Effect.Effect<void> =>
  Effect.forEach(metrics, (m) => Metric.value(m), { discard: true })
