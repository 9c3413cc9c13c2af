/**
 * The engine's Effect metrics (`Telemetry/Metrics.ts`), fed from `Events`: claims and hand-backs move
 * the in-flight gauge, group commits count outcomes, time items and carry the per-run deltas
 * (retries, 429s, admission waits, tokens, cost, cache lookups). Each figure comes from the one event
 * that announces it, so nothing is counted twice, whatever else listens or wraps the store.
 *
 * @since 0.1.0
 */
import { Effect, Layer, Metric } from "effect"
import * as Outcome from "../Domain/Outcome.js"
import type { RunMetrics } from "../Domain/Run.js"
import * as CircuitBreaker from "../Governor/CircuitBreaker.js"
import { type Event, type Events, listen } from "../Engine/Events.js"
import * as Metrics from "../Telemetry/Metrics.js"

const outcomeCounter = {
  completed: Metrics.itemsTotal.pipe(Metric.tagged("outcome", "completed")),
  skipped: Metrics.itemsTotal.pipe(Metric.tagged("outcome", "skipped")),
  failed: Metrics.itemsTotal.pipe(Metric.tagged("outcome", "failed"))
}
const duration = {
  completed: Metrics.itemDuration.pipe(Metric.tagged("outcome", "completed")),
  skipped: Metrics.itemDuration.pipe(Metric.tagged("outcome", "skipped")),
  failed: Metrics.itemDuration.pipe(Metric.tagged("outcome", "failed"))
}
const tokensIn = Metrics.tokensTotal.pipe(Metric.tagged("direction", "in"))
const tokensOut = Metrics.tokensTotal.pipe(Metric.tagged("direction", "out"))
const cacheHits = Metrics.cacheLookupsTotal.pipe(Metric.tagged("result", "hit"))
const cacheMisses = Metrics.cacheLookupsTotal.pipe(Metric.tagged("result", "miss"))

const addIf = (metric: Metric.Metric.Counter<number>, n: number | undefined) =>
  n !== undefined && n > 0 ? Metric.incrementBy(metric, n) : Effect.void

const fromDelta = (d: Partial<RunMetrics>) =>
  Effect.all(
    [
      addIf(Metrics.retriesTotal, d.retries),
      addIf(Metrics.rateLimitedTotal, d.rateLimitHits),
      addIf(Metrics.admissionWaitSeconds, d.admissionWaitMs === undefined ? undefined : d.admissionWaitMs / 1000),
      addIf(tokensIn, d.tokensIn),
      addIf(tokensOut, d.tokensOut),
      addIf(Metrics.costUsdTotal, d.costUsd),
      addIf(cacheHits, d.cacheHits),
      addIf(cacheMisses, d.cacheMisses)
    ],
    { discard: true }
  )

const record = (event: Event): Effect.Effect<void> =>
  Effect.gen(function* () {
    switch (event._tag) {
      case "Recorded":
        return
      case "Claimed":
        if (event.items.length > 0) yield* Metric.incrementBy(Metrics.itemsInFlight, event.items.length)
        return
      case "Committed": {
        for (const delta of event.metrics.values()) yield* fromDelta(delta)
        if (event.items.length === 0) return
        yield* Metric.incrementBy(Metrics.itemsInFlight, -event.items.length)
        yield* Metric.update(Metrics.commitSize, event.items.length)
        for (const c of event.items) {
          // Not written: the lease was lost, and whoever holds it now reports the item.
          if (!c.written) continue
          const status = Outcome.status(c.completion.outcome)
          yield* Metric.increment(outcomeCounter[status])
          yield* Metric.update(duration[status], Math.max(0, c.completion.finishedAt - c.completion.startedAt) / 1000)
        }
        return
      }
      case "Released": {
        const n = event.items.length + event.swept
        if (n === 0) return
        yield* Metric.incrementBy(Metrics.itemsReleasedTotal, n)
        yield* Metric.incrementBy(Metrics.itemsInFlight, -n)
      }
    }
  })

/**
 * Records the engine metrics while the layer is open; every counter is scraped from the start, at 0,
 * rather than appearing at its first increment.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<never, never, Events> = Layer.scopedDiscard(
  Effect.zipRight(
    Metrics.register([
      ...Metrics.registered,
      ...(["open", "half-open", "closed"] as const).map((to) =>
        Metric.tagged(CircuitBreaker.transitionsTotal, "to", to)
      )
    ]),
    listen("metrics", (events) => Effect.forEach(events, record, { discard: true }))
  )
)
