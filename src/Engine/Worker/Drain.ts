/**
 * Shutdown: stop claiming, hand items not yet started straight back, let the stages finish within a
 * deadline, commit what finished and hand back the leases of the rest, so a restart resumes with
 * nothing lost.
 *
 * @since 0.1.0
 */
import { Clock, Duration, Effect, Exit, Fiber, Option, Queue, Ref, Scope } from "effect"
import { Store } from "../../Store/Store.js"
import { Events } from "../Events.js"
import type * as Liveness from "../Liveness.js"
import type { Committer } from "./Committer.js"
import { noStats, released } from "./Finished.js"
import type { Session } from "./Session.js"

/** @since 0.1.0 */
export const make = (
  session: Session,
  parts: {
    readonly fibers: Scope.CloseableScope
    readonly committer: Fiber.Fiber<unknown, unknown>
    readonly flush: Committer["flush"]
    readonly liveness: Effect.Effect.Success<ReturnType<typeof Liveness.make>>
  }
) =>
  Effect.gen(function* () {
    const store = yield* Store
    const events = yield* Events
    const { fibers, committer, liveness } = parts
    const { owner, leased } = session

    const releaseOwner = Effect.flatMap(store.releaseOwner(owner), (swept) =>
      swept === 0 ? Effect.void : events.publish({ _tag: "Released", items: [], swept })
    )
    /** After a failure: nothing more can be written; hand back what we can. */
    const abandon = Effect.zipRight(Scope.close(fibers, Exit.void), Effect.ignore(releaseOwner))

    const waitDrained = (deadline: Duration.DurationInput) =>
      Effect.gen(function* () {
        const until = (yield* Clock.currentTimeMillis) + Duration.toMillis(deadline)
        while ((yield* Ref.get(leased)) > 0 && (yield* Clock.currentTimeMillis) < until) {
          if (Option.isSome(yield* Fiber.poll(committer))) return
          yield* Effect.sleep("10 millis")
        }
      })

    const shutdown = (deadline: Duration.DurationInput) =>
      Effect.gen(function* () {
        yield* liveness.stopping(deadline)
        if (Option.isSome(yield* Fiber.poll(committer))) return yield* abandon
        yield* Ref.update(session.stopping, (s) => s ?? "interrupted")
        const waiting = yield* Queue.takeAll(session.inbox)
        for (const item of waiting) yield* Queue.offer(session.done, released(owner, item, 0, 0, true, noStats))
        yield* waitDrained(deadline)
        yield* Scope.close(fibers, Exit.void)
        yield* parts.flush
        yield* releaseOwner
        yield* liveness.retire
      })

    return { shutdown, abandon }
  })
