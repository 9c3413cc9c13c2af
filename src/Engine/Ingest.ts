/**
 * Ingest: a source's records into the store, in batches, before any stage touches them. The CLI's
 * run, the inbox, the drop directory and the HTTP API all record through this one loop, so batching,
 * the `Recorded` announcement and the re-acknowledgement of records already completed are the same
 * everywhere.
 *
 * @since 0.1.0
 */
import { Chunk, Effect, Stream } from "effect"
import type { Item, SourceRecord } from "../Domain/Item.js"
import { Store, type RecordResult, type StoreError } from "../Store/Store.js"
import { Events } from "./Events.js"

/**
 * @since 0.1.0
 */
export interface IngestOptions<E, R> {
  /** Records per store transaction. */
  readonly batch: number
  /** A live source may pause between records: a batch then goes out after 100 ms at most. */
  readonly live?: boolean | undefined
  /**
   * How `Recorded` announces a batch with new records: "delta" (this process seeded the run's
   * progress), "counts" (the run's counts read back from the store: a service, where other
   * processes record too), or "none" (a source read again: its caller reads the counts once done).
   */
  readonly announce: "delta" | "counts" | "none"
  /** Records already completed (a crash came between the commit and the ack): acknowledge them again. */
  readonly ack?: ((items: ReadonlyArray<Item>) => Effect.Effect<void, E, R>) | undefined
  /** After each stored batch (wake the workers, log). */
  readonly onBatch?: ((result: RecordResult) => Effect.Effect<void, E, R>) | undefined
}

/** @since 0.1.0 */
export interface Ingested {
  readonly inserted: number
  readonly revived: number
}

/**
 * Records `records` into `run` until the stream ends.
 *
 * @since 0.1.0
 */
export const run = <E, R, E2 = never, R2 = never>(
  run: string,
  records: Stream.Stream<SourceRecord, E, R>,
  options: IngestOptions<E2, R2>
): Effect.Effect<Ingested, E | E2 | StoreError, R | R2 | Store | Events> =>
  Effect.gen(function* () {
    const store = yield* Store
    const events = yield* Events
    const totals = { inserted: 0, revived: 0 }
    const record = (chunk: Chunk.Chunk<SourceRecord>) =>
      Effect.gen(function* () {
        const batch = Chunk.toReadonlyArray(chunk)
        const result = yield* store.record(run, batch)
        totals.inserted += result.inserted
        totals.revived += result.revived ?? 0
        if (options.announce === "counts" && result.inserted + (result.revived ?? 0) > 0) {
          const counts = yield* store.counts(run)
          yield* events.publish({ _tag: "Recorded", run, pending: 0, failed: 0, counts })
        } else if (options.announce === "delta" && result.inserted > 0) {
          // New unreadable lines are inserted as failed; the rest as pending.
          const failed = Math.min(batch.filter((r) => r._tag === "Malformed").length, result.inserted)
          yield* events.publish({ _tag: "Recorded", run, pending: result.inserted - failed, failed })
        }
        if (options.onBatch !== undefined) yield* options.onBatch(result)
        if (options.ack !== undefined && result.alreadyCompleted.length > 0) yield* options.ack(result.alreadyCompleted)
      })
    const size = Math.max(1, Math.floor(options.batch))
    // A finite source is read as fast as it is recorded: plain rechunking, without a timer per record.
    const batches =
      options.live === true
        ? Stream.groupedWithin(records, size, "100 millis")
        : Stream.chunks(Stream.rechunk(records, size))
    yield* Stream.runForEach(batches, record)
    return totals
  })
