/**
 * Feeds the engine's Effect metrics (`Telemetry/Metrics.ts`) from the store port that the service's
 * workers write through: claims and hand-backs move the in-flight gauge, group commits count outcomes
 * and time items, and the per-run metric deltas the worker flushes carry retries, 429s, admission
 * waits, tokens, cost and cache lookups.
 *
 * Why here: the worker computes all of this per group commit and writes it through the store, so the
 * store's edge sees every figure once without the engine knowing about metrics. If the worker ever
 * records these metrics itself, drop this layer, or they are counted twice.
 *
 * @since 0.1.0
 */
import { Effect, Layer, Metric } from "effect"
import type { RunMetrics } from "../Domain/Run.js"
import * as Outcome from "../Domain/Outcome.js"
import * as CircuitBreaker from "../Engine/CircuitBreaker.js"
import { Store } from "../Store/Store.js"
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

/**
 * A store that records the engine metrics as the worker writes through it.
 *
 * @since 0.1.0
 */
export const metered = (store: Store["Type"]): Store["Type"] =>
  Store.of({
    ...store,
    claim: (options) =>
      Effect.tap(store.claim(options), (items) =>
        items.length > 0 ? Metric.incrementBy(Metrics.itemsInFlight, items.length) : Effect.void
      ),
    complete: (completions) =>
      Effect.tap(store.complete(completions), (written) =>
        Effect.gen(function* () {
          if (completions.length === 0) return
          yield* Metric.incrementBy(Metrics.itemsInFlight, -completions.length)
          yield* Metric.update(Metrics.commitSize, completions.length)
          for (let i = 0; i < completions.length; i++) {
            // Not written: the lease was lost, and whoever holds it now reports the item.
            if (written[i] !== true) continue
            const c = completions[i]!
            const status = Outcome.status(c.outcome)
            yield* Metric.increment(outcomeCounter[status])
            yield* Metric.update(duration[status], Math.max(0, c.finishedAt - c.startedAt) / 1000)
          }
        })
      ),
    release: (releases) =>
      Effect.tap(store.release(releases), () =>
        releases.length === 0
          ? Effect.void
          : Effect.zipRight(
              Metric.incrementBy(Metrics.itemsReleasedTotal, releases.length),
              Metric.incrementBy(Metrics.itemsInFlight, -releases.length)
            )
      ),
    releaseOwner: (owner) =>
      Effect.tap(store.releaseOwner(owner), (n) =>
        n === 0
          ? Effect.void
          : Effect.zipRight(
              Metric.incrementBy(Metrics.itemsReleasedTotal, n),
              Metric.incrementBy(Metrics.itemsInFlight, -n)
            )
      ),
    addMetrics: (run, delta) => Effect.zipLeft(store.addMetrics(run, delta), fromDelta(delta))
  })

/**
 * Replaces the `Store` in context with its metered self.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Store, never, Store> = Layer.effect(
  Store,
  Effect.zipLeft(
    Effect.map(Store, metered),
    // Every counter is scraped from the start, at 0, rather than appearing at its first increment.
    Metrics.register([
      ...Metrics.registered,
      ...(["open", "half-open", "closed"] as const).map((to) =>
        Metric.tagged(CircuitBreaker.transitionsTotal, "to", to)
      )
    ])
  )
)
