/**
 * The claimer keeps a small inbox of leased items topped up: everyone busy plus about 50 ms of work
 * ahead, claimed in batches with one statement. It announces each claim on `Events`, holds off while
 * the circuit is open, and (`until: "idle"`) returns once nothing is left to do.
 *
 * @since 0.1.0
 */
import { Clock, Duration, Effect, Queue, Ref } from "effect"
import type { Item } from "../../Domain/Item.js"
import type { StopReason } from "../../Domain/Run.js"
import { Store, type StoreError } from "../../Store/Store.js"
import { Events } from "../Events.js"
import type { Finished } from "./Finished.js"
import type { Session } from "./Session.js"

const MAX_BATCH = 1024

/**
 * @param processBatch when set (a wholly synchronous pipeline), claimed items are run here, in the
 * claiming fiber, instead of going to the stage fibers' inbox.
 * @since 0.1.0
 */
export const make = (
  session: Session,
  processBatch: ((items: ReadonlyArray<Item>) => Effect.Effect<Array<Finished>>) | undefined
) =>
  Effect.gen(function* () {
    const store = yield* Store
    const events = yield* Events
    const { options, concurrency, leased, owner, leaseMs } = session

    /** The claimer waits until at least this many can be claimed, so claims are not one-by-one. */
    const minBatch = Math.max(1, Math.floor(concurrency / 4))
    /** Never less ahead than one claim batch, or the inbox runs dry while the claimer waits for a batch's worth. */
    const target = Effect.map(Ref.get(session.meanItemMs), (m) => {
      const ahead = m === undefined ? concurrency : Math.ceil((concurrency * 50) / Math.max(m, 0.001))
      return concurrency + Math.min(MAX_BATCH, Math.max(minBatch, ahead))
    })

    const waitForSignal = Effect.raceFirst(Queue.take(session.signal), Effect.sleep(Duration.millis(session.pollMs)))

    const nothingLeft = Effect.gen(function* () {
      if ((yield* Ref.get(leased)) > 0) return false
      if (options.sourceDone !== undefined && !(yield* options.sourceDone)) return false
      if (options.run === undefined && options.runs !== undefined) {
        for (const run of yield* options.runs) {
          const c = yield* store.counts(run)
          if (c.pending + c.processing > 0) return false
        }
        return true
      }
      const c = yield* store.counts(options.run)
      return c.pending + c.processing === 0
    })

    let eligible: ReadonlyArray<string> | undefined
    const loop: Effect.Effect<StopReason, StoreError> = Effect.gen(function* () {
      while (true) {
        const stop = yield* Ref.get(session.stopping)
        if (stop !== undefined) return stop
        const now = yield* Clock.currentTimeMillis
        const hold = yield* Ref.get(session.holdUntil)
        if (hold > now) {
          yield* Effect.sleep(Duration.millis(Math.min(hold - now, 1000)))
          continue
        }
        const want = (yield* target) - (yield* Ref.get(leased))
        if (want < minBatch) {
          yield* waitForSignal
          continue
        }
        if (eligible === undefined && options.runs !== undefined) eligible = yield* options.runs
        const items = yield* store.claim({
          owner,
          limit: Math.min(want, MAX_BATCH),
          leaseMs,
          run: options.run,
          runs: eligible
        })
        if (items.length > 0) {
          yield* Ref.update(leased, (n) => n + items.length)
          session.leases.add(items)
          yield* events.publish({ _tag: "Claimed", items })
          if (processBatch !== undefined)
            yield* Effect.flatMap(processBatch(items), (f) => Queue.offerAll(session.done, f))
          else yield* Queue.offerAll(session.inbox, items)
          continue
        }
        eligible = undefined
        if (options.until === "idle" && (yield* nothingLeft)) return "finished" as const
        yield* waitForSignal
      }
    })
    return loop
  })
