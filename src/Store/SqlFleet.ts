/**
 * The fleet budget's two tables on either SQL store. A step reads an upstream's row and its holders
 * under the row's lock (SQLite: the write lock its first statement takes; Postgres: `FOR UPDATE`), and
 * writes back what the step decided, in one transaction: two processes never take the same budget.
 *
 * @since 0.1.0
 */
import type { SqlClient, SqlError } from "@effect/sql"
import { Effect } from "effect"
import {
  type FleetChange,
  type FleetHolder,
  type FleetRow,
  type FleetSnapshot,
  HOLDER_COLUMNS,
  holderOf,
  ROW_COLUMNS,
  rowOf
} from "./Fleet.js"
import { writeTransaction } from "./SqliteTransaction.js"
import type { StoreError } from "./Store.js"

/** Each holder column's type on Postgres, for the arrays of the one-statement write. */
const PG_HOLDER_TYPES: Record<(typeof HOLDER_COLUMNS)[number][0], "text" | "float8" | "int8"> = {
  upstream: "text",
  holder: "text",
  rpm: "float8",
  tpm: "float8",
  windowMs: "float8",
  seenUntil: "int8",
  sliceRequests: "float8",
  sliceTokens: "float8",
  sliceUntil: "int8",
  takenRequests: "float8",
  takenTokens: "float8",
  wantRequests: "float8",
  wantTokens: "float8",
  waitingSince: "int8",
  waitingUntil: "int8"
}

/** A time for a bigint column: a slice's end may carry a fraction of a millisecond (a measured round trip). */
const wholeOrNull = (n: number | null) => (n === null ? null : Math.ceil(n))

/** @since 0.1.0 */
export interface SqlFleetOptions {
  readonly dialect: "sqlite" | "pg"
  /** The tables' names as statements must spell them (schema-qualified on Postgres). */
  readonly budgetTable: string
  readonly holdersTable: string
  readonly readError: (error: SqlError.SqlError) => StoreError
  readonly writeError: (error: SqlError.SqlError) => StoreError
  /** How a write transaction is retried when the database broke a deadlock (Postgres). */
  readonly retry?: <A>(effect: Effect.Effect<A, SqlError.SqlError>) => Effect.Effect<A, SqlError.SqlError>
}

/**
 * The fleet methods of the Store port, over `sql`.
 *
 * @since 0.1.0
 */
export const make = (sql: SqlClient.SqlClient, options: SqlFleetOptions) => {
  const { budgetTable: budget, holdersTable: holders } = options
  const p = options.dialect === "pg" ? (i: number) => `$${i}` : () => "?"
  const params = (n: number, from = 1) => Array.from({ length: n }, (_, i) => p(from + i)).join(", ")
  const rowCols = ROW_COLUMNS.map(([, c]) => c)
  const holderCols = HOLDER_COLUMNS.map(([, c]) => c)

  const claimRow = `INSERT INTO ${budget} (upstream) VALUES (${p(1)}) ON CONFLICT DO NOTHING`
  const readRow = `SELECT ${rowCols.join(", ")} FROM ${budget} WHERE upstream = ${p(1)}${options.dialect === "pg" ? " FOR UPDATE" : ""}`
  const readHolders = `SELECT ${holderCols.join(", ")} FROM ${holders} WHERE upstream = ${p(1)} ORDER BY holder`
  // Placeholders are numbered in the order they appear: SQLite's `?` binds by position.
  const writeRow = `UPDATE ${budget} SET ${rowCols
    .slice(1)
    .map((c, i) => `${c} = ${p(i + 1)}`)
    .join(", ")} WHERE upstream = ${p(rowCols.length)}`
  const upsertHolder = `INSERT INTO ${holders} (${holderCols.join(", ")}) VALUES (${params(holderCols.length)})
ON CONFLICT (upstream, holder) DO UPDATE SET ${holderCols
    .slice(2)
    .map((c) => `${c} = excluded.${c}`)
    .join(", ")}`
  const removeHolder = `DELETE FROM ${holders} WHERE upstream = ${p(1)} AND holder = ${p(2)}`

  const retry = options.retry ?? (<A>(e: Effect.Effect<A, SqlError.SqlError>) => e)

  // Postgres: the row and its holders in one read, and every write in one statement, so a step costs
  // four round trips (BEGIN, read, write, COMMIT) instead of seven, and holds the row's lock for two.
  // Across a network every round trip is paid by each holder in turn, under the lock.
  const pgRead = `SELECT ${rowCols.map((c) => `r.${c}`).join(", ")},
  (SELECT coalesce(json_agg(h ORDER BY h.holder), '[]'::json) FROM (SELECT ${holderCols.join(", ")} FROM ${holders}
    WHERE upstream = $1) h) AS holders_json
FROM ${budget} r WHERE r.upstream = $1 FOR UPDATE OF r`
  const rowN = rowCols.length
  const pgWrite = `WITH r AS (
  UPDATE ${budget} SET ${rowCols
    .slice(1)
    .map((c, i) => `${c} = $${i + 1}`)
    .join(", ")} WHERE upstream = $${rowN}
), u AS (
  INSERT INTO ${holders} (${holderCols.join(", ")})
  SELECT * FROM unnest(${HOLDER_COLUMNS.map(([k], i) => `$${rowN + 1 + i}::${PG_HOLDER_TYPES[k]}[]`).join(", ")})
  ON CONFLICT (upstream, holder) DO UPDATE SET ${holderCols
    .slice(2)
    .map((c) => `${c} = excluded.${c}`)
    .join(", ")}
), d AS (
  DELETE FROM ${holders} WHERE upstream = $${rowN} AND holder = ANY($${rowN + HOLDER_COLUMNS.length + 1}::text[])
)
SELECT 1`
  const pgStep = <A>(upstream: string, step: (snapshot: FleetSnapshot) => FleetChange<A>) =>
    Effect.gen(function* () {
      let [raw] = yield* sql.unsafe<Record<string, unknown>>(pgRead, [upstream])
      if (raw === undefined) {
        // A new upstream: its row is made once, then read (and locked) as always.
        yield* sql.unsafe(claimRow, [upstream])
        ;[raw] = yield* sql.unsafe<Record<string, unknown>>(pgRead, [upstream])
      }
      const held = (raw!["holders_json"] as ReadonlyArray<Record<string, unknown>>).map(holderOf)
      const change = step({ row: rowOf(raw!), holders: held })
      // A holder written now is not also deleted by the same statement (one statement may not touch a row twice).
      const upserted = new Set(change.upsert.map((h) => h.holder))
      yield* sql.unsafe(pgWrite, [
        ...ROW_COLUMNS.slice(1).map(([k]) => (k === "at" ? wholeOrNull(change.row[k]) : change.row[k])),
        upstream,
        ...HOLDER_COLUMNS.map(([k]) =>
          change.upsert.map((h) => (PG_HOLDER_TYPES[k] === "int8" ? wholeOrNull(h[k] as number) : h[k]))
        ),
        change.remove.filter((h) => !upserted.has(h))
      ])
      return change.result
    })

  const fleetUpdate = <A>(
    upstream: string,
    step: (snapshot: FleetSnapshot) => FleetChange<A>
  ): Effect.Effect<A, StoreError> =>
    retry(
      writeTransaction(sql)(
        options.dialect === "pg"
          ? pgStep(upstream, step)
          : Effect.gen(function* () {
              // A write first: on SQLite it takes the write lock before anything is read.
              yield* sql.unsafe(claimRow, [upstream])
              const [raw] = yield* sql.unsafe<Record<string, unknown>>(readRow, [upstream])
              const row = rowOf(raw!)
              const held = (yield* sql.unsafe<Record<string, unknown>>(readHolders, [upstream])).map(holderOf)
              const change = step({ row, holders: held })
              yield* sql.unsafe(writeRow, [...ROW_COLUMNS.slice(1).map(([k]) => change.row[k]), upstream])
              for (const h of change.upsert) {
                yield* sql.unsafe(
                  upsertHolder,
                  HOLDER_COLUMNS.map(([k]) => h[k])
                )
              }
              for (const h of change.remove) yield* sql.unsafe(removeHolder, [upstream, h])
              return change.result
            })
      )
    ).pipe(Effect.mapError(options.writeError))

  const fleetRead: Effect.Effect<ReadonlyArray<FleetSnapshot>, StoreError> = Effect.gen(function* () {
    const rows = (yield* sql.unsafe<Record<string, unknown>>(
      `SELECT ${rowCols.join(", ")} FROM ${budget} ORDER BY upstream`
    )).map(rowOf)
    const all = (yield* sql.unsafe<Record<string, unknown>>(
      `SELECT ${holderCols.join(", ")} FROM ${holders} ORDER BY upstream, holder`
    )).map(holderOf)
    return rows.map((row: FleetRow) => ({
      row,
      holders: all.filter((h: FleetHolder) => h.upstream === row.upstream)
    }))
  }).pipe(Effect.mapError(options.readError))

  return { fleetUpdate, fleetRead }
}

/**
 * The two tables, for a migration. `real` and `bigint` name the dialect's column types.
 *
 * @since 0.1.0
 */
export const createTables = (budget: string, holders: string, types: { real: string; bigint: string }) => [
  `CREATE TABLE ${budget} (
    upstream text PRIMARY KEY,
    rpm ${types.real},
    tpm ${types.real},
    requests ${types.real} NOT NULL DEFAULT 0,
    tokens ${types.real} NOT NULL DEFAULT 0,
    at ${types.bigint},
    paused_until ${types.bigint} NOT NULL DEFAULT 0,
    rate_limit_hits ${types.bigint} NOT NULL DEFAULT 0,
    window_at ${types.bigint} NOT NULL DEFAULT 0,
    window_requests ${types.real} NOT NULL DEFAULT 0,
    window_tokens ${types.real} NOT NULL DEFAULT 0,
    prev_requests ${types.real} NOT NULL DEFAULT 0,
    prev_tokens ${types.real} NOT NULL DEFAULT 0
  )`,
  `CREATE TABLE ${holders} (
    upstream text NOT NULL,
    holder text NOT NULL,
    rpm ${types.real},
    tpm ${types.real},
    window_ms ${types.real} NOT NULL DEFAULT 1000,
    seen_until ${types.bigint} NOT NULL,
    slice_requests ${types.real} NOT NULL DEFAULT 0,
    slice_tokens ${types.real} NOT NULL DEFAULT 0,
    slice_until ${types.bigint} NOT NULL DEFAULT 0,
    taken_requests ${types.real} NOT NULL DEFAULT 0,
    taken_tokens ${types.real} NOT NULL DEFAULT 0,
    want_requests ${types.real} NOT NULL DEFAULT 0,
    want_tokens ${types.real} NOT NULL DEFAULT 0,
    waiting_since ${types.bigint} NOT NULL DEFAULT 0,
    waiting_until ${types.bigint} NOT NULL DEFAULT 0,
    PRIMARY KEY (upstream, holder)
  )`
]
