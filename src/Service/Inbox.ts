/**
 * A mailbox as a live source of `sluice serve` (`--imap`): every new unseen mail becomes an item of one
 * portable run, and a mail is marked `\Seen` once its outcome is stored as completed. Several
 * instances may poll the same mailbox into the same database: the store records each key once, and
 * whichever instance's worker claims a mail processes it.
 *
 * Acknowledging across instances. The instance that records a mail is often not the one that completes
 * it, so the ack does not belong to the fetcher's session. Two paths mark a completed mail seen, and
 * either is enough:
 * - the instance that completes it: it listens to its workers' `Committed` events, so once a group
 *   commit of completions is written, the completed mails of the run go to this instance's IMAP
 *   connection (UIDs name the same messages on every connection to the mailbox);
 * - any instance that reads the mail again: `store.record` reports keys it already has completed
 *   (`alreadyCompleted`) and those are acknowledged. The polling source re-reads every unseen mail
 *   when it starts, and a sweep re-reads them whenever the run goes quiet after new outcomes (and at
 *   least every `sweepInterval`), so a mail completed by an instance that died before its ack is
 *   marked seen by a survivor.
 *
 * Failed and skipped mails stay unseen, for a person to look at.
 *
 * @since 0.1.0
 */
import {
  Deferred,
  Duration,
  Effect,
  Either,
  ExecutionStrategy,
  Layer,
  Queue,
  Schedule,
  Scope,
  Stream,
  Cause,
  Clock
} from "effect"
import type { Invalid, StageError } from "../Domain/Errors.js"
import type { Item, SourceRecord } from "../Domain/Item.js"
import { Events, listen } from "../Engine/Events.js"
import * as Ingest from "../Engine/Ingest.js"
import * as Imap from "../Sources/Imap.js"
import { describe } from "../Http/ImapUrl.js"
import type { Fetcher } from "../Stages/Fetcher.js"
import { Store, type StoreError } from "../Store/Store.js"
import { Engine } from "./Workers.js"

/**
 * @since 0.1.0
 */
export interface InboxOptions {
  /** The mailbox; `poll` is ignored (see `pollInterval`). */
  readonly imap: Imap.ImapOptions
  /** How often the mailbox is searched for new unseen mail (the server's announcements also wake it). */
  readonly pollInterval: Duration.DurationInput
  /** The run the mails go into. */
  readonly run: string
  /** The run's portable settings (a `RunConfig`); `source` is set to the mailbox's URL. */
  readonly config: Record<string, unknown>
  /** Records per store transaction. Default 500. */
  readonly recordBatch?: number | undefined
  /** Every unseen mail is read again at least this often, to acknowledge completed ones. Default 5 minutes. */
  readonly sweepInterval?: Duration.DurationInput | undefined
}

/** Reconnecting, or reading again after the source stopped: capped at a minute. */
const retrySchedule = Schedule.exponential("1 second", 2).pipe(Schedule.union(Schedule.spaced("1 minute")))

/**
 * Not a message of the mailbox: a FETCH answer without a UID. When another session changes flags
 * during our FETCH, the server pushes the change (`* 7 FETCH (FLAGS (\Seen))`) and imapflow's
 * `fetchAll` returns it among the answers, which the source yields as an unreadable mail with the key
 * `<uidvalidity>:undefined`. With several instances acknowledging, this happens in every busy run;
 * such a record is dropped here. (The source should keep only the UIDs it asked for; see the report
 * test in test/Examples/InboxService.test.ts.)
 */
const isMessage = (r: SourceRecord): boolean => r._tag !== "Malformed" || Number.isInteger(r.line)

const ACK_BATCH = 500
const FLUSH_TIMEOUT = Duration.seconds(5)

/**
 * The inbox loop as a layer: it opens the run, polls the mailbox into it, and acknowledges the mails
 * the workers complete (their `Committed` events). Built just before the workers, it is closed just
 * after they drained, so the acks of their last commits are still sent.
 *
 * A login or mailbox the server refuses fails the layer (the service does not start); an unreachable
 * server is tried again in the background, with the service running.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: InboxOptions): Layer.Layer<never, Invalid | StoreError, Store | Engine | Events> =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const store = yield* Store
      const engine = yield* Engine
      const events = yield* Events
      const run = options.run
      const where = describe(options.imap)
      const batch = Math.max(1, Math.floor(options.recordBatch ?? 500))
      const pollInterval = Duration.decode(options.pollInterval)
      const sweepInterval = Duration.decode(options.sweepInterval ?? Duration.minutes(5))

      yield* store.openRun(run, { ...options.config, source: where })

      const acks = yield* Queue.unbounded<Item>()
      const acknowledge = (items: ReadonlyArray<Item>) => Effect.asVoid(Queue.offerAll(acks, items))

      // Closed last: after the loops stopped and the last acks were flushed, the connection logs out.
      const scope = yield* Effect.scope
      const connection = yield* Scope.fork(scope, ExecutionStrategy.sequential)
      const source = yield* Deferred.make<Fetcher["Type"]>()
      const connect = Imap.make({ ...options.imap, poll: pollInterval }).pipe(Scope.extend(connection))
      const first = yield* Effect.either(connect)
      if (Either.isLeft(first)) {
        if (first.left._tag === "Invalid") return yield* first.left
        yield* Effect.logWarning(`inbox: ${first.left.message}; trying again in the background`)
        yield* Effect.forkIn(
          connect.pipe(
            Effect.tapError((e) => Effect.logWarning(`inbox: ${e.message}`)),
            Effect.retry(retrySchedule),
            Effect.flatMap((f) => Deferred.succeed(source, f))
          ),
          scope
        )
      } else {
        yield* Deferred.succeed(source, first.right)
      }

      let fetched = false
      const recordAll = (records: Stream.Stream<SourceRecord, StageError>) =>
        Ingest.run(run, Stream.filter(records, isMessage), {
          batch,
          live: true,
          announce: "counts",
          // Completed (here or by another instance) and still unseen: acknowledge again.
          ack: acknowledge,
          onBatch: (result) =>
            Effect.gen(function* () {
              if (result.inserted > 0) {
                yield* engine.wake
                yield* Effect.logInfo(`inbox: ${result.inserted} new mail(s) from ${where} in run ${run}`)
              }
              if (!fetched) {
                // The run counts as read once the mailbox has been read: `done` then means caught up.
                yield* store.markFetched(run)
                fetched = true
              }
            })
        }).pipe(Effect.provideService(Events, events))

      // New mail: the polling source yields each unseen mail once per session, and runs forever.
      const poll = Effect.flatMap(Deferred.await(source), (f) => recordAll(f.records)).pipe(
        Effect.tapError((e) => Effect.logWarning(`inbox: reading ${where} stopped: ${e.message}; reading again`)),
        Effect.retry(retrySchedule)
      )

      // Every unseen mail read once more, on a connection of its own, to acknowledge completed ones.
      const sweep = Effect.scoped(
        Effect.flatMap(Imap.make({ ...options.imap, poll: undefined }), (once) => recordAll(once.records))
      ).pipe(
        Effect.zipRight(store.markFetched(run)),
        Effect.catchAll((e) => Effect.logWarning(`inbox: sweep of ${where}: ${e.message}`))
      )
      let sweptAt = yield* Clock.currentTimeMillis
      let finishedAtSweep = -1
      const reconcile = Effect.gen(function* () {
        const c = yield* store.counts(run)
        const finished = c.completed + c.skipped + c.failed
        const now = yield* Clock.currentTimeMillis
        const quiet = c.pending + c.processing === 0 && finished !== finishedAtSweep
        if (!quiet && now - sweptAt < Duration.toMillis(sweepInterval)) return
        yield* sweep
        sweptAt = now
        finishedAtSweep = finished
      }).pipe(Effect.catchAll((e) => Effect.logWarning(`inbox: ${e.message}`)))

      // Acks in batches. A batch cut short by shutdown goes back to the queue, which `flush` sends (bounded);
      // a failed one is left to the sweeps.
      const ackStep = Effect.uninterruptibleMask((restore) =>
        Effect.gen(function* () {
          const items = Array.from(yield* restore(Queue.takeBetween(acks, 1, ACK_BATCH)))
          yield* restore(Effect.flatMap(Deferred.await(source), (f) => f.ack(items))).pipe(
            Effect.onInterrupt(() => Queue.offerAll(acks, items)),
            Effect.catchAll((e) =>
              Effect.logWarning(`inbox: could not mark ${items.length} mail(s) seen: ${e.message}`)
            )
          )
        })
      )
      const flush = Effect.gen(function* () {
        const left = yield* Queue.takeAll(acks)
        const f = yield* Deferred.poll(source)
        if (left.length === 0 || f._tag === "None") return
        yield* Effect.flatMap(f.value, (fetcher) => fetcher.ack(Array.from(left))).pipe(
          Effect.timeout(FLUSH_TIMEOUT),
          Effect.catchAllCause((cause) =>
            Effect.logWarning(`inbox: ${left.length} mail(s) not marked seen at shutdown: ${Cause.squash(cause)}`)
          )
        )
      })
      yield* Effect.addFinalizer(() => flush)
      // Added after `flush`, so closed before it: the acks of the last commits are queued, then sent.
      yield* listen("inbox acks", (events) =>
        Effect.forEach(
          events,
          (event) => {
            if (event._tag !== "Committed") return Effect.void
            // Not written: the lease was lost, and whoever holds it now acknowledges it.
            const done = event.items.filter(
              (c) => c.written && c.item.run === run && c.completion.outcome._tag === "Completed"
            )
            return done.length === 0 ? Effect.void : acknowledge(done.map((c) => c.item))
          },
          { discard: true }
        )
      )

      yield* Effect.forkScoped(Effect.forever(ackStep))
      yield* Effect.forkScoped(poll)
      yield* Effect.forkScoped(
        Effect.forever(Effect.zipRight(Effect.sleep(Duration.max(pollInterval, Duration.seconds(1))), reconcile))
      )
      yield* Effect.logInfo(`inbox: polling ${where} every ${Duration.format(pollInterval)} into run ${run}`)
    })
  )
