/**
 * What the run page shows, read fresh on every request: counts, tokens and cost from the store (the
 * truth, shared by every process and kept across restarts), the throughput history from the items'
 * finish times (so the chart and the ETA survive a restart too), the failed items, and the limits'
 * live use from this process's meter.
 *
 * @since 0.1.0
 */
import { Clock, Effect, Option } from "effect"
import * as RunConfig from "../../Domain/RunConfig.js"
import * as Eta from "../../Engine/Eta.js"
import type { Progress } from "../../Engine/Progress.js"
import {
  Store,
  type FailureRow,
  type FailureTag,
  type FinishedBucket,
  type RunInfo,
  type StoreError
} from "../../Store/Store.js"
import type { RunView } from "../Api.js"
import { LimitsMeter, type LimitsView } from "../LimitsMeter.js"
import * as RunViewModule from "../RunView.js"

/** Failed items per page. @since 0.1.0 */
export const FAILURES_PAGE = 50

/** @since 0.1.0 */
export interface FailureFilter {
  readonly tag?: string | undefined
  /** Show failures after this seq (exclusive); -1 for the first page. */
  readonly after: number
}

/** @since 0.1.0 */
export interface RunData {
  readonly info: RunInfo
  readonly view: RunView
  readonly now: number
  /** Whether the run's stages call a model (else its pace is the engine's, and no limit applies). */
  readonly usesModel: boolean
  readonly isCsv: boolean
  readonly source: string | undefined
  readonly eta: { readonly text: string; readonly boundBy: Eta.Binding | undefined }
  readonly series: { readonly bucketMs: number; readonly buckets: ReadonlyArray<FinishedBucket> }
  readonly limits: LimitsView
  readonly tags: ReadonlyArray<FailureTag>
  readonly failures: ReadonlyArray<FailureRow>
  readonly filter: FailureFilter
  readonly more: boolean
}

/** About 60 points over the run's life so far, whole seconds, at least one second each. */
export const bucketMsFor = (ageMs: number): number => Math.max(1000, Math.ceil(ageMs / 60 / 1000) * 1000)

/** The window the ETA's observed rate is measured over. */
const ETA_WINDOW_MS = 30_000

/**
 * The ETA and what binds it: the rate observed over the last half minute of finish times, against the
 * rate the tightest known limit allows at the run's observed tokens per item (`Eta.estimate`).
 *
 * @since 0.1.0
 */
export const etaOf = (input: {
  readonly view: RunView
  readonly buckets: ReadonlyArray<FinishedBucket>
  readonly bucketMs: number
  readonly now: number
  readonly usesModel: boolean
  readonly limits: LimitsView
}): RunData["eta"] => {
  const { view, now } = input
  if (view.done) return { text: "done", boundBy: undefined }
  const remaining = view.counts.pending + view.counts.processing
  const window = Math.max(ETA_WINDOW_MS, 3 * input.bucketMs)
  const start = now - window
  let finished = 0
  let first: number | undefined
  for (const b of input.buckets) {
    if (b.atMs + input.bucketMs <= start) continue
    finished += b.finished
    first ??= b.atMs
  }
  const elapsedMs = first === undefined ? 0 : now - Math.max(start, first)
  const finishedAll = view.counts.completed + view.counts.skipped + view.counts.failed
  const tokens = view.tokens.in + view.tokens.out
  const eta = Eta.estimate({
    remaining,
    finished,
    elapsedMs,
    tokensPerItem: finishedAll > 0 && tokens > 0 ? tokens / finishedAll : undefined,
    rpm: input.usesModel ? input.limits.rpm.limit : undefined,
    tpm: input.usesModel ? input.limits.tpm.limit : undefined,
    waiting: input.usesModel ? input.limits.waiting : 0,
    waitingFor: input.usesModel ? input.limits.boundBy : undefined
  })
  const text = Eta.format(eta)
  if (text === undefined) return { text: view.recorded ? "–" : "recording…", boundBy: undefined }
  return { text: view.recorded ? text : `${text} (still recording)`, boundBy: eta.boundBy }
}

/** The run's stored settings, when they are sluice's own. */
const configOf = (info: RunInfo) => RunConfig.decodeOption(info.config)

/** @since 0.1.0 */
export const sourceOf = (info: RunInfo): string | undefined =>
  Option.getOrUndefined(Option.flatMapNullable(configOf(info), (c) => c.source))

/**
 * A CSV run: made from a `.csv` file (uploaded or given to `sluice run`), so its results can go back as CSV.
 *
 * @since 0.1.0
 */
export const isCsvRun = (info: RunInfo): boolean => /\.csv$/i.test(sourceOf(info) ?? "")

/** @since 0.1.0 */
export const usesModel = (info: RunInfo): boolean =>
  Option.match(configOf(info), {
    onNone: () => true,
    onSome: (c) => c.processor === "llm" || c.classify !== undefined
  })

/**
 * The view and ETA of one run, as the runs list shows them.
 *
 * @since 0.1.0
 */
export const summary = (info: RunInfo, limits: LimitsView) =>
  Effect.gen(function* () {
    const store = yield* Store
    const view = yield* RunViewModule.load(info)
    const now = yield* Clock.currentTimeMillis
    const bucketMs = bucketMsFor(now - info.createdAt)
    // A finished run needs no history for its ETA: spare the store the scan.
    const buckets = view.done ? [] : yield* store.finishedOverTime(info.id, bucketMs)
    const model = usesModel(info)
    return {
      view,
      now,
      bucketMs,
      buckets,
      usesModel: model,
      eta: etaOf({ view, buckets, bucketMs, now, usesModel: model, limits })
    }
  })

/**
 * Everything the run page shows.
 *
 * @since 0.1.0
 */
export const load = (
  info: RunInfo,
  filter: FailureFilter
): Effect.Effect<RunData, StoreError, Store | Progress | LimitsMeter> =>
  Effect.gen(function* () {
    const store = yield* Store
    const limits = yield* Effect.flatMap(LimitsMeter, (m) => m.view)
    const s = yield* summary(info, limits)
    const buckets = s.view.done ? yield* store.finishedOverTime(info.id, s.bucketMs) : s.buckets
    const [tags, page] = yield* Effect.all([
      store.failureTags(info.id),
      store.failures(info.id, { tag: filter.tag, afterSeq: filter.after, limit: FAILURES_PAGE + 1 })
    ])
    return {
      info,
      view: s.view,
      now: s.now,
      usesModel: s.usesModel,
      isCsv: isCsvRun(info),
      source: sourceOf(info),
      eta: s.eta,
      series: { bucketMs: s.bucketMs, buckets },
      limits,
      tags,
      failures: page.slice(0, FAILURES_PAGE),
      filter,
      more: page.length > FAILURES_PAGE
    }
  })
