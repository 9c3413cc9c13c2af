/**
 * The SQLite schema, as migrations for `@effect/sql`'s migrator.
 *
 * Item ids pack `(run, seq)` into one integer (`rid * 2^32 + seq`): the rowid then orders items by run
 * and input position, so claiming in order and reading results in order need no extra index, and a
 * completion addresses its row directly.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { SqlClient } from "@effect/sql"
import type { ResolvedMigration } from "@effect/sql/Migrator"
import * as WorkerRows from "./WorkerRows.js"
import { createTables } from "./SqlFleet.js"

/** Runs get small integer ids; a run may hold up to 2^32 items. */
export const SEQ_SPAN = 4_294_967_296

const m1 = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE sluice_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`
  yield* sql`INSERT INTO sluice_meta (key, value) VALUES ('schema', 'sluice')`
  yield* sql`CREATE TABLE runs (
    rid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    config TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    fetched_at INTEGER,
    next_seq INTEGER NOT NULL DEFAULT 0,
    concurrency INTEGER NOT NULL DEFAULT 0,
    duration_ms REAL NOT NULL DEFAULT 0,
    item_ms REAL NOT NULL DEFAULT 0,
    items_timed INTEGER NOT NULL DEFAULT 0,
    rate_limit_hits INTEGER NOT NULL DEFAULT 0,
    admission_wait_ms REAL NOT NULL DEFAULT 0,
    retries INTEGER NOT NULL DEFAULT 0,
    circuit_trips INTEGER NOT NULL DEFAULT 0,
    cache_hits INTEGER NOT NULL DEFAULT 0,
    cache_misses INTEGER NOT NULL DEFAULT 0,
    tokens_in INTEGER NOT NULL DEFAULT 0,
    tokens_out INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0
  )`
  yield* sql`CREATE TABLE items (
    id INTEGER PRIMARY KEY,
    rid INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    key TEXT NOT NULL,
    payload TEXT,
    line INTEGER,
    status TEXT NOT NULL,
    deliveries INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_expires INTEGER,
    not_before INTEGER NOT NULL DEFAULT 0,
    route TEXT,
    result TEXT,
    error_tag TEXT,
    error_message TEXT,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER
  )`
  yield* sql`CREATE UNIQUE INDEX items_key ON items (rid, key)`
  // Partial indexes stay small: only the rows a claim, a heartbeat or an error report looks for.
  // (A heartbeat finds an owner's leases by scanning items_leased: only the items in flight.)
  yield* sql`CREATE INDEX items_pending ON items (id) WHERE status = 'pending'`
  yield* sql`CREATE INDEX items_leased ON items (lease_expires) WHERE status = 'processing'`
  yield* sql`CREATE INDEX items_failed ON items (finished_at) WHERE status = 'failed'`
})

const m2 = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  // The response cache: content-addressed answers, so a rerun of the same input costs nothing.
  yield* sql`CREATE TABLE response_cache (
    hash TEXT PRIMARY KEY,
    response TEXT NOT NULL,
    created_at INTEGER NOT NULL
  )`
})

const m3 = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  // The fleet budget: one row of shared buckets per upstream, and the processes drawing on it.
  for (const statement of createTables("fleet_budget", "fleet_holders", { real: "REAL", bigint: "INTEGER" })) {
    yield* sql.unsafe(statement)
  }
})

const m4 = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  // Who is alive on this database (`sluice status`): each worker's row, written at every heartbeat.
  yield* sql.unsafe(WorkerRows.createTable("workers"))
})

/**
 * Every migration this version knows. A database with a higher id was written by a newer sluice.
 *
 * @since 0.1.0
 */
export const migrations: ReadonlyArray<ResolvedMigration> = [
  [1, "items_and_runs", Effect.succeed(m1)],
  [2, "response_cache", Effect.succeed(m2)],
  [3, "fleet_budget", Effect.succeed(m3)],
  [4, "workers", Effect.succeed(m4)]
]

/** @since 0.1.0 */
export const LATEST = migrations.length

/** @since 0.1.0 */
export const MIGRATIONS_TABLE = "sluice_migrations"
