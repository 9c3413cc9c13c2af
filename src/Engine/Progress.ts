/**
 * Live progress per run: counts by status, what this session did, and when it started. The engine
 * reports once per group commit, not per item, so watching costs nothing on the hot path.
 *
 * @since 0.1.0
 */
import { Clock, Context, Effect, Layer, type Stream, SubscriptionRef } from "effect"
import { emptyCounts, type RunCounts } from "../Domain/Run.js"

/**
 * @since 0.1.0
 */
export interface RunProgress {
  readonly run: string
  /** Items per status as this process knows them (seeded from the store, then kept by deltas). */
  readonly counts: RunCounts
  /** Items this session finished (completed, skipped or failed). */
  readonly finishedThisSession: number
  readonly retries: number
  readonly rateLimitHits: number
  /** Items handed back to pending because the circuit is open or the budget is reached. */
  readonly held: number
  readonly tokensIn: number
  readonly tokensOut: number
  readonly costUsd: number
  readonly startedAt: number
  readonly updatedAt: number
  /** True once the source has been read to its end, so the total is final. */
  readonly sourceDone: boolean
}

/** @since 0.1.0 */
export type ProgressMap = ReadonlyMap<string, RunProgress>

/**
 * @since 0.1.0
 * @category tags
 */
export class Progress extends Context.Tag("sluice/Engine/Progress")<
  Progress,
  {
    readonly update: (run: string, f: (p: RunProgress) => RunProgress) => Effect.Effect<void>
    readonly get: (run: string) => Effect.Effect<RunProgress | undefined>
    readonly all: Effect.Effect<ProgressMap>
    readonly changes: Stream.Stream<ProgressMap>
  }
>() {}

/** @since 0.1.0 */
export const initial = (run: string, now: number): RunProgress => ({
  run,
  counts: emptyCounts,
  finishedThisSession: 0,
  retries: 0,
  rateLimitHits: 0,
  held: 0,
  tokensIn: 0,
  tokensOut: 0,
  costUsd: 0,
  startedAt: now,
  updatedAt: now,
  sourceDone: false
})

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.gen(function* () {
  const ref = yield* SubscriptionRef.make<ProgressMap>(new Map())
  const update = (run: string, f: (p: RunProgress) => RunProgress) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      SubscriptionRef.update(ref, (m) => {
        const next = new Map(m)
        next.set(run, { ...f(m.get(run) ?? initial(run, now)), updatedAt: now })
        return next
      })
    )
  return Progress.of({
    update,
    get: (run) => Effect.map(SubscriptionRef.get(ref), (m) => m.get(run)),
    all: SubscriptionRef.get(ref),
    changes: ref.changes
  })
})

/**
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Progress> = Layer.effect(Progress, make)

/**
 * Adds to some counts, for the reporting helpers below.
 *
 * @since 0.1.0
 */
export const addCounts = (c: RunCounts, d: Partial<RunCounts>): RunCounts => ({
  pending: c.pending + (d.pending ?? 0),
  processing: c.processing + (d.processing ?? 0),
  completed: c.completed + (d.completed ?? 0),
  skipped: c.skipped + (d.skipped ?? 0),
  failed: c.failed + (d.failed ?? 0)
})

/**
 * Items that reached an outcome.
 *
 * @since 0.1.0
 */
export const finished = (c: RunCounts): number => c.completed + c.skipped + c.failed

/**
 * Items still to do: pending or in the stages.
 *
 * @since 0.1.0
 */
export const remaining = (c: RunCounts): number => c.pending + c.processing

/**
 * Upstream tokens (prompt and completion) per item finished in this session, as the processor
 * reported them; undefined before any.
 *
 * @since 0.1.0
 */
export const tokensPerItem = (p: RunProgress): number | undefined =>
  p.finishedThisSession > 0 && p.tokensIn + p.tokensOut > 0
    ? (p.tokensIn + p.tokensOut) / p.finishedThisSession
    : undefined
