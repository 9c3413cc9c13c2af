/**
 * The default store: one SQLite file, WAL, embedded, nothing to start.
 *
 * Hot statements move whole batches through `json_each`, so a claim, a group commit or a batch of
 * records costs one statement however many items it carries.
 *
 * @since 0.1.0
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import { SqlClient, type SqlError } from "@effect/sql"
import * as Migrator from "@effect/sql/Migrator"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { Cause, Effect, Layer, Option, Schedule, Scope, Clock } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import type { Item, SourceRecord } from "../Domain/Item.js"
import { failureText, storeFailure } from "../Domain/FailureText.js"
import * as ReadOnlySideFiles from "./ReadOnlySideFiles.js"
import { outputJson } from "../Domain/Outcome.js"
import type { RunMetrics } from "../Domain/Run.js"
import { LATEST, MIGRATIONS_TABLE, migrations, SEQ_SPAN } from "./SqliteMigrations.js"
import * as SqlFleet from "./SqlFleet.js"
import { retryBusy, writeTransaction } from "./SqliteTransaction.js"
import { Store, StoreError, type ClaimOptions, type Completion, type Lease, type Release } from "./Store.js"
import * as WorkerRows from "./WorkerRows.js"
import {
  countsOf,
  errorOf,
  type ErrorSqlRow,
  failureOf,
  failureTagOf,
  type FailureSqlRow,
  METRIC_COLUMNS,
  metricsOf,
  resultOf,
  type ResultSqlRow,
  runInfoOf
} from "./SqlRows.js"
import { legacyKey } from "../Domain/ItemKey.js"

/**
 * @since 0.1.0
 */
export interface SqliteStoreOptions {
  /** The database file; created when absent. */
  readonly filename: string
  /** How long a statement waits for another process's write lock before failing. Default 10 s. */
  readonly busyTimeoutMs?: number | undefined
  /**
   * Extra `PRAGMA`s for the connection, e.g. `"cache_size = -65536"` or `"mmap_size = 268435456"`.
   * Applied after sluice's own and after the migrations, so they win.
   */
  readonly pragmas?: ReadonlyArray<string> | undefined
}

const SQLITE_HEADER = "SQLite format 3\u0000"

const causeMessage = (error: SqlError.SqlError): string => {
  const cause = error.cause
  return cause instanceof Error ? cause.message : error.message
}

/**
 * Refuses, before anything is written, a file that is not a sluice database or was written by a
 * newer sluice. Opening it normally would already write (WAL mode, the migrations table).
 */
const preflight = (filename: string): Effect.Effect<void, StoreError> =>
  Effect.gen(function* () {
    const header = yield* Effect.try({
      try: () => {
        if (!fs.existsSync(filename)) return undefined
        const st = fs.statSync(filename)
        if (st.isDirectory()) throw new Error(`${filename} is a directory`)
        if (st.size === 0) return undefined
        const fd = fs.openSync(filename, "r")
        try {
          const buf = Buffer.alloc(16)
          fs.readSync(fd, buf, 0, 16, 0)
          return buf.toString("latin1")
        } finally {
          fs.closeSync(fd)
        }
      },
      catch: (cause) =>
        new StoreError({
          reason: "Unavailable",
          location: filename,
          message: `cannot read ${filename}: ${cause instanceof Error ? cause.message : String(cause)}`
        })
    })
    if (header === undefined) return
    if (header !== SQLITE_HEADER) {
      return yield* new StoreError({
        reason: "NotSluice",
        location: filename,
        message: `${filename} is not a sluice database (it is not SQLite at all)`
      })
    }
    // Reading a database in WAL mode creates its -wal and -shm files even on a read-only connection;
    // remove the ones this check created, so a refused file is left exactly as it was found. Only a
    // refused one: another process may have opened the file meanwhile and be using them (deleting them
    // under it corrupts its writes), and an accepted file is opened next, whose close removes them.
    const sideFiles = [`${filename}-wal`, `${filename}-shm`].filter((f) => !fs.existsSync(f))
    const removeSideFiles = Effect.sync(() => sideFiles.forEach((f) => fs.rmSync(f, { force: true })))
    const tables = yield* Effect.scoped(
      Effect.gen(function* () {
        const client = yield* SqliteClient.make({ filename, readonly: true, disableWAL: true })
        const rows = yield* client<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table'`
        const names = rows.map((r) => r.name)
        const latest = names.includes(MIGRATIONS_TABLE)
          ? yield* client<{ n: number | null }>`SELECT max(migration_id) AS n FROM ${client(MIGRATIONS_TABLE)}`
          : []
        return { names, latest: latest[0]?.n ?? 0 }
      }).pipe(Effect.provide(Reactivity.layer))
    ).pipe(
      // This look has no busy_timeout of its own: another process opening the same new file switches it
      // to WAL, which locks it for a moment (seen as "cannot open …: database is locked" with 8 writers
      // opening at once at load 16). Busy is waited out here as everywhere else.
      retryBusy,
      Effect.onError(() => removeSideFiles),
      Effect.catchAllCause((cause) =>
        Effect.fail(
          new StoreError({
            reason: "Unavailable",
            location: filename,
            message: storeFailure("cannot open", filename, failureText(Cause.squash(cause)))
          })
        )
      )
    )
    const userTables = tables.names.filter((n) => !n.startsWith("sqlite_"))
    // Nothing yet, or only the migrations table with nothing applied: another process is creating
    // this database right now (the migrator makes its table before the first migration commits).
    if (userTables.length === 0) return
    if (userTables.length === 1 && userTables[0] === MIGRATIONS_TABLE && tables.latest === 0) return
    if (!userTables.includes("sluice_meta") || !userTables.includes(MIGRATIONS_TABLE)) {
      yield* removeSideFiles
      return yield* new StoreError({
        reason: "NotSluice",
        location: filename,
        message: `${filename} is a SQLite database but not a sluice one (it has tables ${userTables.slice(0, 5).join(", ")})`
      })
    }
    if (tables.latest > LATEST) {
      yield* removeSideFiles
      return yield* new StoreError({
        reason: "TooNew",
        location: filename,
        message: `${filename} was written by a newer sluice (schema ${tables.latest}, this version knows ${LATEST}); upgrade sluice`
      })
    }
  })

interface RunRow {
  readonly rid: number
  readonly id: string
  readonly config: string
  readonly created_at: number
  readonly fetched_at: number | null
}

interface ItemRow {
  readonly id: number
  readonly rid: number
  readonly seq: number
  readonly key: string
  readonly payload: string | null
  readonly deliveries: number
  readonly attempts: number
}

// Both halves name their partial index: left to itself the planner range-scans the run by id for
// expired leases, which reads every finished row on every claim. The expired half sorts its (few)
// rows by id itself: the index yields them by expiry, and a LIMIT taken in that order would hand out
// a later seq before an earlier one.
const claimSql = (byRuns: boolean, expired: boolean) => {
  const runs = byRuns ? " AND rid IN (SELECT value FROM json_each(?))" : ""
  const pending = `SELECT id FROM items INDEXED BY items_pending WHERE status = 'pending' AND id >= ? AND id < ? AND not_before <= ?${runs} ORDER BY id LIMIT ?`
  const candidates = expired
    ? `SELECT id FROM (
    SELECT id FROM (${pending})
    UNION ALL
    SELECT id FROM (SELECT id FROM items INDEXED BY items_leased WHERE status = 'processing' AND lease_expires < ? AND id >= ? AND id < ?${runs} ORDER BY id LIMIT ?)
  ) ORDER BY id LIMIT ?`
    : pending
  return `UPDATE items SET status = 'processing', lease_owner = ?, lease_expires = ?,
  deliveries = deliveries + 1, started_at = COALESCE(started_at, ?)
WHERE id IN (${candidates})
RETURNING id, rid, seq, key, payload, deliveries, attempts`
}
const CLAIM_SQL = claimSql(false, false)
const CLAIM_RUNS_SQL = claimSql(true, false)
const CLAIM_EXPIRED_SQL = claimSql(false, true)
const CLAIM_EXPIRED_RUNS_SQL = claimSql(true, true)

// Whether any lease has expired (crash recovery): one step into a small index. Most claims find none
// and use the plain statement, without the union.
const ANY_EXPIRED_SQL = `SELECT 1 AS x FROM items INDEXED BY items_leased WHERE status = 'processing' AND lease_expires < ? LIMIT 1`

// Batches travel as one JSON array of positional rows: one statement per batch, and positions parse
// faster than named fields.
// Completion row: [id, owner, status, output, error tag, message (or skip reason), attempts, route, finished at,
// lease token or null].
const COMPLETE_SQL = `UPDATE items SET
  status = j.value ->> 2,
  result = CASE WHEN j.value ->> 2 = 'completed' THEN j.value -> 3 END,
  error_tag = j.value ->> 4,
  error_message = j.value ->> 5,
  attempts = items.attempts + (j.value ->> 6),
  route = j.value ->> 7,
  finished_at = j.value ->> 8,
  lease_owner = NULL,
  lease_expires = NULL
FROM json_each(?) AS j
WHERE items.id = j.value ->> 0 AND items.status = 'processing' AND items.lease_owner = j.value ->> 1
  AND (j.value ->> 9 IS NULL OR items.deliveries = j.value ->> 9)
RETURNING items.id`

// The common case, completed items of one owner: [id, output as JSON text, attempts, route, finished at,
// lease token or null].
// Fewer fields per row, and the output is stored as the text JSON.stringify made (as PgStore does),
// so what the ordered output writes from memory is byte for byte what it would read back.
const COMPLETE_DONE_SQL = `UPDATE items SET
  status = 'completed',
  result = j.value ->> 1,
  attempts = items.attempts + (j.value ->> 2),
  route = j.value ->> 3,
  finished_at = j.value ->> 4,
  lease_owner = NULL,
  lease_expires = NULL
FROM json_each(?) AS j
WHERE items.id = j.value ->> 0 AND items.status = 'processing' AND items.lease_owner = ?
  AND (j.value ->> 5 IS NULL OR items.deliveries = j.value ->> 5)
RETURNING items.id`

// Release row: [id, owner, not before, attempts, lease token or null].
const RELEASE_SQL = `UPDATE items SET
  status = 'pending',
  not_before = j.value ->> 2,
  attempts = items.attempts + (j.value ->> 3),
  lease_owner = NULL,
  lease_expires = NULL
FROM json_each(?) AS j
WHERE items.id = j.value ->> 0 AND items.status = 'processing' AND items.lease_owner = j.value ->> 1
  AND (j.value ->> 4 IS NULL OR items.deliveries = j.value ->> 4)`

// Held lease row: [id, lease token]. Only leases the owner knows it holds, still under their token.
const HEARTBEAT_HELD_SQL = `UPDATE items SET lease_expires = ?
FROM json_each(?) AS j
WHERE items.id = j.value ->> 0 AND items.status = 'processing' AND items.lease_owner = ?
  AND items.deliveries = j.value ->> 1`

// Record row: [seq, key, payload as JSON text, line, error]. A row with an error is stored already failed.
const RECORD_SQL = `INSERT INTO items (id, rid, seq, key, payload, line, status, error_tag, error_message, created_at, finished_at)
SELECT ? + (j.value ->> 0), ?, j.value ->> 0, j.value ->> 1,
  CASE WHEN j.value ->> 4 IS NULL THEN j.value ->> 2 END,
  j.value ->> 3,
  CASE WHEN j.value ->> 4 IS NULL THEN 'pending' ELSE 'failed' END,
  CASE WHEN j.value ->> 4 IS NULL THEN NULL ELSE 'Invalid' END,
  j.value ->> 4,
  ?,
  CASE WHEN j.value ->> 4 IS NULL THEN NULL ELSE ? END
FROM json_each(?) AS j
WHERE true
ON CONFLICT DO NOTHING`

// Ordered rows that read now where the run holds a line that could not be read (failed at ingest, no
// payload): the record takes its place, pending. OR IGNORE leaves a row whose key another item holds.
const REVIVE_SQL = `UPDATE OR IGNORE items SET key = j.value ->> 1, payload = j.value ->> 2, line = j.value ->> 3,
  status = 'pending', attempts = 0, not_before = 0, route = NULL, result = NULL, error_tag = NULL,
  error_message = NULL, started_at = NULL, finished_at = NULL
FROM json_each(?) AS j
WHERE items.id = ? + (j.value ->> 0) AND items.status = 'failed' AND items.payload IS NULL
  AND (j.value ->> 4) IS NULL`

// Ordered rows that were not inserted: their seq is free (so their key was taken at another seq: a
// duplicate), or held by another key (the input changed since the run began).
const CONFLICTS_SQL = `SELECT j.value ->> 0 AS s, j.value ->> 1 AS k, j.value ->> 3 AS l, x.key AS held
FROM json_each(?) AS j LEFT JOIN items x ON x.id = ? + (j.value ->> 0)
WHERE x.id IS NULL OR x.key <> j.value ->> 1`

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: SqliteStoreOptions): Effect.Effect<Store["Type"], StoreError, Scope.Scope> =>
  Effect.gen(function* () {
    const filename = options.filename
    const location = filename
    // First: the preflight's read creates side files too.
    yield* ReadOnlySideFiles.removeOnClose(filename)
    yield* preflight(filename)
    yield* Effect.try({
      try: () => {
        const dir = path.dirname(path.resolve(filename))
        if (!fs.existsSync(dir)) throw new Error(`directory ${dir} does not exist`)
      },
      catch: (cause) =>
        new StoreError({
          reason: "Unavailable",
          location,
          message: `cannot create ${filename}: ${(cause as Error).message}`
        })
    })

    const sql: SqlClient.SqlClient = yield* SqliteClient.make({ filename }).pipe(
      Effect.provide(Reactivity.layer),
      Effect.catchAllDefect((defect) =>
        Effect.fail(
          new StoreError({
            reason: "Unavailable",
            location,
            message: storeFailure("cannot open", filename, defect instanceof Error ? defect.message : String(defect))
          })
        )
      )
    )
    return yield* makeWithClient(sql, options)
  })

/**
 * Options of a store on a client the host already has. `filename` only names the database in messages.
 *
 * @since 0.1.0
 */
export type WithClientOptions = Omit<SqliteStoreOptions, "filename"> & { readonly filename?: string | undefined }

/**
 * The store on a SQLite client the host already has (`@effect/sql-sqlite-node`), so the host's own
 * tables and sluice's live in one database on one connection: the host can read the results with its
 * own queries, and nothing opens the file twice. sluice creates its tables there with its migrations
 * (its own migrations table, `sluice_migrations`), and sets `busy_timeout` and `synchronous = NORMAL` on
 * the connection, as it does on its own (safe under WAL against a killed process). Its tables are
 * `items`, `runs`, `workers`, `fleet_budget`, `fleet_holders`, `response_cache` and `sluice_meta`: a
 * host database with a table of one of those names needs a file of its own for sluice.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeWithClient = (
  sql: SqlClient.SqlClient,
  options: WithClientOptions = {}
): Effect.Effect<Store["Type"], StoreError, Scope.Scope> =>
  Effect.gen(function* () {
    const filename = options.filename ?? "the host's SQLite database"
    const location = filename

    const writeError = (error: SqlError.SqlError) =>
      new StoreError({
        reason: "Write",
        location,
        message: storeFailure("cannot write to", filename, causeMessage(error))
      })
    const readError = (error: SqlError.SqlError) =>
      new StoreError({ reason: "Read", location, message: storeFailure("cannot read", filename, causeMessage(error)) })

    yield* sql
      .unsafe(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 10_000))}`)
      .pipe(Effect.mapError(writeError))
    // WAL with synchronous=NORMAL survives a killed process (the crash we guarantee against); only an
    // OS crash or power loss may drop the last commits.
    yield* sql.unsafe("PRAGMA synchronous = NORMAL").pipe(Effect.mapError(writeError))

    // Every write transaction takes the write lock first and waits out a busy file (SqliteTransaction.ts).
    const writes = { withTransaction: writeTransaction(sql) }

    // Several processes may open a new file at once: the migrations run in one write transaction, so
    // one process migrates and the others wait, then find nothing to do. Only when needed, so that a
    // read-only file still opens. Checked again after, until the schema is really there.
    const latestApplied = sql
      .unsafe<{ n: number | null }>(`SELECT max(migration_id) AS n FROM ${MIGRATIONS_TABLE}`)
      .pipe(Effect.map((rows) => rows[0]?.n ?? 0))
    const migrate = writes.withTransaction(
      Migrator.make({})({ loader: Effect.succeed(migrations), table: MIGRATIONS_TABLE })
    )
    // (Not by trying latestApplied: the client caches a statement that failed to prepare, "no such table".)
    const hasTable = sql
      .unsafe<{ n: number }>("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = ?", [
        MIGRATIONS_TABLE
      ])
      .pipe(Effect.map((rows) => (rows[0]?.n ?? 0) > 0))
    yield* hasTable.pipe(
      Effect.flatMap((has) => (has ? latestApplied : Effect.succeed(0))),
      Effect.flatMap((n) => (n >= LATEST ? Effect.void : migrate)),
      Effect.zipRight(latestApplied),
      Effect.filterOrFail(
        (n) => n >= LATEST,
        () => new Migrator.MigrationError({ reason: "locked", message: "schema not yet migrated" })
      ),
      Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.intersect(Schedule.recurs(200)))),
      Effect.provideService(SqlClient.SqlClient, sql),
      Effect.mapError(
        (e) =>
          new StoreError({
            reason: "Write",
            location,
            message: storeFailure("cannot prepare", filename, e._tag === "SqlError" ? causeMessage(e) : e.message)
          })
      )
    )

    // After the migrations, so a pragma such as `query_only` cannot stop the schema being made.
    for (const pragma of options.pragmas ?? []) yield* sql.unsafe(`PRAGMA ${pragma}`).pipe(Effect.mapError(writeError))

    const rids = new Map<string, number>()
    const names = new Map<number, string>()
    const remember = (r: { rid: number; id: string }) => {
      rids.set(r.id, r.rid)
      names.set(r.rid, r.id)
    }

    const ridOf = (run: string): Effect.Effect<number | undefined, StoreError> => {
      const known = rids.get(run)
      if (known !== undefined) return Effect.succeed(known)
      return sql.unsafe<{ rid: number }>("SELECT rid FROM runs WHERE id = ?", [run]).pipe(
        Effect.mapError(readError),
        Effect.map((rows) => {
          const rid = rows[0]?.rid
          if (rid !== undefined) remember({ rid, id: run })
          return rid
        })
      )
    }
    const requireRid = (run: string) =>
      Effect.flatMap(ridOf(run), (rid) =>
        rid === undefined
          ? Effect.fail(new StoreError({ reason: "Read", location, message: `no run "${run}" in ${filename}` }))
          : Effect.succeed(rid)
      )
    const nameOf = (rid: number): Effect.Effect<string, StoreError> => {
      const known = names.get(rid)
      if (known !== undefined) return Effect.succeed(known)
      return sql.unsafe<{ id: string }>("SELECT id FROM runs WHERE rid = ?", [rid]).pipe(
        Effect.mapError(readError),
        Effect.map((rows) => {
          const id = rows[0]?.id ?? String(rid)
          remember({ rid, id })
          return id
        })
      )
    }
    /** The id range of one run, or of every run. */
    const range = (run: string | undefined) =>
      run === undefined
        ? Effect.succeed([0, Number.MAX_SAFE_INTEGER] as const)
        : Effect.map(ridOf(run), (rid) =>
            rid === undefined ? ([0, 0] as const) : ([rid * SEQ_SPAN, (rid + 1) * SEQ_SPAN] as const)
          )

    const getRun = (id: string) =>
      sql.unsafe<RunRow>("SELECT rid, id, config, created_at, fetched_at FROM runs WHERE id = ?", [id]).pipe(
        Effect.mapError(readError),
        Effect.map((rows) => {
          const row = rows[0]
          if (row === undefined) return Option.none()
          remember(row)
          return Option.some(runInfoOf(row))
        })
      )

    const openRun = (id: string, config: unknown) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        yield* sql
          .unsafe(
            `INSERT INTO runs (id, config, created_at) VALUES (?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET config = excluded.config`,
            [id, JSON.stringify(config ?? null), now]
          )
          .pipe(retryBusy, Effect.mapError(writeError))
        const run = yield* getRun(id)
        return Option.getOrThrow(run)
      })

    const listRuns = sql.unsafe<RunRow>("SELECT rid, id, config, created_at, fetched_at FROM runs ORDER BY rid").pipe(
      Effect.mapError(readError),
      Effect.map((rows) => rows.map((r) => (remember(r), runInfoOf(r))))
    )

    const markFetched = (run: string) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        yield* sql
          .unsafe("UPDATE runs SET fetched_at = ? WHERE id = ?", [now, run])
          .pipe(retryBusy, Effect.mapError(writeError))
      })

    const toItem = (run: string, r: ItemRow): Item => ({
      run,
      seq: r.seq,
      key: r.key,
      payload: r.payload === null ? null : JSON.parse(r.payload),
      deliveries: r.deliveries,
      attempts: r.attempts
    })

    const record = (run: string, records: ReadonlyArray<SourceRecord>) =>
      Effect.gen(function* () {
        if (records.length === 0) return { inserted: 0, alreadyCompleted: [] }
        const rid = yield* requireRid(run)
        const now = yield* Clock.currentTimeMillis
        return yield* writes
          .withTransaction(
            Effect.gen(function* () {
              // A write first, so this transaction holds the write lock before it reads anything:
              // a deferred transaction that reads and then writes can fail at once under contention.
              const [{ next_seq: nextSeq } = { next_seq: 0 }] = yield* sql.unsafe<{ next_seq: number }>(
                "UPDATE runs SET next_seq = next_seq WHERE rid = ? RETURNING next_seq",
                [rid]
              )
              const unordered = records.filter((r) => r.ordinal === undefined)
              let existing = new Set<string>()
              if (unordered.length > 0) {
                const rows = yield* sql.unsafe<{ key: string }>(
                  "SELECT key FROM items WHERE rid = ? AND key IN (SELECT value FROM json_each(?))",
                  [rid, JSON.stringify(unordered.map((r) => r.key))]
                )
                existing = new Set(rows.map((r) => r.key))
              }
              let seq = nextSeq
              let maxSeq = nextSeq - 1
              const seenInBatch = new Set<string>()
              const rows: Array<unknown> = []
              let ordered = 0
              for (const r of records) {
                const isOrdered = r.ordinal !== undefined
                if (!isOrdered && (existing.has(r.key) || seenInBatch.has(r.key))) continue
                const s = isOrdered ? r.ordinal! : seq++
                // The id packs (run, seq): a seq outside the span would land in a neighbouring run.
                if (!Number.isSafeInteger(s) || s < 0 || s >= SEQ_SPAN) {
                  return yield* new StoreError({
                    reason: "Write",
                    location,
                    message: `cannot record "${r.key}" in ${filename}: seq ${s} is outside 0..${SEQ_SPAN - 1}`
                  })
                }
                if (s > maxSeq) maxSeq = s
                if (isOrdered) ordered++
                // Two lines with one key fail the later one with its line, rather than vanishing
                // into the unique index.
                const dup = isOrdered && seenInBatch.has(r.key)
                seenInBatch.add(r.key)
                rows.push(
                  r._tag === "Malformed"
                    ? [s, r.key, null, r.line, `line ${r.line}: ${r.message}`]
                    : dup
                      ? [s, `${r.key}#${s}`, null, r.line ?? null, `line ${r.line ?? s + 1}: duplicate key "${r.key}"`]
                      : [
                          s,
                          r.key,
                          r.json ?? JSON.stringify(r.payload === undefined ? null : r.payload),
                          r.line ?? null,
                          null
                        ]
                )
              }
              let inserted = 0
              let revived = 0
              if (rows.length > 0) {
                const base = rid * SEQ_SPAN
                const batch = JSON.stringify(rows)
                const result = yield* sql.unsafe(RECORD_SQL, [base, rid, now, now, batch]).raw
                inserted = (result as { changes?: number }).changes ?? rows.length
                if (inserted < rows.length && ordered > 0) {
                  // The slow path, only when something was not inserted: duplicates across batches.
                  const orderedRows = JSON.stringify(rows.filter((_, i) => records[i]?.ordinal !== undefined))
                  const revive = yield* sql.unsafe(REVIVE_SQL, [orderedRows, base]).raw
                  revived = (revive as { changes?: number }).changes ?? 0
                  const conflicts = yield* sql.unsafe<{ s: number; k: string; l: number | null; held: string | null }>(
                    CONFLICTS_SQL,
                    [orderedRows, base]
                  )
                  const dups = conflicts.filter((c) => c.held === null)
                  if (dups.length > 0) {
                    const again = yield* sql.unsafe(RECORD_SQL, [
                      base,
                      rid,
                      now,
                      now,
                      JSON.stringify(
                        dups.map((c) => [
                          c.s,
                          `${c.k}#${c.s}`,
                          null,
                          c.l,
                          `line ${c.l ?? c.s + 1}: duplicate key "${c.k}"`
                        ])
                      )
                    ]).raw
                    inserted += (again as { changes?: number }).changes ?? dups.length
                  }
                  // A run recorded before keys had namespaces holds "3" where this release reads "line:3": the same line.
                  const changed = conflicts.filter((c) => c.held !== null && c.held !== legacyKey(c.k))
                  if (changed.length > 0) {
                    const c = changed[0]!
                    yield* Effect.logWarning(
                      `${filename}: the source of run "${run}" changed since it began: line ${c.l ?? c.s + 1} now has key "${c.k}" where the run recorded "${c.held}"; the recorded item is kept` +
                        (changed.length > 1 ? ` (and ${changed.length - 1} more)` : "")
                    )
                  }
                }
                if (maxSeq >= nextSeq) {
                  yield* sql.unsafe("UPDATE runs SET next_seq = max(next_seq, ?) WHERE rid = ?", [maxSeq + 1, rid])
                }
              }
              let alreadyCompleted: ReadonlyArray<Item> = []
              if (inserted < records.length) {
                const done = yield* sql.unsafe<ItemRow>(
                  `SELECT id, rid, seq, key, payload, deliveries, attempts FROM items
                   WHERE rid = ? AND status = 'completed' AND key IN (SELECT value FROM json_each(?))`,
                  [rid, JSON.stringify(records.map((r) => r.key))]
                )
                alreadyCompleted = done.map((r) => toItem(run, r))
              }
              return { inserted, alreadyCompleted, revived }
            })
          )
          .pipe(Effect.catchTag("SqlError", (e) => Effect.fail(writeError(e))))
      })

    const claim = (opts: ClaimOptions) =>
      Effect.gen(function* () {
        const [lo, hi] = yield* range(opts.run)
        if (hi <= lo || opts.limit <= 0) return []
        let rids: string | undefined
        if (opts.run === undefined && opts.runs !== undefined) {
          const known: Array<number> = []
          for (const r of opts.runs) {
            const rid = yield* ridOf(r)
            if (rid !== undefined) known.push(rid)
          }
          if (known.length === 0) return []
          rids = JSON.stringify(known)
        }
        const now = yield* Clock.currentTimeMillis
        const half = (...p: Array<unknown>) => (rids === undefined ? p : [...p, rids])
        const expired = (yield* sql.unsafe(ANY_EXPIRED_SQL, [now]).pipe(Effect.mapError(readError))).length > 0
        const rows = yield* sql
          .unsafe<ItemRow>(
            expired
              ? rids === undefined
                ? CLAIM_EXPIRED_SQL
                : CLAIM_EXPIRED_RUNS_SQL
              : rids === undefined
                ? CLAIM_SQL
                : CLAIM_RUNS_SQL,
            expired
              ? [
                  opts.owner,
                  now + opts.leaseMs,
                  now,
                  ...half(lo, hi, now),
                  opts.limit,
                  ...half(now, lo, hi),
                  opts.limit,
                  opts.limit
                ]
              : [opts.owner, now + opts.leaseMs, now, ...half(lo, hi, now), opts.limit]
          )
          .pipe(retryBusy, Effect.mapError(writeError))
        if (rows.length === 0) return []
        const sorted = [...rows].sort((a, b) => a.id - b.id)
        const items: Array<Item> = []
        // Run names are cached: an Effect step per item only for a run not seen before.
        for (const r of sorted) items.push(toItem(names.get(r.rid) ?? (yield* nameOf(r.rid)), r))
        return items
      })

    const heartbeat = (owner: string, leaseMs: number, held?: ReadonlyArray<Lease>) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        if (held !== undefined) {
          if (held.length === 0) return 0
          const rows: Array<ReadonlyArray<number>> = []
          for (const h of held) rows.push([(rids.get(h.run) ?? (yield* requireRid(h.run))) * SEQ_SPAN + h.seq, h.lease])
          const result = yield* sql
            .unsafe(HEARTBEAT_HELD_SQL, [now + leaseMs, JSON.stringify(rows), owner])
            .raw.pipe(retryBusy, Effect.mapError(writeError))
          return (result as { changes?: number }).changes ?? 0
        }
        const result = yield* sql
          .unsafe("UPDATE items SET lease_expires = ? WHERE status = 'processing' AND lease_owner = ?", [
            now + leaseMs,
            owner
          ])
          .raw.pipe(retryBusy, Effect.mapError(writeError))
        return (result as { changes?: number }).changes ?? 0
      })

    const complete = (completions: ReadonlyArray<Completion>) =>
      Effect.gen(function* () {
        if (completions.length === 0) return []
        const done = new Map<string, Array<ReadonlyArray<unknown>>>()
        const other: Array<ReadonlyArray<unknown>> = []
        const ids: Array<number> = []
        for (const c of completions) {
          const rid = rids.get(c.run) ?? (yield* requireRid(c.run))
          const id = rid * SEQ_SPAN + c.seq
          ids.push(id)
          const o = c.outcome
          if (o._tag === "Completed") {
            let rows = done.get(c.owner)
            if (rows === undefined) done.set(c.owner, (rows = []))
            rows.push([id, outputJson(o.output), c.attempts, c.route ?? null, c.finishedAt, c.lease ?? null])
          } else {
            other.push(
              o._tag === "Skipped"
                ? [
                    id,
                    c.owner,
                    "skipped",
                    null,
                    null,
                    o.reason,
                    c.attempts,
                    c.route ?? null,
                    c.finishedAt,
                    c.lease ?? null
                  ]
                : [
                    id,
                    c.owner,
                    "failed",
                    null,
                    o.tag,
                    o.message,
                    c.attempts,
                    c.route ?? null,
                    c.finishedAt,
                    c.lease ?? null
                  ]
            )
          }
        }
        const written = new Set<number>()
        yield* writes
          .withTransaction(
            Effect.gen(function* () {
              for (const [owner, rows] of done) {
                for (const r of yield* sql.unsafe<{ id: number }>(COMPLETE_DONE_SQL, [JSON.stringify(rows), owner])) {
                  written.add(r.id)
                }
              }
              if (other.length > 0) {
                for (const r of yield* sql.unsafe<{ id: number }>(COMPLETE_SQL, [JSON.stringify(other)]))
                  written.add(r.id)
              }
            })
          )
          .pipe(Effect.mapError(writeError))
        return ids.map((id) => written.has(id))
      })

    const release = (releases: ReadonlyArray<Release>) =>
      Effect.gen(function* () {
        if (releases.length === 0) return
        const payload: Array<ReadonlyArray<unknown>> = []
        for (const r of releases) {
          const rid = rids.get(r.run) ?? (yield* requireRid(r.run))
          payload.push([rid * SEQ_SPAN + r.seq, r.owner, r.notBefore, r.attempts, r.lease ?? null])
        }
        yield* sql.unsafe(RELEASE_SQL, [JSON.stringify(payload)]).pipe(retryBusy, Effect.mapError(writeError))
      })

    const releaseOwner = (owner: string) =>
      sql
        .unsafe(
          "UPDATE items SET status = 'pending', lease_owner = NULL, lease_expires = NULL WHERE status = 'processing' AND lease_owner = ?",
          [owner]
        )
        .raw.pipe(
          retryBusy,
          Effect.mapError(writeError),
          Effect.map((r) => (r as { changes?: number }).changes ?? 0)
        )

    const counts = (run?: string) =>
      Effect.gen(function* () {
        const [lo, hi] = yield* range(run)
        const rows = yield* sql
          .unsafe<{ status: string; n: number }>(
            "SELECT status, count(*) AS n FROM items WHERE id >= ? AND id < ? GROUP BY status",
            [lo, hi]
          )
          .pipe(Effect.mapError(readError))
        return countsOf(rows)
      })

    const results = (run: string, opts: { afterSeq: number; limit: number }) =>
      Effect.gen(function* () {
        const rid = yield* ridOf(run)
        if (rid === undefined) return []
        const rows = yield* sql
          .unsafe<ResultSqlRow>(
            `SELECT seq, key, status, result, error_tag, error_message, attempts FROM items
             WHERE id > ? AND id < ? ORDER BY id LIMIT ?`,
            [rid * SEQ_SPAN + opts.afterSeq, (rid + 1) * SEQ_SPAN, opts.limit]
          )
          .pipe(Effect.mapError(readError))
        return rows.map(resultOf)
      })

    const lastErrors = (run: string | undefined, limit: number) =>
      Effect.gen(function* () {
        const [lo, hi] = yield* range(run)
        const rows = yield* sql
          .unsafe<ErrorSqlRow>(
            `SELECT r.id AS run, i.seq, i.key, i.error_tag, i.error_message, i.attempts, i.finished_at
             FROM items i JOIN runs r ON r.rid = i.rid
             WHERE i.status = 'failed' AND i.id >= ? AND i.id < ? ORDER BY i.finished_at DESC, i.id DESC LIMIT ?`,
            [lo, hi, limit]
          )
          .pipe(Effect.mapError(readError))
        return rows.map(errorOf)
      })

    const retryFailed = (run?: string, tag?: string) =>
      Effect.gen(function* () {
        const [lo, hi] = yield* range(run)
        // A line that could not be read has no payload to process again: it stays failed.
        const result = yield* sql
          .unsafe(
            `UPDATE items SET status = 'pending', not_before = 0, result = NULL, error_tag = NULL,
               error_message = NULL, finished_at = NULL
             WHERE status = 'failed' AND payload IS NOT NULL AND id >= ? AND id < ?${tag === undefined ? "" : " AND error_tag = ?"}`,
            tag === undefined ? [lo, hi] : [lo, hi, tag]
          )
          .raw.pipe(retryBusy, Effect.mapError(writeError))
        return (result as { changes?: number }).changes ?? 0
      })

    const failures = (run: string, opts: { tag?: string | undefined; afterSeq: number; limit: number }) =>
      Effect.gen(function* () {
        const rid = yield* ridOf(run)
        if (rid === undefined) return []
        const rows = yield* sql
          .unsafe<FailureSqlRow>(
            `SELECT seq, key, line, error_tag, error_message, attempts, finished_at, payload IS NOT NULL AS retryable
             FROM items WHERE id > ? AND id < ? AND status = 'failed'${opts.tag === undefined ? "" : " AND error_tag = ?"}
             ORDER BY id LIMIT ?`,
            [
              rid * SEQ_SPAN + opts.afterSeq,
              (rid + 1) * SEQ_SPAN,
              ...(opts.tag === undefined ? [] : [opts.tag]),
              Math.max(0, opts.limit)
            ]
          )
          .pipe(Effect.mapError(readError))
        return rows.map(failureOf)
      })

    const failureTags = (run: string) =>
      Effect.gen(function* () {
        const [lo, hi] = yield* range(run)
        const rows = yield* sql
          .unsafe<{ tag: string | null; n: number; retryable: number | null }>(
            `SELECT error_tag AS tag, count(*) AS n, sum(payload IS NOT NULL) AS retryable FROM items
             WHERE status = 'failed' AND id >= ? AND id < ? GROUP BY error_tag ORDER BY n DESC, tag`,
            [lo, hi]
          )
          .pipe(Effect.mapError(readError))
        return rows.map(failureTagOf)
      })

    const finishedOverTime = (run: string, bucketMs: number) =>
      Effect.gen(function* () {
        const [lo, hi] = yield* range(run)
        const size = Math.max(1, Math.floor(bucketMs))
        const rows = yield* sql
          .unsafe<{ b: number; n: number }>(
            `SELECT (finished_at / CAST(? AS INTEGER)) * CAST(? AS INTEGER) AS b, count(*) AS n FROM items
             WHERE id >= ? AND id < ? AND finished_at IS NOT NULL GROUP BY 1 ORDER BY 1`,
            [size, size, lo, hi]
          )
          .pipe(Effect.mapError(readError))
        return rows.map((r) => ({ atMs: Number(r.b), finished: Number(r.n) }))
      })

    const addMetrics = (run: string, delta: Partial<RunMetrics>) =>
      Effect.gen(function* () {
        const sets: Array<string> = []
        const params: Array<unknown> = []
        if (delta.concurrency !== undefined) {
          sets.push("concurrency = ?")
          params.push(delta.concurrency)
        }
        for (const [field, column] of METRIC_COLUMNS) {
          const v = delta[field]
          if (v !== undefined && v !== 0) {
            sets.push(`${column} = ${column} + ?`)
            params.push(v)
          }
        }
        if (sets.length === 0) return
        params.push(run)
        yield* sql
          .unsafe(`UPDATE runs SET ${sets.join(", ")} WHERE id = ?`, params)
          .pipe(retryBusy, Effect.mapError(writeError))
      })

    const metrics = (run: string) =>
      sql
        .unsafe<Record<string, number>>(
          `SELECT concurrency, ${METRIC_COLUMNS.map(([, c]) => c).join(", ")} FROM runs WHERE id = ?`,
          [run]
        )
        .pipe(
          Effect.mapError(readError),
          Effect.map((rows) => metricsOf(rows[0]))
        )

    const ping = sql.unsafe("SELECT 1").pipe(
      Effect.as(true),
      Effect.catchAll(() => Effect.succeed(false))
    )

    const fleet = SqlFleet.make(sql, {
      dialect: "sqlite",
      budgetTable: "fleet_budget",
      holdersTable: "fleet_holders",
      readError,
      writeError
    })

    return Store.of({
      ...fleet,
      location,
      openRun,
      getRun,
      listRuns,
      markFetched,
      record,
      claim,
      heartbeat,
      complete,
      release,
      releaseOwner,
      counts,
      results,
      lastErrors,
      retryFailed,
      failures,
      failureTags,
      finishedOverTime,
      addMetrics,
      metrics,
      ...WorkerRows.make(sql, { workers: "workers", items: "items" }, { write: writeError, read: readError }),
      ping
    })
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: SqliteStoreOptions): Layer.Layer<Store, StoreError> => Layer.scoped(Store, make(options))

/**
 * The store on the host's `SqliteClient` (`makeWithClient`): provide the host's client layer to it.
 *
 * ```ts
 * const Db = SqliteClient.layer({ filename: "app.db" })
 * const Queue = SqliteStore.layerClient().pipe(Layer.provide(Db))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerClient = (
  options: WithClientOptions = {}
): Layer.Layer<Store, StoreError, SqliteClient.SqliteClient> =>
  Layer.scoped(
    Store,
    Effect.flatMap(SqliteClient.SqliteClient, (sql) => makeWithClient(sql, options))
  )
