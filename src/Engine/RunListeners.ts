/**
 * The listeners of one `Pipeline.run`: the source's acknowledgements and the ordered output, each
 * fed by `Committed` events, so both act only on outcomes already stored.
 *
 * @since 0.1.0
 */
import { Effect, type Scope } from "effect"
import type { Item } from "../Domain/Item.js"
import * as Outcome from "../Domain/Outcome.js"
import type { Fetcher } from "../Stages/Fetcher.js"
import type { ResultRow } from "../Store/Store.js"
import { type Committed, type Event, type Events, listen } from "./Events.js"
import type { Follower } from "./OrderedOutput.js"

const committed = (events: ReadonlyArray<Event>): Array<Committed> =>
  events.filter((e): e is Committed => e._tag === "Committed")

/**
 * Acknowledges completed items at the source, once their outcome is stored. A failed acknowledgement
 * is logged: it is repeated when the source offers the item again.
 *
 * @since 0.1.0
 */
export const acks = (fetcher: Fetcher["Type"]): Effect.Effect<void, never, Events | Scope.Scope> =>
  listen("acks", (events) =>
    Effect.forEach(
      committed(events),
      (event) => {
        const byRun = new Map<string, Array<Item>>()
        for (const c of event.items) {
          if (!c.written || c.completion.outcome._tag !== "Completed") continue
          const list = byRun.get(c.item.run)
          if (list === undefined) byRun.set(c.item.run, [c.item])
          else list.push(c.item)
        }
        return Effect.forEach(
          byRun.values(),
          (items) =>
            fetcher
              .ack(items)
              .pipe(
                Effect.catchAll((error) =>
                  Effect.logWarning(`could not acknowledge ${items.length} item(s) at the source: ${error.message}`)
                )
              ),
          { discard: true }
        )
      },
      { discard: true }
    )
  )

/** The result rows of `run` a commit wrote (any order). */
export const rows = (event: Committed, run: string): Array<ResultRow> => {
  const out: Array<ResultRow> = []
  for (const { completion: c, item, written } of event.items) {
    if (!written || item.run !== run) continue
    const o = c.outcome
    out.push({
      seq: item.seq,
      key: item.key,
      status: Outcome.status(o),
      outputJson: o._tag === "Completed" ? Outcome.outputJson(o.output) : null,
      errorTag: o._tag === "Failed" ? o.tag : null,
      errorMessage: o._tag === "Failed" ? o.message : o._tag === "Skipped" ? o.reason : null,
      attempts: item.attempts + c.attempts
    })
  }
  return out
}

/**
 * Hands each commit's rows of `run` to the ordered output, which writes them without reading them back.
 *
 * @since 0.1.0
 */
export const output = (run: string, follower: Follower): Effect.Effect<void, never, Events | Scope.Scope> =>
  listen("ordered output", (events) =>
    Effect.forEach(
      committed(events),
      (event) => {
        const r = rows(event, run)
        return r.length === 0
          ? Effect.void
          : follower.offer(r).pipe(Effect.catchAll((e) => Effect.logWarning(`ordered output: ${e.message}`)))
      },
      { discard: true }
    )
  )
