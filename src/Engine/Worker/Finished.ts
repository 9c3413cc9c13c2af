/**
 * An item that left the stages, as the committer takes it: an outcome to store, or a hand-back to
 * pending (held by an open circuit, a spent budget, an unusable upstream, or shutdown).
 *
 * @since 0.1.0
 */
import { Effect, Ref } from "effect"
import type { CircuitOpen, OverBudget, UpstreamUnusable } from "../../Domain/Errors.js"
import type { Item } from "../../Domain/Item.js"
import type { Outcome } from "../../Domain/Outcome.js"
import type { Usage } from "../../Domain/Usage.js"
import type { Completion, Release } from "../../Store/Store.js"
import type { AttemptStats } from "../Attempt.js"
import type { ItemStats } from "../Events.js"
import type { Session } from "./Session.js"

/** An item that left the stages: with an outcome to store, or to be handed back to pending. */
export type Finished = (
  | {
      readonly _tag: "Done"
      readonly item: Item
      readonly completion: Completion
      readonly usage: Usage | undefined
      readonly stats: ItemStats
    }
  | {
      readonly _tag: "Release"
      readonly item: Item
      readonly release: Release
      readonly stop: boolean
      readonly stats: ItemStats
    }
) & {
  /** Whether this item holds an `uncommitted` permit, returned once its outcome is stored. */
  permit?: boolean
}

/** @since 0.1.0 */
export const noStats: ItemStats = { retries: 0, rateLimitHits: 0, pausedMs: 0, ms: 0 }

/** The item handed back to pending, `notBefore` a time in ms (0: at once). */
export const released = (
  owner: string,
  item: Item,
  attempts: number,
  notBefore: number,
  stop: boolean,
  stats: ItemStats
): Finished => ({
  _tag: "Release",
  item,
  release: { run: item.run, seq: item.seq, owner, notBefore, attempts, lease: item.deliveries },
  stop,
  stats
})

/** The item's outcome, to store. */
export const completed = (
  owner: string,
  item: Item,
  d: {
    readonly outcome: Outcome
    readonly attempts: number
    readonly route: string | undefined
    readonly usage: Usage | undefined
  },
  startedAt: number,
  finishedAt: number,
  stats: AttemptStats
): Finished => ({
  _tag: "Done",
  item,
  completion: {
    run: item.run,
    seq: item.seq,
    owner,
    outcome: d.outcome,
    attempts: d.attempts,
    route: d.route,
    startedAt,
    finishedAt,
    lease: item.deliveries
  },
  usage: d.usage,
  stats: { ...stats, ms: finishedAt - startedAt }
})

/** A held item goes back to pending; an open circuit holds claims, a spent budget or dead upstream stops them. */
export const hold = (
  session: Session,
  item: Item,
  error: CircuitOpen | OverBudget | UpstreamUnusable,
  attempts: number,
  stats: AttemptStats
): Effect.Effect<Finished> => {
  const back = (notBefore: number, stop: boolean) =>
    released(session.owner, item, attempts, notBefore, stop, { ...stats, ms: 0 })
  if (error._tag === "CircuitOpen")
    return Effect.as(
      Ref.update(session.holdUntil, (u) => Math.max(u, error.retryAtMs)),
      back(error.retryAtMs, false)
    )
  if (error._tag === "OverBudget") return Effect.as(Ref.set(session.stopping, "budget"), back(0, true))
  return Effect.as(
    Effect.zipRight(
      Ref.update(session.stopMessage, (m) => m ?? error.message),
      Ref.update(session.stopping, (s) => s ?? "upstream")
    ),
    back(0, true)
  )
}
