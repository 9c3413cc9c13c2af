/**
 * What the engine did, announced once: items recorded from a source, claimed by a worker, committed
 * with their outcomes, released back to pending. Progress, metrics, source acknowledgements and the
 * ordered output are listeners of this one stream, instead of option callbacks, store decorators and
 * progress updates scattered through the engine.
 *
 * Guarantees a listener can rely on:
 * - nothing is dropped: the hub is bounded with back-pressure, so a slow listener slows the
 *   committer (as a callback did) instead of losing events, and memory stays flat;
 * - `Committed` is published only after the store wrote the outcomes, so an acknowledgement taken
 *   from it never precedes the commit;
 * - a listener sees every event published after `listen` returned, in order, and before its scope
 *   closes it handles what is still queued, so the last commit of a run is not lost at shutdown.
 *
 * Events are batches (one per claim or group commit), so listening costs nothing per item.
 *
 * @since 0.1.0
 */
import { Cause, Context, Effect, Layer, PubSub, Queue, type Scope } from "effect"
import type { Item } from "../Domain/Item.js"
import type { RunCounts, RunMetrics } from "../Domain/Run.js"
import type { Usage } from "../Domain/Usage.js"
import type { Completion } from "../Store/Store.js"

/** Time and policy figures of one item's delivery. @since 0.1.0 */
export interface ItemStats {
  readonly retries: number
  readonly rateLimitHits: number
  readonly pausedMs: number
  readonly ms: number
}

/** New records of a run are in the store. @since 0.1.0 */
export interface Recorded {
  readonly _tag: "Recorded"
  readonly run: string
  /** Records inserted as pending. */
  readonly pending: number
  /** Unreadable records inserted as failed. */
  readonly failed: number
  /** The run's counts read back from the store after the insert, when the recorder read them (a service). */
  readonly counts?: RunCounts | undefined
}

/** A worker leased these items. @since 0.1.0 */
export interface Claimed {
  readonly _tag: "Claimed"
  readonly items: ReadonlyArray<Item>
}

/** One item of a group commit. @since 0.1.0 */
export interface CommittedItem {
  readonly item: Item
  readonly completion: Completion
  /** False when the lease had passed to another worker: the outcome was not stored, and that worker reports it. */
  readonly written: boolean
  readonly usage: Usage | undefined
  readonly stats: ItemStats
}

/** A group commit is durable. @since 0.1.0 */
export interface Committed {
  readonly _tag: "Committed"
  readonly items: ReadonlyArray<CommittedItem>
  /** The per-run metric deltas of this commit (also written to the store, about once a second). */
  readonly metrics: ReadonlyMap<string, Partial<RunMetrics>>
}

/** Items handed back to pending: held (circuit open, budget spent) or at shutdown. @since 0.1.0 */
export interface Released {
  readonly _tag: "Released"
  readonly items: ReadonlyArray<{ readonly item: Item; readonly stats: ItemStats }>
  /** Further leases handed back at once by owner at shutdown, item by item unknown. */
  readonly swept: number
}

/** @since 0.1.0 */
export type Event = Recorded | Claimed | Committed | Released

/**
 * @since 0.1.0
 * @category tags
 */
export class Events extends Context.Tag("sluice/Engine/Events")<
  Events,
  {
    readonly publish: (event: Event) => Effect.Effect<void>
    /** A subscription for the scope: events published from now on. */
    readonly subscribe: Effect.Effect<Queue.Dequeue<Event>, never, Scope.Scope>
  }
>() {}

/** Room for this many unhandled batches per listener before the publisher waits. */
const CAPACITY = 256
const BATCH = 64

/**
 * A hub with no listeners yet.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Events["Type"]> = Effect.map(PubSub.bounded<Event>(CAPACITY), (hub) =>
  Events.of({
    publish: (event) => Effect.asVoid(PubSub.publish(hub, event)),
    subscribe: PubSub.subscribe(hub)
  })
)

/**
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Events> = Layer.effect(Events, make)

/**
 * Runs `handle` on every event from now until the scope closes, in order, a batch at a time. A batch
 * taken is handled even if the scope closes meanwhile, and what is still queued at the close is
 * handled then. A failing handler is logged and the listener goes on: one listener never stops
 * another, nor the engine.
 *
 * @since 0.1.0
 */
export const listen = <R>(
  name: string,
  handle: (events: ReadonlyArray<Event>) => Effect.Effect<void, never, R>
): Effect.Effect<void, never, Events | Scope.Scope | R> =>
  Effect.gen(function* () {
    const events = yield* Events
    const dequeue = yield* events.subscribe
    const safe = (batch: ReadonlyArray<Event>) =>
      handle(batch).pipe(
        Effect.catchAllCause((cause) =>
          Cause.isInterruptedOnly(cause)
            ? Effect.void
            : Effect.logWarning(`${name}: an event listener failed`, Cause.squash(cause))
        )
      )
    // Finalizers run last-added first: the loop is interrupted, then the rest is handled, then the
    // subscription ends.
    yield* Effect.addFinalizer(() =>
      Effect.flatMap(Queue.takeAll(dequeue), (rest) => (rest.length === 0 ? Effect.void : safe(Array.from(rest))))
    )
    yield* Effect.forkScoped(
      Effect.forever(
        Effect.uninterruptibleMask((restore) =>
          Effect.flatMap(restore(Queue.takeBetween(dequeue, 1, BATCH)), (batch) => safe(Array.from(batch)))
        )
      )
    )
  })
