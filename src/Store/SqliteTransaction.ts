/**
 * SQLite writes that wait for the write lock instead of crashing.
 *
 * Why this exists: `@effect/sql` opens a transaction with a plain, deferred `BEGIN` and runs its
 * `ROLLBACK` under `orDie`. Under write contention (several processes on one file) a statement inside
 * the transaction can meet SQLITE_BUSY: after the busy timeout, or at once when a deferred transaction
 * that has read must upgrade to a write. SQLite may roll the transaction back itself on BUSY; the
 * library's own ROLLBACK then fails with "cannot rollback - no transaction is active", and that defect
 * ended `sluice worker` processes (test/Cli/Workers.test.ts, about one run in ten).
 *
 * So every write transaction here:
 * - begins with `BEGIN IMMEDIATE`: the write lock is taken first, so the only statement that can meet
 *   BUSY is the BEGIN, before anything was done (and COMMIT, which is retried in place);
 * - treats a ROLLBACK that finds no transaction as done, since SQLite already rolled back;
 * - runs again, whole, after `busyRetry` when it met BUSY. The retry waits off the event loop;
 *   better-sqlite3's own busy timeout blocks it, so that stays the first, short line of defence.
 *
 * Other dialects (the persister runs on any `@effect/sql` client) get the client's `withTransaction`.
 *
 * @since 0.1.0
 */
import { SqlClient, type SqlError } from "@effect/sql"
import type { Connection } from "@effect/sql/SqlConnection"
import { Effect, Predicate, Schedule, Scope } from "effect"

/** SQLite's result code on the error's cause, e.g. "SQLITE_BUSY_SNAPSHOT". */
const codeOf = (error: SqlError.SqlError): string | undefined => {
  const cause = error.cause
  return Predicate.hasProperty(cause, "code") && typeof cause.code === "string" ? cause.code : undefined
}

/**
 * Whether a failure is SQLite's "another connection holds the lock" (SQLITE_BUSY and its extended
 * codes): worth waiting for, never a reason to fail.
 *
 * @since 0.1.0
 */
export const isBusy = (error: unknown): error is SqlError.SqlError =>
  Predicate.isTagged(error, "SqlError") && (codeOf(error as SqlError.SqlError)?.startsWith("SQLITE_BUSY") ?? false)

/**
 * How a write that met a busy database is tried again: quickly at first, then every quarter second at
 * most, for up to two minutes in all (a writer that holds the lock that long is stuck, not busy).
 * Jittered, so writers that collided do not collide again in step.
 *
 * @since 0.1.0
 */
export const busyRetry = Schedule.exponential("5 millis", 2).pipe(
  Schedule.either(Schedule.spaced("250 millis")),
  Schedule.jittered,
  Schedule.upTo("2 minutes")
)

/**
 * Retries a single statement (an autocommit write) that met a busy database.
 *
 * @since 0.1.0
 */
export const retryBusy = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.retry(effect, { schedule: busyRetry, while: isBusy })

const run = (conn: Connection, sql: string) => Effect.asVoid(conn.executeUnprepared(sql, [], undefined))

const noTransaction = (error: SqlError.SqlError) =>
  Predicate.hasProperty(error.cause, "message") &&
  typeof error.cause.message === "string" &&
  error.cause.message.includes("no transaction is active")

const immediate = (sql: SqlClient.SqlClient) =>
  SqlClient.makeWithTransaction({
    // The library's own tag: a `withTransaction` inside (e.g. the migrator's) becomes a savepoint of
    // this transaction, and every statement inside runs on its connection.
    transactionTag: SqlClient.TransactionConnection,
    spanAttributes: [["db.system.name", "sqlite"]],
    acquireConnection: Effect.flatMap(Scope.make(), (scope) =>
      Effect.map(Scope.extend(sql.reserve, scope), (conn) => [scope, conn] as const)
    ),
    begin: (conn) => run(conn, "BEGIN IMMEDIATE"),
    savepoint: (conn, id) => run(conn, `SAVEPOINT effect_sql_${id}`),
    // With the write lock held COMMIT should not meet BUSY in WAL mode; if it does, the transaction
    // is still open and committing again is right.
    commit: (conn) => retryBusy(run(conn, "COMMIT")),
    rollback: (conn) => run(conn, "ROLLBACK").pipe(Effect.catchIf(noTransaction, () => Effect.void)),
    rollbackSavepoint: (conn, id) => run(conn, `ROLLBACK TO SAVEPOINT effect_sql_${id}`)
  })

/**
 * Runs `effect` as one write transaction on `sql`: on SQLite `BEGIN IMMEDIATE`, tried again whole
 * while the database is busy; on other databases the client's ordinary transaction.
 *
 * @since 0.1.0
 */
export const writeTransaction =
  (sql: SqlClient.SqlClient) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | SqlError.SqlError, R> =>
    sql.onDialectOrElse({
      sqlite: () => retryBusy(immediate(sql)(effect)),
      orElse: () => sql.withTransaction(effect)
    })
