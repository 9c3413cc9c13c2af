/**
 * The group commit: whatever finished while the last commit ran is written in one transaction, then
 * announced on `Events` (`Committed`, then `Released`), so every listener hears of an outcome only
 * once it is durable. Run metrics go to the store about once a second, summed in memory meanwhile.
 *
 * No timer: a busy worker writes many outcomes per transaction and an idle one commits at once. (A
 * linger would cost every item its wait: a stage fiber takes its next item only once its last one is
 * committed.) Once taken from the queue a batch is committed even if shutdown begins: a finished
 * item is never thrown away.
 *
 * @since 0.1.0
 */
import { Clock, Effect, Queue, Ref } from "effect"
import { Store, type Completion, type Release, type StoreError } from "../../Store/Store.js"
import { Events, type CommittedItem } from "../Events.js"
import type { Finished } from "./Finished.js"
import type { Session } from "./Session.js"
import * as Tally from "./Tally.js"

const METRICS_EVERY_MS = 1000
const MAX_BATCH = 1024

/** @since 0.1.0 */
export interface Committer {
  /** Takes one batch (waiting for one) and commits it. */
  readonly step: Effect.Effect<void, StoreError>
  /** Commits what is left, and writes the metrics due. */
  readonly flush: Effect.Effect<void, StoreError>
}

/** @since 0.1.0 */
export const make = (session: Session, uncommitted: Effect.Semaphore) =>
  Effect.gen(function* () {
    const store = yield* Store
    const events = yield* Events
    const governors = yield* Tally.governorDeltas
    const { done, leased, leases, meanItemMs, finishedCount, signal } = session

    /** Metric deltas not yet written. */
    const metricsDue: Tally.Deltas = new Map()
    let metricsFlushedAt = 0
    const flushMetrics = Effect.gen(function* () {
      metricsFlushedAt = yield* Clock.currentTimeMillis
      for (const [run, m] of metricsDue) yield* store.addMetrics(run, m)
      metricsDue.clear()
    })

    const commit = (batch: ReadonlyArray<Finished>) =>
      Effect.gen(function* () {
        const completions: Array<Completion> = []
        const doneItems: Array<Extract<Finished, { _tag: "Done" }>> = []
        const releases: Array<Release> = []
        const releasedItems: Array<Extract<Finished, { _tag: "Release" }>> = []
        for (const f of batch) {
          if (f._tag === "Done") {
            completions.push(f.completion)
            doneItems.push(f)
          } else {
            releases.push(f.release)
            releasedItems.push(f)
          }
        }
        const written = yield* store.complete(completions)
        const refused = written.filter((w) => !w).length
        if (refused > 0)
          yield* Effect.logWarning(
            `${refused} finished item(s) not stored: their leases had expired and passed to another worker (this one was cut off from the database, or too slow to renew them)`
          )
        yield* store.release(releases)

        const items: Array<CommittedItem> = doneItems.map((f, i) => ({
          item: f.item,
          completion: f.completion,
          written: written[i] === true,
          usage: f.usage,
          stats: f.stats
        }))
        const metrics = Tally.perRun(items, releasedItems, yield* governors)
        Tally.merge(metricsDue, metrics)
        if (doneItems.length > 0) yield* events.publish({ _tag: "Committed", items, metrics })
        if (releasedItems.length > 0) yield* events.publish({ _tag: "Released", items: releasedItems, swept: 0 })

        if ((yield* Clock.currentTimeMillis) - metricsFlushedAt >= METRICS_EVERY_MS) yield* flushMetrics
        if (doneItems.length > 0) {
          let itemMsSum = 0
          for (const c of items) if (c.written) itemMsSum += c.stats.ms
          yield* Ref.update(meanItemMs, (m) => {
            const batchMean = itemMsSum / doneItems.length
            return m === undefined ? batchMean : m * 0.8 + batchMean * 0.2
          })
        }
        yield* Ref.update(finishedCount, (n) => n + doneItems.length)
        let permits = 0
        for (const f of batch) if (f.permit === true) permits++
        if (permits > 0) yield* uncommitted.release(permits)
        yield* Ref.update(leased, (n) => n - batch.length)
        leases.drop(batch)
        yield* Queue.offer(signal, undefined)
      })

    const step = Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(restore(Queue.takeBetween(done, 1, MAX_BATCH)), (batch) => commit(Array.from(batch)))
    )
    const flush = Effect.flatMap(Queue.takeAll(done), (batch) =>
      batch.length === 0 ? Effect.void : commit(Array.from(batch))
    ).pipe(Effect.zipRight(Effect.suspend(() => flushMetrics)))

    return { step, flush } satisfies Committer
  })
