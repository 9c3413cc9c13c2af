/**
 * The worker: claims items from the store, runs them through classify → process → persist with
 * bounded concurrency, and writes their outcomes back in group commits. `sluice run`, `sluice worker`
 * and `sluice serve` all run this one loop.
 *
 * Shape (one file each under `Worker/`): the Claimer keeps a small inbox of leased items topped up;
 * `concurrency` fibers take from it and run each Item through the stages; the Committer writes
 * whatever has finished in one transaction and announces it on `Events` (where acks, progress,
 * metrics and the ordered output listen); Drain hands back what is left at shutdown. Leases are
 * renewed by a heartbeat, so a crashed worker's items return to pending when they expire.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Fiber, Queue, Ref, Scope } from "effect"
import type { StopReason } from "../Domain/Run.js"
import { Classifier } from "../Stages/Classifier.js"
import { Persister } from "../Stages/Persister.js"
import { Processor } from "../Stages/Processor.js"
import { isSynchronous } from "../Stages/Synchronous.js"
import { Store, type StoreError } from "../Store/Store.js"
import type { Events } from "./Events.js"
import * as Liveness from "./Liveness.js"
import * as Claimer from "./Worker/Claimer.js"
import * as Committer from "./Worker/Committer.js"
import * as Drain from "./Worker/Drain.js"
import * as ItemStages from "./Worker/Item.js"
import type { WorkerOptions, WorkerResult } from "./Worker/Options.js"
import * as Session from "./Worker/Session.js"

export type { WorkerOptions, WorkerResult } from "./Worker/Options.js"

/**
 * Runs the worker until it is done (`until: "idle"`) or interrupted. Interruption drains: no new
 * claims, items in the stages get `drainTimeout` to finish, finished outcomes are committed, and the
 * leases of the rest are handed back, so a restart resumes with nothing lost.
 *
 * @since 0.1.0
 */
export const run = (
  options: WorkerOptions
): Effect.Effect<WorkerResult, StoreError, Store | Classifier | Processor | Persister | Events> =>
  Effect.gen(function* () {
    const store = yield* Store
    const stages = { classifier: yield* Classifier, processor: yield* Processor, persister: yield* Persister }
    const session = yield* Session.make(options)
    const { concurrency, leaseMs, owner } = session
    const drainTimeout = options.drainTimeout ?? "10 seconds"
    const liveness = yield* Liveness.make({ owner, concurrency, leaseMs })
    const item = ItemStages.make(session, stages)

    // While any stage may call an upstream, a fiber holds a permit from taking an item until that
    // item's outcome is committed: at most `concurrency` items are ever sent and not yet durable, so
    // a crash repeats at most that many upstream calls. A wholly synchronous pipeline (echo) calls no
    // upstream, and runs its items in the claiming fiber without the wait, which would only cap its
    // commit batches.
    const synchronous =
      isSynchronous(stages.classifier) && isSynchronous(stages.processor) && isSynchronous(stages.persister)
    const uncommitted = yield* Effect.makeSemaphore(concurrency)
    const stageLoop = Effect.forever(
      uncommitted.take(1).pipe(
        Effect.zipRight(Queue.take(session.inbox)),
        Effect.flatMap(item.processOne),
        Effect.flatMap((f) => {
          f.permit = true
          return Queue.offer(session.done, f)
        })
      )
    )
    const committer = yield* Committer.make(session, uncommitted)
    const claimer = yield* Claimer.make(session, synchronous ? item.processBatch : undefined)

    const fibers = yield* Scope.make()
    yield* liveness.beat
    if (!synchronous) for (let i = 0; i < concurrency; i++) yield* Effect.forkIn(stageLoop, fibers)
    const committing = yield* Effect.forkIn(Effect.forever(committer.step), fibers)
    yield* Effect.forkIn(
      Effect.forever(
        Effect.sleep(Duration.millis(Math.max(50, Math.floor(leaseMs / 3)))).pipe(
          // Suspended: the leases held at each beat, not those held when the loop was built.
          Effect.zipRight(Effect.suspend(() => store.heartbeat(owner, leaseMs, session.leases.held()))),
          Effect.zipRight(liveness.beat),
          Effect.catchAll((e) => Effect.logWarning(`lease heartbeat failed: ${e.message}`))
        )
      ),
      fibers
    )
    const drain = yield* Drain.make(session, { fibers, committer: committing, flush: committer.flush, liveness })

    // The committer never ends on its own; if it fails (a full disk, a read-only file), the worker
    // fails with it instead of waiting forever for commits that will not come.
    const stoppedBy = yield* Effect.raceFirst(
      claimer,
      Fiber.join(committing).pipe(Effect.as("finished" as StopReason))
    ).pipe(
      Effect.onInterrupt(() =>
        drain.shutdown(drainTimeout).pipe(Effect.catchAll((e) => Effect.logError(`shutdown: ${e.message}`)))
      ),
      Effect.onError(() => drain.abandon)
    )
    // Finished or stopped by the budget: everything leased drains through the committer.
    // An unusable upstream fails every call in flight too: hand them back at once.
    yield* drain.shutdown(
      stoppedBy === "finished" ? Duration.infinity : stoppedBy === "upstream" ? Duration.zero : drainTimeout
    )
    return {
      stoppedBy,
      finished: yield* Ref.get(session.finishedCount),
      stopMessage: yield* Ref.get(session.stopMessage)
    }
  })
