/**
 * A run as the API shows it: counts and totals from the store (the truth, shared by every process on
 * the database), rates from this process's progress (what it has seen happen).
 *
 * @since 0.1.0
 */
import { Clock, Effect } from "effect"
import { total, type RunCounts, type RunMetrics } from "../Domain/Run.js"
import type { RunProgress } from "../Engine/Progress.js"
import { Progress } from "../Engine/Progress.js"
import { Store, type RunInfo, type StoreError } from "../Store/Store.js"
import type { RunView } from "./Api.js"

const round = (n: number, digits: number) => {
  const f = 10 ** digits
  return Math.round(n * f) / f
}

/**
 * The store's sums cover every session but the worker writes them about once a second; this
 * process's progress is current but covers only its session. Both undercount, so take the larger.
 */
const atLeast = (stored: number, session: number | undefined) => Math.max(stored, session ?? 0)

/**
 * Builds the view. Throughput is items finished by this process per second since it started on the
 * run, measured to the last commit while the run is done and to `now` while it is not (so a stalled
 * run shows its rate falling); the ETA divides what is left by it.
 *
 * @since 0.1.0
 */
export const make = (
  info: RunInfo,
  counts: RunCounts,
  metrics: RunMetrics,
  progress: RunProgress | undefined,
  now: number
): RunView => {
  const left = counts.pending + counts.processing
  const recorded = info.fetchedAt !== null
  let throughput: number | null = null
  if (progress !== undefined && progress.finishedThisSession > 0) {
    const until = left > 0 ? now : progress.updatedAt
    throughput = round(progress.finishedThisSession / Math.max(0.001, (until - progress.startedAt) / 1000), 3)
  }
  const etaSeconds =
    left === 0 && recorded ? 0 : throughput !== null && throughput > 0 ? round(left / throughput, 1) : null
  return {
    run: info.id,
    createdAt: new Date(info.createdAt).toISOString(),
    recorded,
    done: recorded && left === 0,
    total: total(counts),
    counts,
    throughput,
    etaSeconds,
    meanItemMs: metrics.itemsTimed > 0 ? round(metrics.itemMs / metrics.itemsTimed, 1) : null,
    tokens: { in: atLeast(metrics.tokensIn, progress?.tokensIn), out: atLeast(metrics.tokensOut, progress?.tokensOut) },
    costUsd: round(atLeast(metrics.costUsd, progress?.costUsd), 6),
    retries: atLeast(metrics.retries, progress?.retries),
    rateLimitHits: atLeast(metrics.rateLimitHits, progress?.rateLimitHits),
    settings: info.config
  }
}

/**
 * The view of one stored run.
 *
 * @since 0.1.0
 */
export const load = (info: RunInfo): Effect.Effect<RunView, StoreError, Store | Progress> =>
  Effect.gen(function* () {
    const store = yield* Store
    const progress = yield* Progress
    const [counts, metrics, p] = yield* Effect.all([
      store.counts(info.id),
      store.metrics(info.id),
      progress.get(info.id)
    ])
    return make(info, counts, metrics, p, yield* Clock.currentTimeMillis)
  })
