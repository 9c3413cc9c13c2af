/**
 * A pipeline run: the source is recorded into the store before any stage touches an item, the worker
 * takes items through classify → process → persist, and the ordered output follows the store.
 * Running it again with the same run id resumes where it stopped.
 *
 * @since 0.1.0
 */
import { Clock, type Duration, Effect, Layer, Queue, Ref } from "effect"
import * as os from "node:os"
import { randomUUID } from "node:crypto"
import type { StageError } from "../Domain/Errors.js"
import type { RunSummary } from "../Domain/Run.js"
import { Classifier, layerAll } from "../Stages/Classifier.js"
import { Fetcher } from "../Stages/Fetcher.js"
import { Persister, layerStoreOnly } from "../Stages/Persister.js"
import type { Processor } from "../Stages/Processor.js"
import { Store, type StoreError } from "../Store/Store.js"
import type { AttemptOptions } from "./Attempt.js"
import * as Events from "./Events.js"
import * as Ingest from "./Ingest.js"
import * as OrderedOutput from "./OrderedOutput.js"
import * as Progress from "./Progress.js"
import * as ProgressFeed from "./ProgressFeed.js"
import * as RunListeners from "./RunListeners.js"
import * as Worker from "./Worker.js"

/**
 * `Pipeline.make({ payload, output })`: stage layers typed by Schema (`TypedPipeline.ts`).
 *
 * @since 0.1.0
 */
export { make, type TypedItem, type TypedOptions, type TypedPipeline, type TypedProcessed } from "./TypedPipeline.js"

/**
 * @since 0.1.0
 */
export interface RunOptions {
  /** The run's id. The same id resumes the same run; keys are unique within it. */
  readonly run: string
  /** Pipeline settings stored with the run (JSON), so `sluice worker` and `sluice serve` can rebuild it. */
  readonly config?: unknown
  /** At most this many items in the stages at once. 1 is strictly sequential. Default 8. */
  readonly concurrency?: number | undefined
  /** Write the ordered results to this JSONL file as they finish. */
  readonly output?: string | undefined
  readonly owner?: string | undefined
  readonly attempt?: AttemptOptions | undefined
  readonly leaseMs?: number | undefined
  readonly drainTimeout?: Duration.DurationInput | undefined
  /** Records per store transaction while reading the source. Default 1000. */
  readonly recordBatch?: number | undefined
  /**
   * Read the source again although the run has read it to its end (its file changed since). Records
   * already stored keep what was read; new ones are added; a line recorded as unreadable that reads
   * now is recorded in its place. The source is read before any item is processed, so the ordered
   * output never passes a line that is about to be recorded again.
   */
  readonly reread?: boolean | undefined
}

/**
 * A lease owner id unique to this process.
 *
 * @since 0.1.0
 */
export const makeOwner = (): string => `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`

/**
 * Runs a pipeline to its end and returns its summary: every item ends `Completed`, `Skipped` or
 * `Failed`, unless the budget stops it first (the rest stay pending). Interruption (Ctrl-C) stops
 * it with everything finished so far stored and written.
 *
 * @since 0.1.0
 */
export const run = (
  options: RunOptions
): Effect.Effect<
  RunSummary & { readonly sourceError?: string | undefined; readonly stopMessage?: string | undefined },
  StoreError,
  Store | Fetcher | Classifier | Processor | Persister | Progress.Progress
> =>
  Effect.scoped(
    Effect.gen(function* () {
      const store = yield* Store
      const fetcher = yield* Fetcher
      const progress = yield* Progress.Progress
      const id = options.run
      const concurrency = Math.max(1, Math.floor(options.concurrency ?? 8))
      const startedAt = yield* Clock.currentTimeMillis
      // This run's own event stream: its progress, the source's acks and the ordered output listen to it.
      const events = yield* Events.make
      const listening = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        Effect.provideService(effect, Events.Events, events)

      const info = yield* store.openRun(id, options.config ?? {})
      yield* store.addMetrics(id, { concurrency })
      const initial = yield* store.counts(id)
      yield* progress.update(id, (p) => ({
        ...p,
        counts: initial,
        startedAt,
        sourceDone: info.fetchedAt !== null && fetcher.live !== true
      }))

      // A file read to its end is not read again (unless it changed since); a live source is read every session.
      const rereading = info.fetchedAt !== null && options.reread === true && fetcher.live !== true
      const readSource = info.fetchedAt === null || fetcher.live === true || rereading
      const sourceDone = yield* Ref.make(!readSource)
      const sourceError = yield* Ref.make<string | undefined>(undefined)
      const wake = yield* Queue.sliding<void>(1)
      yield* listening(ProgressFeed.follow)
      yield* listening(RunListeners.acks(fetcher))

      if (readSource) {
        const fetch = Ingest.run(id, fetcher.records, {
          batch: options.recordBatch ?? 1000,
          live: fetcher.live,
          // Read again, a batch is mostly lines already stored: the counts are read once it is done.
          announce: rereading ? "none" : "delta",
          ack: fetcher.ack,
          onBatch: (result) => (result.inserted > 0 && !rereading ? Queue.offer(wake, undefined) : Effect.void)
        }).pipe(
          listening,
          Effect.zipRight(store.markFetched(id)),
          Effect.catchAll((error: StageError | StoreError) =>
            Effect.zipRight(
              Ref.set(sourceError, error.message),
              Effect.logError(`reading the source stopped: ${error.message}`)
            )
          ),
          Effect.ensuring(
            Effect.zipRight(
              Effect.zipRight(
                Ref.set(sourceDone, true),
                progress.update(id, (p) => ({ ...p, sourceDone: true }))
              ),
              Queue.offer(wake, undefined)
            )
          )
        )
        if (rereading) {
          yield* fetch
          const counts = yield* store.counts(id)
          yield* progress.update(id, (p) => ({ ...p, counts }))
        } else yield* Effect.forkScoped(fetch)
      }

      let follower: OrderedOutput.Follower | undefined
      if (options.output !== undefined) {
        follower = yield* OrderedOutput.follow(id, options.output)
        const f = follower
        // What a previous session finished, first; then each commit's rows come as events,
        // and a read of the store now and then catches what no commit of ours carried (another
        // worker's items, lines recorded as failed).
        yield* f.advance
        yield* listening(RunListeners.output(id, f))
        yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Effect.sleep("1 second"), f.advance)))
      }
      const catchUp = follower === undefined ? Effect.void : follower.advance

      const result = yield* Worker.run({
        owner: options.owner ?? makeOwner(),
        concurrency,
        run: id,
        until: "idle",
        sourceDone: Ref.get(sourceDone),
        wake,
        attempt: options.attempt,
        leaseMs: options.leaseMs,
        drainTimeout: options.drainTimeout
      }).pipe(
        listening,
        Effect.onInterrupt(() =>
          Effect.gen(function* () {
            yield* catchUp.pipe(Effect.ignore)
            const makespan = (yield* Clock.currentTimeMillis) - startedAt
            yield* store.addMetrics(id, { durationMs: makespan }).pipe(Effect.ignore)
          })
        )
      )
      yield* catchUp
      const makespanMs = (yield* Clock.currentTimeMillis) - startedAt
      yield* store.addMetrics(id, { durationMs: makespanMs })
      return {
        run: id,
        counts: yield* store.counts(id),
        metrics: yield* store.metrics(id),
        makespanMs,
        stoppedBy: result.stoppedBy,
        stopMessage: result.stopMessage,
        sourceError: yield* Ref.get(sourceError)
      }
    })
  )

/**
 * The stages most pipelines do not customise: every item is processed, results stay in the store,
 * and progress is kept in memory. Provide your own layers after this one to replace any of them.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerDefaults: Layer.Layer<Classifier | Persister | Progress.Progress> = Layer.mergeAll(
  layerAll,
  layerStoreOnly,
  Progress.layer
)
