/**
 * The store on PostgreSQL, for many machines sharing one queue: workers on several hosts claim from the
 * same tables with `FOR UPDATE SKIP LOCKED`, so an item is leased to one of them and nobody waits.
 *
 * Semantics are SqliteStore's, checked by the same conformance suite. Hot statements move whole batches
 * as arrays (`unnest`), so a claim, a group commit or a batch of records costs one statement however
 * many items it carries. Every table lives in one schema (`sluice` by default), so the store can share a
 * database with an application; the password stays `Redacted` and never reaches a message.
 *
 * @since 0.1.0
 */
import { SqlClient, type SqlError } from "@effect/sql"
import * as Migrator from "@effect/sql/Migrator"
import * as PgClient from "@effect/sql-pg/PgClient"
import { Clock, Config, Duration, Effect, Layer, Option, Redacted, type ConfigError } from "effect"
import type { Item, SourceRecord } from "../Domain/Item.js"
import { outputJson } from "../Domain/Outcome.js"
import { emptyCounts, type RunMetrics } from "../Domain/Run.js"
import * as PgSocket from "./PgSocket.js"
import { isConnectionLoss } from "./PgConnectionLoss.js"
import { DEFAULT_SCHEMA, isSchemaName, LATEST, MIGRATIONS_TABLE, migrations } from "./PgMigrations.js"
import * as SqlFleet from "./SqlFleet.js"
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
export interface PgStoreOptions {
  /**
   * `postgres://user:password@host:5432/database` (or `postgresql://`); query parameters such as
   * `sslmode=require` are passed on. Kept `Redacted`: it usually carries the password.
   */
  readonly url: Redacted.Redacted<string>
  /** The password when the URL has none (the CLI reads `PGPASSWORD`). */
  readonly password?: Redacted.Redacted<string> | undefined
  /** The schema holding sluice's tables, created when absent. Default `sluice`. */
  readonly schema?: string | undefined
  /** Connections in the pool. Default 10. */
  readonly maxConnections?: number | undefined
  /** How long opening a connection may take. Default 10 seconds. */
  readonly connectTimeout?: Duration.DurationInput | undefined
  /**
   * When set, a connection that sent a statement and heard nothing back for this long is closed, as
   * lost (`PgSocket.ts`): after a network cut no half-dead connection stays in the pool. Unset (the
   * default), a statement may take as long as it takes.
   */
  readonly answerTimeout?: Duration.DurationInput | undefined
}

/**
 * @since 0.1.0
 */
export interface PgStoreMakeOptions {
  /** The schema holding sluice's tables, created when absent. Default `sluice`. */
  readonly schema?: string | undefined
}

// ---- messages: they name the database and never carry the password ------------------------------

/** The text of a failure, however the driver wrapped it (a refused `localhost` is an AggregateError). */
const describe = (cause: unknown): string => {
  if (cause instanceof AggregateError && cause.errors.length > 0) return cause.errors.map(describe).join("; ")
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code
    return cause.message.length > 0 ? cause.message : typeof code === "string" ? code : cause.name
  }
  return String(cause)
}

const causeMessage = (error: SqlError.SqlError): string =>
  error.cause === undefined ? error.message : describe(error.cause)

/** Removes every spelling of the secrets from a message, should a driver ever echo one. */
const scrubber = (secrets: ReadonlyArray<string>) => {
  const spellings = [...new Set(secrets.flatMap((s) => [s, encodeURIComponent(s)]))].filter((s) => s.length > 0)
  return (text: string) => spellings.reduce((t, s) => t.split(s).join("***"), text)
}

/** `postgres://user@host:port/database`, with ` (schema x)` when the schema is not the default. */
const describeLocation = (
  parts: {
    readonly username?: string | undefined
    readonly host?: string | undefined
    readonly port?: number | string | undefined
    readonly database?: string | undefined
  },
  schema: string
) => {
  const user = parts.username !== undefined && parts.username.length > 0 ? `${parts.username}@` : ""
  const host = parts.host !== undefined && parts.host.length > 0 ? parts.host : "localhost"
  const port = parts.port !== undefined && `${parts.port}`.length > 0 ? `:${parts.port}` : ""
  const where = `postgres://${user}${host}${port}/${parts.database ?? ""}`
  return schema === DEFAULT_SCHEMA ? where : `${where} (schema ${schema})`
}

const schemaOf = (schema: string | undefined, location: string): Effect.Effect<string, StoreError> => {
  const name = schema ?? DEFAULT_SCHEMA
  return isSchemaName(name)
    ? Effect.succeed(name)
    : Effect.fail(
        new StoreError({
          reason: "Unavailable",
          location,
          message: `"${name}" cannot be sluice's schema in ${location}: use lower-case letters, digits and _`
        })
      )
}

/** A URL part as text; a malformed escape is kept as written rather than thrown. */
const decode = (part: string) => {
  try {
    return decodeURIComponent(part)
  } catch {
    return part
  }
}

interface Connection {
  /** The URL handed to the driver: the caller's, with the password and `search_path` added. */
  readonly url: Redacted.Redacted<string>
  readonly location: string
  readonly schema: string
  readonly scrub: (text: string) => string
}

/**
 * Reads the URL. The connection's `search_path` is sluice's schema, so code that names the tables
 * without a schema (the response cache on this client) finds them.
 */
const connection = (options: PgStoreOptions): Effect.Effect<Connection, StoreError> =>
  Effect.gen(function* () {
    const raw = Redacted.value(options.url)
    let url: URL
    try {
      url = new URL(raw)
    } catch {
      // The URL itself may hold the password: say what is wrong without repeating it.
      return yield* new StoreError({
        reason: "Unavailable",
        location: "postgres://",
        message: "the database URL cannot be read: expected postgres://user:password@host:port/database"
      })
    }
    const location0 = describeLocation(
      {
        username: decode(url.username),
        host: url.hostname.length > 0 ? url.hostname : (url.searchParams.get("host") ?? undefined),
        port: url.port,
        database: decode(url.pathname.replace(/^\//, ""))
      },
      options.schema ?? DEFAULT_SCHEMA
    )
    if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
      return yield* new StoreError({
        reason: "Unavailable",
        location: location0,
        message: `the database URL must start with postgres:// or postgresql://, not ${url.protocol}//`
      })
    }
    const schema = yield* schemaOf(options.schema, location0)
    const inUrl = decode(url.password)
    const secrets = [inUrl, url.password, url.searchParams.get("password") ?? ""]
    if (inUrl.length === 0 && options.password !== undefined) {
      const password = Redacted.value(options.password)
      secrets.push(password)
      // A query parameter works for every URL form, a socket directory (`?host=/run/postgresql`) included.
      url.searchParams.set("password", password)
    }
    const given = url.searchParams.get("options")
    url.searchParams.set("options", `${given === null ? "" : `${given} `}-c search_path=${schema}`)
    return { url: Redacted.make(url.href), location: location0, schema, scrub: scrubber(secrets) }
  })

// ---- rows ----------------------------------------------------------------------------------------

// bigint columns arrive as strings from the driver; counts and ms times are far below 2^53.
type Num = number | string

interface RunRow {
  readonly rid: number
  readonly id: string
  readonly config: string
  readonly created_at: Num
  readonly fetched_at: Num | null
}

interface ItemRow {
  readonly rid: number
  readonly seq: Num
  readonly key: string
  readonly payload: string | null
  readonly deliveries: number
  readonly attempts: number
}

/** Two statements that lock the same rows in different orders deadlock; Postgres then aborts one. */
const isConflict = (error: SqlError.SqlError) => {
  const code = (error.cause as { code?: unknown } | undefined)?.code
  return code === "40P01" || code === "40001"
}

const rowCount = (result: unknown) => (result as { rowCount?: number | null }).rowCount ?? 0

// ---- statements ----------------------------------------------------------------------------------

const statements = (s: string) => {
  const items = `${s}.items`
  // Each half locks what it will hand out, lowest seq first, skipping rows another claimer holds: the
  // pending items that are due, and the leases that have expired. The union keeps the lowest `limit`;
  // rows a half locked beyond them are free again when the statement ends.
  const claim = (byRuns: boolean) => {
    const runs = byRuns ? " AND rid = ANY($5::int[])" : ""
    return `WITH p AS (
  SELECT rid, seq FROM ${items} WHERE status = 'pending' AND not_before <= $3${runs}
  ORDER BY rid, seq LIMIT $4 FOR UPDATE SKIP LOCKED
), e AS (
  SELECT rid, seq FROM ${items} WHERE status = 'processing' AND lease_expires < $3${runs}
  ORDER BY rid, seq LIMIT $4 FOR UPDATE SKIP LOCKED
), c AS (
  SELECT rid, seq FROM p UNION ALL SELECT rid, seq FROM e ORDER BY rid, seq LIMIT $4
)
UPDATE ${items} i SET status = 'processing', lease_owner = $1, lease_expires = $2,
  deliveries = i.deliveries + 1, started_at = COALESCE(i.started_at, $3)
FROM c WHERE i.rid = c.rid AND i.seq = c.seq
RETURNING i.rid, i.seq, i.key, i.payload, i.deliveries, i.attempts`
  }
  // Batch writes lock their rows in (rid, seq) order first: a heartbeat and a group commit of the same
  // owner run side by side, and rows locked in two orders would deadlock.
  const lockedByOwner = `SELECT rid, seq FROM ${items} WHERE status = 'processing' AND lease_owner = $2
  ORDER BY rid, seq FOR UPDATE`
  return {
    claim: claim(false),
    claimRuns: claim(true),
    complete: `WITH u AS (
  SELECT * FROM unnest($1::int[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[], $9::text[], $10::bigint[], $11::int[])
    AS u(rid, seq, owner, status, output, tag, message, attempts, route, finished_at, lease)
), t AS (
  SELECT i.rid, i.seq FROM ${items} i JOIN u ON i.rid = u.rid AND i.seq = u.seq
  WHERE i.status = 'processing' AND i.lease_owner = u.owner AND (u.lease IS NULL OR i.deliveries = u.lease)
  ORDER BY i.rid, i.seq FOR UPDATE OF i
)
UPDATE ${items} i SET status = u.status, result = u.output, error_tag = u.tag, error_message = u.message,
  attempts = i.attempts + u.attempts, route = u.route, finished_at = u.finished_at,
  lease_owner = NULL, lease_expires = NULL
FROM t JOIN u ON u.rid = t.rid AND u.seq = t.seq
WHERE i.rid = t.rid AND i.seq = t.seq
RETURNING i.rid, i.seq`,
    release: `WITH u AS (
  SELECT * FROM unnest($1::int[], $2::bigint[], $3::text[], $4::bigint[], $5::int[], $6::int[]) AS u(rid, seq, owner, not_before, attempts, lease)
), t AS (
  SELECT i.rid, i.seq FROM ${items} i JOIN u ON i.rid = u.rid AND i.seq = u.seq
  WHERE i.status = 'processing' AND i.lease_owner = u.owner AND (u.lease IS NULL OR i.deliveries = u.lease)
  ORDER BY i.rid, i.seq FOR UPDATE OF i
)
UPDATE ${items} i SET status = 'pending', not_before = u.not_before, attempts = i.attempts + u.attempts,
  lease_owner = NULL, lease_expires = NULL
FROM t JOIN u ON u.rid = t.rid AND u.seq = t.seq
WHERE i.rid = t.rid AND i.seq = t.seq`,
    heartbeat: `WITH t AS (${lockedByOwner})
UPDATE ${items} i SET lease_expires = $1 FROM t WHERE i.rid = t.rid AND i.seq = t.seq`,
    // Only the leases the owner knows it holds, under their token.
    heartbeatHeld: `WITH u AS (
  SELECT * FROM unnest($3::int[], $4::bigint[], $5::int[]) AS u(rid, seq, lease)
), t AS (
  SELECT i.rid, i.seq FROM ${items} i JOIN u ON i.rid = u.rid AND i.seq = u.seq
  WHERE i.status = 'processing' AND i.lease_owner = $2 AND i.deliveries = u.lease
  ORDER BY i.rid, i.seq FOR UPDATE OF i
)
UPDATE ${items} i SET lease_expires = $1 FROM t WHERE i.rid = t.rid AND i.seq = t.seq`,
    releaseOwner: `WITH t AS (${lockedByOwner.replace("$2", "$1")})
UPDATE ${items} i SET status = 'pending', lease_owner = NULL, lease_expires = NULL
FROM t WHERE i.rid = t.rid AND i.seq = t.seq`,
    // A row with an error is stored already failed, without a payload (so it is never retried).
    record: `INSERT INTO ${items} (rid, seq, key, payload, line, status, error_tag, error_message, created_at, finished_at)
SELECT $1, u.seq, u.key,
  CASE WHEN u.error IS NULL THEN u.payload END,
  u.line,
  CASE WHEN u.error IS NULL THEN 'pending' ELSE 'failed' END,
  CASE WHEN u.error IS NULL THEN NULL ELSE 'Invalid' END,
  u.error,
  $2,
  CASE WHEN u.error IS NULL THEN NULL ELSE $2::bigint END
FROM unnest($3::bigint[], $4::text[], $5::text[], $6::int[], $7::text[]) AS u(seq, key, payload, line, error)
ON CONFLICT DO NOTHING`,
    // Ordered rows that read now where the run holds a line that could not be read (failed at ingest, no
    // payload): the record takes its place, pending, unless another item holds its key.
    revive: `UPDATE ${items} i SET key = u.key, payload = u.payload, line = u.line, status = 'pending', attempts = 0,
  not_before = 0, route = NULL, result = NULL, error_tag = NULL, error_message = NULL, started_at = NULL, finished_at = NULL
FROM unnest($2::bigint[], $3::text[], $4::text[], $5::int[], $6::text[]) AS u(seq, key, payload, line, error)
WHERE i.rid = $1 AND i.seq = u.seq AND i.status = 'failed' AND i.payload IS NULL AND u.error IS NULL
  AND NOT EXISTS (SELECT 1 FROM ${items} y WHERE y.rid = $1 AND y.key = u.key AND y.seq <> u.seq)`,
    // Ordered rows that were not inserted: their seq is free (so their key was taken at another seq: a
    // duplicate), or held by another key (the input changed since the run began).
    conflicts: `SELECT u.seq AS s, u.key AS k, u.line AS l, x.key AS held
FROM unnest($2::bigint[], $3::text[], $4::int[]) AS u(seq, key, line)
LEFT JOIN ${items} x ON x.rid = $1 AND x.seq = u.seq
WHERE x.seq IS NULL OR x.key <> u.key`
  }
}

// ---- the store -----------------------------------------------------------------------------------

/**
 * The store on the `PgClient` in context (the host program's, or `layerClient`'s). Refuses, before
 * writing anything, a schema that holds other tables (`NotSluice`) or was written by a newer sluice
 * (`TooNew`); otherwise creates or upgrades sluice's tables in it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: PgStoreMakeOptions = {}): Effect.Effect<Store["Type"], StoreError, PgClient.PgClient> =>
  Effect.gen(function* () {
    const sql = yield* PgClient.PgClient
    const config = sql.config
    const location = describeLocation(config, options.schema ?? DEFAULT_SCHEMA)
    const s = yield* schemaOf(options.schema, location)
    const scrub = scrubber(config.password === undefined ? [] : [Redacted.value(config.password)])
    // A lost connection is `Unavailable` whatever the statement was: a worker waits it out (Reconnect.ts).
    const fail = (reason: StoreError["reason"], what: string) => (error: SqlError.SqlError) =>
      isConnectionLoss(error)
        ? new StoreError({
            reason: "Unavailable",
            location,
            message: scrub(`lost the connection to ${location}: ${causeMessage(error)}`)
          })
        : new StoreError({ reason, location, message: scrub(`${what} ${location}: ${causeMessage(error)}`) })
    const writeError = fail("Write", "cannot write to")
    const readError = fail("Read", "cannot read")
    const q = statements(s)

    // ---- preflight: read only ----
    const found = yield* Effect.gen(function* () {
      const [version] = yield* sql.unsafe<{ v: string }>("SELECT current_setting('server_version_num') AS v")
      if (Number(version?.v ?? 0) < 100_000) {
        return yield* new StoreError({
          reason: "Unavailable",
          location,
          message: `${location} runs PostgreSQL ${version?.v ?? "?"}; sluice needs 10 or newer`
        })
      }
      const namespaces = yield* sql.unsafe<{ n: Num }>(
        "SELECT count(*) AS n FROM pg_catalog.pg_namespace WHERE nspname = $1",
        [s]
      )
      const tables = yield* sql.unsafe<{ name: string }>(
        `SELECT c.relname AS name FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY c.relname`,
        [s]
      )
      const names = tables.map((t) => t.name)
      const schemaExists = Number(namespaces[0]?.n ?? 0) > 0
      if (names.length === 0) return { schemaExists, latest: 0 }
      if (!names.includes("sluice_meta") || !names.includes(MIGRATIONS_TABLE)) {
        return yield* new StoreError({
          reason: "NotSluice",
          location,
          message: `schema "${s}" of ${location} is not sluice's (it has tables ${names.slice(0, 5).join(", ")}); give sluice a schema of its own`
        })
      }
      const [latest] = yield* sql.unsafe<{ n: number | null }>(
        `SELECT max(migration_id) AS n FROM ${s}.${MIGRATIONS_TABLE}`
      )
      const n = latest?.n ?? 0
      if (n > LATEST) {
        return yield* new StoreError({
          reason: "TooNew",
          location,
          message: `${location} was written by a newer sluice (schema ${n}, this version knows ${LATEST}); upgrade sluice`
        })
      }
      return { schemaExists, latest: n }
    }).pipe(Effect.catchTag("SqlError", (e) => Effect.fail(fail("Unavailable", "cannot read")(e))))

    // ---- migrations: one process at a time, under an advisory lock held by the transaction ----
    // Up to date, nothing is run: a role allowed only to read and write the rows can open the store.
    if (found.latest < LATEST) {
      yield* sql
        .withTransaction(
          Effect.gen(function* () {
            yield* sql.unsafe("SELECT pg_advisory_xact_lock(hashtext($1))", [`sluice:${s}`])
            if (!found.schemaExists) yield* sql.unsafe(`CREATE SCHEMA IF NOT EXISTS ${s}`)
            // Made here, so the migrator's probe for it cannot abort this transaction.
            yield* sql.unsafe(`CREATE TABLE IF NOT EXISTS ${s}.${MIGRATIONS_TABLE} (
              migration_id integer PRIMARY KEY,
              created_at timestamp with time zone NOT NULL DEFAULT now(),
              name text NOT NULL
            )`)
            yield* Migrator.make({})({
              loader: Effect.succeed(migrations(s)),
              table: `${s}.${MIGRATIONS_TABLE}`
            }).pipe(Effect.provideService(SqlClient.SqlClient, sql))
          })
        )
        .pipe(
          Effect.catchAllDefect((defect) =>
            Effect.fail(
              new StoreError({
                reason: "Write",
                location,
                message: scrub(
                  `cannot prepare ${location}: ${describe((defect as { cause?: unknown }).cause ?? defect)}`
                )
              })
            )
          ),
          Effect.mapError((e) =>
            e._tag === "StoreError"
              ? e
              : new StoreError({
                  reason: "Write",
                  location,
                  message: scrub(`cannot prepare ${location}: ${e._tag === "SqlError" ? causeMessage(e) : e.message}`)
                })
          )
        )
    }

    /** Writes retry at once when Postgres broke a deadlock by aborting them: nothing of theirs was kept. */
    const write = <A>(effect: Effect.Effect<A, SqlError.SqlError>) =>
      effect.pipe(Effect.retry({ times: 3, while: isConflict }), Effect.mapError(writeError))

    const rids = new Map<string, number>()
    const names = new Map<number, string>()
    const remember = (r: { rid: number; id: string }) => {
      rids.set(r.id, r.rid)
      names.set(r.rid, r.id)
    }

    const ridOf = (run: string): Effect.Effect<number | undefined, StoreError> => {
      const known = rids.get(run)
      if (known !== undefined) return Effect.succeed(known)
      return sql.unsafe<{ rid: number }>(`SELECT rid FROM ${s}.runs WHERE id = $1`, [run]).pipe(
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
          ? Effect.fail(new StoreError({ reason: "Read", location, message: `no run "${run}" in ${location}` }))
          : Effect.succeed(rid)
      )
    const nameOf = (rid: number): Effect.Effect<string, StoreError> => {
      const known = names.get(rid)
      if (known !== undefined) return Effect.succeed(known)
      return sql.unsafe<{ id: string }>(`SELECT id FROM ${s}.runs WHERE rid = $1`, [rid]).pipe(
        Effect.mapError(readError),
        Effect.map((rows) => {
          const id = rows[0]?.id ?? String(rid)
          remember({ rid, id })
          return id
        })
      )
    }

    const toItem = (run: string, r: ItemRow): Item => ({
      run,
      seq: Number(r.seq),
      key: r.key,
      payload: r.payload === null ? null : JSON.parse(r.payload),
      deliveries: r.deliveries,
      attempts: r.attempts
    })

    const getRun = (id: string) =>
      sql.unsafe<RunRow>(`SELECT rid, id, config, created_at, fetched_at FROM ${s}.runs WHERE id = $1`, [id]).pipe(
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
        const [row] = yield* write(
          sql.unsafe<RunRow>(
            `INSERT INTO ${s}.runs (id, config, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET config = excluded.config
             RETURNING rid, id, config, created_at, fetched_at`,
            [id, JSON.stringify(config ?? null), now]
          )
        )
        remember(row!)
        return runInfoOf(row!)
      })

    const listRuns = sql
      .unsafe<RunRow>(`SELECT rid, id, config, created_at, fetched_at FROM ${s}.runs ORDER BY rid`)
      .pipe(
        Effect.mapError(readError),
        Effect.map((rows) => rows.map((r) => (remember(r), runInfoOf(r))))
      )

    const markFetched = (run: string) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        yield* write(sql.unsafe(`UPDATE ${s}.runs SET fetched_at = $1 WHERE id = $2`, [now, run]))
      })

    /** Record rows as parallel arrays, one per column of the `unnest`. */
    type Rows = {
      seq: Array<number>
      key: Array<string>
      payload: Array<string | null>
      line: Array<number | null>
      error: Array<string | null>
    }
    const emptyRows = (): Rows => ({ seq: [], key: [], payload: [], line: [], error: [] })
    const push = (
      rows: Rows,
      seq: number,
      key: string,
      payload: string | null,
      line: number | null,
      error: string | null
    ) => {
      rows.seq.push(seq)
      rows.key.push(key)
      rows.payload.push(payload)
      rows.line.push(line)
      rows.error.push(error)
    }
    const insert = (rid: number, now: number, rows: Rows) =>
      sql
        .unsafe(q.record, [rid, now, rows.seq, rows.key, rows.payload, rows.line, rows.error])
        .raw.pipe(Effect.map(rowCount))

    // Statistics go stale after a bulk load, and the planner then sorts every pending row on each claim
    // instead of walking the index. So ANALYZE after the first 5,000 rows recorded here and each time the
    // count doubles, as Postgres advises after populating a table (autovacuum may take a minute).
    let recorded = 0
    let analyzeAt = 5_000
    const analyzeAfter = (inserted: number) => {
      recorded += inserted
      if (recorded < analyzeAt) return Effect.void
      analyzeAt = recorded * 2
      return Effect.ignore(sql.unsafe(`ANALYZE ${s}.items`))
    }

    const record = (run: string, records: ReadonlyArray<SourceRecord>) =>
      Effect.gen(function* () {
        if (records.length === 0) return { inserted: 0, alreadyCompleted: [] }
        const rid = yield* requireRid(run)
        const now = yield* Clock.currentTimeMillis
        const body = Effect.gen(function* () {
          // Locks the run's row first: records into one run take turns, so unordered seqs never collide.
          const [locked] = yield* sql.unsafe<{ next_seq: Num }>(
            `UPDATE ${s}.runs SET next_seq = next_seq WHERE rid = $1 RETURNING next_seq`,
            [rid]
          )
          const nextSeq = Number(locked?.next_seq ?? 0)
          const unordered = records.filter((r) => r.ordinal === undefined)
          let existing = new Set<string>()
          if (unordered.length > 0) {
            const rows = yield* sql.unsafe<{ key: string }>(
              `SELECT key FROM ${s}.items WHERE rid = $1 AND key = ANY($2::text[])`,
              [rid, unordered.map((r) => r.key)]
            )
            existing = new Set(rows.map((r) => r.key))
          }
          let seq = nextSeq
          let maxSeq = nextSeq - 1
          const seenInBatch = new Set<string>()
          const rows = emptyRows()
          const ordered = emptyRows()
          for (const r of records) {
            const isOrdered = r.ordinal !== undefined
            if (!isOrdered && (existing.has(r.key) || seenInBatch.has(r.key))) continue
            const at = isOrdered ? r.ordinal! : seq++
            if (!Number.isSafeInteger(at) || at < 0) {
              return yield* new StoreError({
                reason: "Write",
                location,
                message: `cannot record "${r.key}" in ${location}: seq ${at} is not a whole number from 0`
              })
            }
            if (at > maxSeq) maxSeq = at
            // Two lines with one key fail the later one with its line, rather than vanishing into the
            // unique index.
            const dup = isOrdered && seenInBatch.has(r.key)
            seenInBatch.add(r.key)
            const row: [string, string | null, number | null, string | null] =
              r._tag === "Malformed"
                ? [r.key, null, r.line, `line ${r.line}: ${r.message}`]
                : dup
                  ? [`${r.key}#${at}`, null, r.line ?? null, `line ${r.line ?? at + 1}: duplicate key "${r.key}"`]
                  : [r.key, r.json ?? JSON.stringify(r.payload === undefined ? null : r.payload), r.line ?? null, null]
            push(rows, at, ...row)
            if (isOrdered) push(ordered, at, ...row)
          }
          let inserted = 0
          let revived = 0
          if (rows.seq.length > 0) {
            inserted = yield* insert(rid, now, rows)
            if (inserted < rows.seq.length && ordered.seq.length > 0) {
              // The slow path, only when something was not inserted: duplicates across batches.
              revived = rowCount(
                yield* sql.unsafe(q.revive, [
                  rid,
                  ordered.seq,
                  ordered.key,
                  ordered.payload,
                  ordered.line,
                  ordered.error
                ]).raw
              )
              const conflicts = yield* sql.unsafe<{ s: Num; k: string; l: number | null; held: string | null }>(
                q.conflicts,
                [rid, ordered.seq, ordered.key, ordered.line]
              )
              const dups = emptyRows()
              for (const c of conflicts) {
                if (c.held !== null) continue
                const at = Number(c.s)
                push(dups, at, `${c.k}#${at}`, null, c.l, `line ${c.l ?? at + 1}: duplicate key "${c.k}"`)
              }
              if (dups.seq.length > 0) inserted += yield* insert(rid, now, dups)
              // A run recorded before keys had namespaces holds "3" where this release reads "line:3": the same line.
              const changed = conflicts.filter((c) => c.held !== null && c.held !== legacyKey(c.k))
              if (changed.length > 0) {
                const c = changed[0]!
                yield* Effect.logWarning(
                  `${location}: the source of run "${run}" changed since it began: line ${c.l ?? Number(c.s) + 1} now has key "${c.k}" where the run recorded "${c.held}"; the recorded item is kept` +
                    (changed.length > 1 ? ` (and ${changed.length - 1} more)` : "")
                )
              }
            }
            if (maxSeq >= nextSeq) {
              yield* sql.unsafe(`UPDATE ${s}.runs SET next_seq = GREATEST(next_seq, $1) WHERE rid = $2`, [
                maxSeq + 1,
                rid
              ])
            }
          }
          let alreadyCompleted: ReadonlyArray<Item> = []
          if (inserted < records.length) {
            const done = yield* sql.unsafe<ItemRow>(
              `SELECT rid, seq, key, payload, deliveries, attempts FROM ${s}.items
               WHERE rid = $1 AND status = 'completed' AND key = ANY($2::text[]) ORDER BY seq`,
              [rid, records.map((r) => r.key)]
            )
            alreadyCompleted = done.map((r) => toItem(run, r))
          }
          return { inserted, alreadyCompleted, revived }
        })
        const result = yield* sql.withTransaction(body).pipe(
          Effect.retry({ times: 3, while: (e) => e._tag === "SqlError" && isConflict(e) }),
          Effect.catchTag("SqlError", (e) => Effect.fail(writeError(e)))
        )
        yield* analyzeAfter(result.inserted)
        return result
      })

    const claim = (opts: ClaimOptions) =>
      Effect.gen(function* () {
        if (opts.limit <= 0) return []
        let runs: Array<number> | undefined
        if (opts.run !== undefined) {
          const rid = yield* ridOf(opts.run)
          if (rid === undefined) return []
          runs = [rid]
        } else if (opts.runs !== undefined) {
          runs = []
          for (const r of opts.runs) {
            const rid = yield* ridOf(r)
            if (rid !== undefined) runs.push(rid)
          }
          if (runs.length === 0) return []
        }
        const now = yield* Clock.currentTimeMillis
        const params: Array<unknown> = [opts.owner, now + opts.leaseMs, now, opts.limit]
        const rows = yield* write(
          sql.unsafe<ItemRow>(
            runs === undefined ? q.claim : q.claimRuns,
            runs === undefined ? params : [...params, runs]
          )
        )
        if (rows.length === 0) return []
        const sorted = [...rows].sort((a, b) => a.rid - b.rid || Number(a.seq) - Number(b.seq))
        const items: Array<Item> = []
        for (const r of sorted) items.push(toItem(yield* nameOf(r.rid), r))
        return items
      })

    const heartbeat = (owner: string, leaseMs: number, held?: ReadonlyArray<Lease>) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        if (held === undefined) return rowCount(yield* write(sql.unsafe(q.heartbeat, [now + leaseMs, owner]).raw))
        if (held.length === 0) return 0
        const rid: Array<number> = []
        for (const h of held) rid.push(yield* requireRid(h.run))
        const params = [now + leaseMs, owner, rid, held.map((h) => h.seq), held.map((h) => h.lease)]
        return rowCount(yield* write(sql.unsafe(q.heartbeatHeld, params).raw))
      })

    const complete = (completions: ReadonlyArray<Completion>) =>
      Effect.gen(function* () {
        if (completions.length === 0) return []
        const cols = {
          rid: [] as Array<number>,
          seq: [] as Array<number>,
          owner: [] as Array<string>,
          status: [] as Array<string>,
          output: [] as Array<string | null>,
          tag: [] as Array<string | null>,
          message: [] as Array<string | null>,
          attempts: [] as Array<number>,
          route: [] as Array<string | null>,
          finishedAt: [] as Array<number>,
          lease: [] as Array<number | null>
        }
        for (const c of completions) {
          const o = c.outcome
          cols.rid.push(yield* requireRid(c.run))
          cols.seq.push(c.seq)
          cols.owner.push(c.owner)
          cols.status.push(o._tag === "Completed" ? "completed" : o._tag === "Skipped" ? "skipped" : "failed")
          cols.output.push(o._tag === "Completed" ? outputJson(o.output) : null)
          cols.tag.push(o._tag === "Failed" ? o.tag : null)
          cols.message.push(o._tag === "Skipped" ? o.reason : o._tag === "Failed" ? o.message : null)
          cols.attempts.push(c.attempts)
          cols.route.push(c.route ?? null)
          cols.finishedAt.push(c.finishedAt)
          cols.lease.push(c.lease ?? null)
        }
        const rows = yield* write(
          sql.unsafe<{ rid: number; seq: Num }>(q.complete, [
            cols.rid,
            cols.seq,
            cols.owner,
            cols.status,
            cols.output,
            cols.tag,
            cols.message,
            cols.attempts,
            cols.route,
            cols.finishedAt,
            cols.lease
          ])
        )
        const written = new Set(rows.map((r) => `${r.rid}:${Number(r.seq)}`))
        return cols.rid.map((rid, i) => written.has(`${rid}:${cols.seq[i]}`))
      })

    const release = (releases: ReadonlyArray<Release>) =>
      Effect.gen(function* () {
        if (releases.length === 0) return
        const rid: Array<number> = []
        for (const r of releases) rid.push(yield* requireRid(r.run))
        yield* write(
          sql.unsafe(q.release, [
            rid,
            releases.map((r) => r.seq),
            releases.map((r) => r.owner),
            releases.map((r) => r.notBefore),
            releases.map((r) => r.attempts),
            releases.map((r) => r.lease ?? null)
          ])
        )
      })

    const releaseOwner = (owner: string) => write(sql.unsafe(q.releaseOwner, [owner]).raw).pipe(Effect.map(rowCount))

    /** The `WHERE` of a statement about one run or every run; `undefined` for an unknown run. */
    const scope = (run: string | undefined, column: string, param: number) =>
      run === undefined
        ? Effect.succeed({ where: "true", params: [] as Array<unknown> })
        : Effect.map(ridOf(run), (rid) =>
            rid === undefined ? undefined : { where: `${column} = $${param}`, params: [rid] as Array<unknown> }
          )

    const counts = (run?: string) =>
      Effect.gen(function* () {
        const by = yield* scope(run, "rid", 1)
        if (by === undefined) return emptyCounts
        const rows = yield* sql
          .unsafe<{ status: string; n: Num }>(
            `SELECT status, count(*) AS n FROM ${s}.items WHERE ${by.where} GROUP BY status`,
            by.params
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
            `SELECT seq, key, status, result, error_tag, error_message, attempts FROM ${s}.items
             WHERE rid = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
            [rid, opts.afterSeq, opts.limit]
          )
          .pipe(Effect.mapError(readError))
        return rows.map(resultOf)
      })

    const lastErrors = (run: string | undefined, limit: number) =>
      Effect.gen(function* () {
        const by = yield* scope(run, "i.rid", 2)
        if (by === undefined) return []
        const rows = yield* sql
          .unsafe<ErrorSqlRow>(
            `SELECT r.id AS run, i.seq, i.key, i.error_tag, i.error_message, i.attempts, i.finished_at
             FROM ${s}.items i JOIN ${s}.runs r ON r.rid = i.rid
             WHERE i.status = 'failed' AND ${by.where}
             ORDER BY i.finished_at DESC NULLS LAST, i.rid DESC, i.seq DESC LIMIT $1`,
            [Math.max(0, limit), ...by.params]
          )
          .pipe(Effect.mapError(readError))
        return rows.map(errorOf)
      })

    const retryFailed = (run?: string, tag?: string) =>
      Effect.gen(function* () {
        const by = yield* scope(run, "rid", 1)
        if (by === undefined) return 0
        // A line that could not be read has no payload to process again: it stays failed.
        const result = yield* write(
          sql.unsafe(
            `UPDATE ${s}.items SET status = 'pending', not_before = 0, result = NULL, error_tag = NULL,
               error_message = NULL, finished_at = NULL
             WHERE status = 'failed' AND payload IS NOT NULL AND ${by.where}${
               tag === undefined ? "" : ` AND error_tag = $${by.params.length + 1}`
             }`,
            tag === undefined ? by.params : [...by.params, tag]
          ).raw
        )
        return rowCount(result)
      })

    const failures = (run: string, opts: { tag?: string | undefined; afterSeq: number; limit: number }) =>
      Effect.gen(function* () {
        const rid = yield* ridOf(run)
        if (rid === undefined) return []
        const rows = yield* sql
          .unsafe<FailureSqlRow>(
            `SELECT seq, key, line, error_tag, error_message, attempts, finished_at, payload IS NOT NULL AS retryable
             FROM ${s}.items WHERE rid = $1 AND seq > $2 AND status = 'failed'${
               opts.tag === undefined ? "" : " AND error_tag = $4"
             } ORDER BY seq LIMIT $3`,
            [rid, opts.afterSeq, Math.max(0, opts.limit), ...(opts.tag === undefined ? [] : [opts.tag])]
          )
          .pipe(Effect.mapError(readError))
        return rows.map(failureOf)
      })

    const failureTags = (run: string) =>
      Effect.gen(function* () {
        const rid = yield* ridOf(run)
        if (rid === undefined) return []
        const rows = yield* sql
          .unsafe<{ tag: string | null; n: Num; retryable: Num | null }>(
            `SELECT error_tag AS tag, count(*) AS n, count(payload) AS retryable FROM ${s}.items
             WHERE status = 'failed' AND rid = $1 GROUP BY error_tag ORDER BY n DESC, tag`,
            [rid]
          )
          .pipe(Effect.mapError(readError))
        return rows.map(failureTagOf)
      })

    const finishedOverTime = (run: string, bucketMs: number) =>
      Effect.gen(function* () {
        const rid = yield* ridOf(run)
        if (rid === undefined) return []
        const size = Math.max(1, Math.floor(bucketMs))
        const rows = yield* sql
          .unsafe<{ b: Num; n: Num }>(
            `SELECT (finished_at / $2::bigint) * $2::bigint AS b, count(*) AS n FROM ${s}.items
             WHERE rid = $1 AND finished_at IS NOT NULL GROUP BY 1 ORDER BY 1`,
            [rid, size]
          )
          .pipe(Effect.mapError(readError))
        return rows.map((r) => ({ atMs: Number(r.b), finished: Number(r.n) }))
      })

    const addMetrics = (run: string, delta: Partial<RunMetrics>) =>
      Effect.gen(function* () {
        const sets: Array<string> = []
        const params: Array<unknown> = [run]
        if (delta.concurrency !== undefined) {
          params.push(delta.concurrency)
          sets.push(`concurrency = $${params.length}`)
        }
        for (const [field, column] of METRIC_COLUMNS) {
          const v = delta[field]
          if (v !== undefined && v !== 0) {
            params.push(v)
            sets.push(`${column} = ${column} + $${params.length}`)
          }
        }
        if (sets.length === 0) return
        yield* write(sql.unsafe(`UPDATE ${s}.runs SET ${sets.join(", ")} WHERE id = $1`, params))
      })

    const metrics = (run: string) =>
      sql
        .unsafe<Record<string, Num>>(
          `SELECT concurrency, ${METRIC_COLUMNS.map(([, c]) => c).join(", ")} FROM ${s}.runs WHERE id = $1`,
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
      dialect: "pg",
      budgetTable: `${s}.fleet_budget`,
      holdersTable: `${s}.fleet_holders`,
      readError,
      writeError,
      retry: (effect) => Effect.retry(effect, { times: 3, while: isConflict })
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
      ...WorkerRows.make(sql, { workers: `${s}.workers`, items: `${s}.items` }, { write: writeError, read: readError }),
      ping
    })
  })

/**
 * A `PgClient` (also provided as `SqlClient`) whose `search_path` is sluice's schema. A failure to
 * connect is an `Unavailable` StoreError naming the database, never the password.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerClient = (
  options: PgStoreOptions
): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, StoreError> =>
  Layer.unwrapEffect(
    Effect.map(connection(options), (c) =>
      PgClient.layer({
        url: c.url,
        applicationName: "sluice",
        maxConnections: options.maxConnections ?? 10,
        connectTimeout: options.connectTimeout ?? Duration.seconds(10),
        ...(options.answerTimeout === undefined ? {} : { stream: PgSocket.watched(options.answerTimeout) })
      }).pipe(
        Layer.mapError((e) => {
          const why = causeMessage(e)
          return new StoreError({
            reason: "Unavailable",
            location: c.location,
            message: c.scrub(
              `cannot connect to ${c.location}: ${
                // What the driver says when the server asks for a password and it has none.
                why.includes("client password must be a string")
                  ? "the server asks for a password: put it in the URL or set PGPASSWORD"
                  : why
              }`
            )
          })
        })
      )
    )
  )

/**
 * The store on the `PgClient` in context (a host program's own pool). Its statements name the schema;
 * code that does not, such as `ResponseCache.layerSql`, needs the schema on the client's `search_path`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFromClient = (options: PgStoreMakeOptions = {}): Layer.Layer<Store, StoreError, PgClient.PgClient> =>
  Layer.effect(Store, make(options))

/**
 * The store and its client, which it also provides: the response cache and a host program's own
 * queries can share the pool (`ResponseCache.layerSql`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: PgStoreOptions
): Layer.Layer<Store | PgClient.PgClient | SqlClient.SqlClient, StoreError> =>
  layerFromClient({ schema: options.schema }).pipe(Layer.provideMerge(layerClient(options)))

/**
 * `layer`, with its options read through `Config`, e.g.
 * `PgStore.layerConfig({ url: Config.redacted("DATABASE_URL") })`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<PgStoreOptions>
): Layer.Layer<Store | PgClient.PgClient | SqlClient.SqlClient, StoreError | ConfigError.ConfigError> =>
  Layer.unwrapEffect(Effect.map(Config.unwrap(config), layer))
