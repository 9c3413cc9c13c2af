/**
 * Live progress, fed from `Events`: records, claims, commits and hand-backs move each run's counts
 * and this session's totals. Once per event (a batch), never per item.
 *
 * @since 0.1.0
 */
import { Effect, Layer, type Scope } from "effect"
import * as Outcome from "../Domain/Outcome.js"
import type { RunCounts } from "../Domain/Run.js"
import { type Event, Events, listen } from "./Events.js"
import { addCounts, Progress, type RunProgress } from "./Progress.js"

type Counts = Record<keyof RunCounts, number>
const zero = (): Counts => ({ pending: 0, processing: 0, completed: 0, skipped: 0, failed: 0 })

/** The progress changes one event makes, per run. */
const changes = (event: Event): Map<string, (p: RunProgress) => RunProgress> => {
  const out = new Map<string, (p: RunProgress) => RunProgress>()
  switch (event._tag) {
    case "Recorded": {
      out.set(event.run, (p) => ({
        ...p,
        counts: addCounts(p.counts, { pending: event.pending, failed: event.failed })
      }))
      return out
    }
    case "Claimed": {
      const n = new Map<string, number>()
      for (const it of event.items) n.set(it.run, (n.get(it.run) ?? 0) + 1)
      for (const [run, k] of n)
        out.set(run, (p) => ({ ...p, counts: addCounts(p.counts, { pending: -k, processing: k }) }))
      return out
    }
    case "Committed": {
      const counts = new Map<string, Counts>()
      for (const c of event.items) {
        let e = counts.get(c.item.run)
        if (e === undefined) counts.set(c.item.run, (e = zero()))
        e.processing--
        if (c.written) e[Outcome.status(c.completion.outcome)]++
      }
      for (const run of event.metrics.keys()) if (!counts.has(run)) counts.set(run, zero())
      for (const [run, e] of counts) {
        const m = event.metrics.get(run) ?? {}
        out.set(run, (p) => ({
          ...p,
          counts: addCounts(p.counts, e),
          finishedThisSession: p.finishedThisSession + e.completed + e.skipped + e.failed,
          retries: p.retries + (m.retries ?? 0),
          rateLimitHits: p.rateLimitHits + (m.rateLimitHits ?? 0),
          tokensIn: p.tokensIn + (m.tokensIn ?? 0),
          tokensOut: p.tokensOut + (m.tokensOut ?? 0),
          costUsd: p.costUsd + (m.costUsd ?? 0)
        }))
      }
      return out
    }
    case "Released": {
      const n = new Map<string, number>()
      for (const r of event.items) n.set(r.item.run, (n.get(r.item.run) ?? 0) + 1)
      for (const [run, k] of n)
        out.set(run, (p) => ({ ...p, counts: addCounts(p.counts, { processing: -k, pending: k }), held: p.held + k }))
      return out
    }
  }
}

/**
 * Keeps `Progress` following the events until the scope closes.
 *
 * @since 0.1.0
 */
export const follow: Effect.Effect<void, never, Events | Progress | Scope.Scope> = Effect.flatMap(
  Progress,
  (progress) =>
    listen("progress", (events) =>
      Effect.forEach(
        events,
        (event) => Effect.forEach(changes(event), ([run, f]) => progress.update(run, f), { discard: true }),
        { discard: true }
      )
    )
)

/**
 * `follow` for as long as the layer is open.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<never, never, Events | Progress> = Layer.scopedDiscard(follow)
