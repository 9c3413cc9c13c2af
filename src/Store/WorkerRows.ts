/**
 * The workers table, the same on SQLite and PostgreSQL: each worker writes its row at every heartbeat,
 * so `sluice status` can say who is alive on the database and when each was last heard from. A worker
 * that stops cleanly removes its row; a crashed one ages out once its lease length has passed.
 *
 * @since 0.1.0
 */
import type { SqlClient, SqlError } from "@effect/sql"
import { Clock, Effect } from "effect"
import type { StoreError, WorkerBeat, WorkerRow } from "./Store.js"
import { retryBusy } from "./SqliteTransaction.js"

/** Rows not heard from for a day are deleted by the next worker that starts: nobody will ask about them. */
const FORGET_AFTER_MS = 86_400_000

/**
 * The table, for a migration of either store (`table` may carry a schema: `sluice.workers`).
 *
 * @since 0.1.0
 */
export const createTable = (table: string): string => `CREATE TABLE ${table} (
  owner text PRIMARY KEY,
  host text NOT NULL,
  pid integer NOT NULL,
  concurrency integer NOT NULL,
  lease_ms bigint NOT NULL,
  started_at bigint NOT NULL,
  seen_at bigint NOT NULL
)`

type Num = number | string

interface Row {
  readonly owner: string
  readonly host: string
  readonly pid: Num
  readonly concurrency: Num
  readonly lease_ms: Num
  readonly started_at: Num
  readonly seen_at: Num
  readonly holding: Num
}

/**
 * The registry's statements over `sql` (the tagged template writes each dialect's placeholders).
 *
 * @since 0.1.0
 */
export const make = (
  sql: SqlClient.SqlClient,
  tables: { readonly workers: string; readonly items: string },
  errors: {
    readonly write: (error: SqlError.SqlError) => StoreError
    readonly read: (error: SqlError.SqlError) => StoreError
  }
) => {
  const workers = sql.literal(tables.workers)
  const items = sql.literal(tables.items)
  let pruned = false
  const announce = (beat: WorkerBeat) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      if (!pruned) {
        pruned = true
        yield* sql`DELETE FROM ${workers} WHERE seen_at < ${now - FORGET_AFTER_MS}`
      }
      yield* sql`INSERT INTO ${workers} (owner, host, pid, concurrency, lease_ms, started_at, seen_at)
        VALUES (${beat.owner}, ${beat.host}, ${beat.pid}, ${beat.concurrency}, ${beat.leaseMs}, ${beat.startedAt}, ${now})
        ON CONFLICT (owner) DO UPDATE SET seen_at = excluded.seen_at, concurrency = excluded.concurrency,
          lease_ms = excluded.lease_ms`
    }).pipe(retryBusy, Effect.mapError(errors.write))

  const retire = (owner: string) =>
    sql`DELETE FROM ${workers} WHERE owner = ${owner}`.pipe(Effect.asVoid, retryBusy, Effect.mapError(errors.write))

  const list = Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    const rows = yield* sql<Row>`SELECT w.owner, w.host, w.pid, w.concurrency, w.lease_ms, w.started_at, w.seen_at,
        (SELECT count(*) FROM ${items} i WHERE i.status = 'processing' AND i.lease_owner = w.owner) AS holding
      FROM ${workers} w WHERE w.seen_at + w.lease_ms > ${now} ORDER BY w.started_at, w.owner`
    return rows.map((r): WorkerRow => ({
      owner: r.owner,
      host: r.host,
      pid: Number(r.pid),
      concurrency: Number(r.concurrency),
      leaseMs: Number(r.lease_ms),
      startedAt: Number(r.started_at),
      seenAt: Number(r.seen_at),
      holding: Number(r.holding)
    }))
  }).pipe(Effect.mapError(errors.read))

  return { announce, retire, workers: list }
}
