/**
 * A worker's presence on the database: its row in the workers table, written when it starts and at
 * every heartbeat, removed when it stops cleanly, so `sluice status` lists the workers alive with
 * their last heartbeat. Shutting down, it also bounds how long a lost database is waited for.
 *
 * @since 0.1.0
 */
import { Clock, Duration, Effect, Option } from "effect"
import * as os from "node:os"
import { StoreLink } from "../Store/Reconnect.js"
import { Store, type WorkerRow } from "../Store/Store.js"

/** After the drain deadline, how long a shutdown still waits for a database that is out of reach. */
const GRACE = Duration.seconds(5)

/**
 * @since 0.1.0
 */
export const make = (options: { readonly owner: string; readonly concurrency: number; readonly leaseMs: number }) =>
  Effect.gen(function* () {
    const store = yield* Store
    const link = yield* Effect.serviceOption(StoreLink)
    const beat = {
      owner: options.owner,
      host: os.hostname(),
      pid: process.pid,
      concurrency: options.concurrency,
      leaseMs: options.leaseMs,
      startedAt: yield* Clock.currentTimeMillis
    }
    return {
      /** Says this worker is alive; a failure is only worth a debug line (the leases say the same). */
      beat: store
        .announce(beat)
        .pipe(Effect.catchAll((e) => Effect.logDebug(`could not record worker ${options.owner}: ${e.message}`))),
      /** Says this worker has stopped. */
      retire: Effect.ignore(store.retire(options.owner)),
      /** Shutting down: a database out of reach is waited for only until `deadline` (plus a grace). */
      stopping: (deadline: Duration.DurationInput) =>
        Option.match(link, {
          onNone: () => Effect.void,
          onSome: (l) =>
            Duration.isFinite(Duration.decode(deadline)) ? l.giveUpWithin(Duration.sum(deadline, GRACE)) : Effect.void
        })
    }
  })

const ago = (ms: number) => (ms < 1000 ? "just now" : `${Math.round(ms / 1000)} s ago`)

/**
 * The workers alive, as lines of `sluice status`: by "age" (a report) or by "clock" (a watch, whose
 * text then changes only at a heartbeat, not every second).
 *
 * @since 0.1.0
 */
export const describe = (workers: ReadonlyArray<WorkerRow>, now: number, by: "age" | "clock"): Array<string> => {
  if (workers.length === 0) return ["workers alive: none"]
  const width = Math.max(...workers.map((w) => w.owner.length), "worker".length)
  return [
    `workers alive: ${workers.length}`,
    `  ${"worker".padEnd(width)} ${"concurrency".padStart(11)} ${"holding".padStart(8)}  last heartbeat`,
    ...workers.map(
      (w) =>
        `  ${w.owner.padEnd(width)} ${String(w.concurrency).padStart(11)} ${String(w.holding).padStart(8)}  ${
          by === "age" ? ago(Math.max(0, now - w.seenAt)) : new Date(w.seenAt).toLocaleTimeString()
        }`
    )
  ]
}
