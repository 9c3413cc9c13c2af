/**
 * The store of a database that must already exist, for the commands that only read one (`status`,
 * `export`) or change what is in it (`retry`). Opening a store creates its database when absent, so
 * a typo in `--db` would leave an empty database behind and report "(no runs)" as if it were true.
 * Here a SQLite file that is not there, a PostgreSQL database that does not exist, or one without
 * sluice's schema is a usage error (exit 2) naming it, and nothing is created.
 *
 * @since 0.1.0
 */
import { SqlClient } from "@effect/sql"
import { Config, Effect, Layer, Option, Redacted } from "effect"
import * as fs from "node:fs"
import { DEFAULT_SCHEMA } from "../Store/PgMigrations.js"
import * as SqliteStore from "../Store/SqliteStore.js"
import type { Store, StoreError } from "../Store/Store.js"
import { type CliError, usage } from "./CliError.js"
import { describeDb, isPostgres } from "./Compose.js"

const missing = (what: string) =>
  usage(`sluice: ${what}: check --db (this command reads an existing database and never creates one)`)

const sqlite = (db: string): Layer.Layer<Store, StoreError | CliError> =>
  Layer.unwrapEffect(
    Effect.sync((): Layer.Layer<Store, StoreError | CliError> =>
      fs.existsSync(db) ? SqliteStore.layer({ filename: db }) : Layer.fail(missing(`no database at ${db}`))
    )
  )

const postgres = (db: string): Layer.Layer<Store, StoreError | CliError> =>
  Layer.unwrapEffect(
    Effect.gen(function* () {
      const password = yield* Effect.orDie(Config.option(Config.redacted("PGPASSWORD")))
      const PgStore = yield* Effect.promise(() => import("../Store/PgStore.js"))
      const where = describeDb(db)
      // Before the store opens (its migrations would create the schema): sluice's tables must be there.
      const present = Layer.effectDiscard(
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const rows = yield* sql<{ n: number }>`SELECT 1 AS n FROM pg_catalog.pg_class c
            JOIN pg_catalog.pg_namespace s ON s.oid = c.relnamespace
            WHERE s.nspname = ${DEFAULT_SCHEMA} AND c.relname = 'sluice_meta'`
          if (rows.length === 0)
            return yield* missing(`${where} holds no sluice database (no schema "${DEFAULT_SCHEMA}")`)
        }).pipe(Effect.catchTag("SqlError", (e) => Effect.fail(missing(`cannot read ${where}: ${e.message}`))))
      )
      const client = PgStore.layerClient({ url: Redacted.make(db), password: Option.getOrUndefined(password) }).pipe(
        // The server's answer to a database name that is not there (SQLSTATE 3D000).
        Layer.catchAll((e) =>
          Layer.fail(/database ".*" does not exist/.test(e.message) ? missing(`no database at ${where}`) : e)
        )
      )
      return PgStore.layerFromClient().pipe(Layer.provide(present), Layer.provideMerge(client))
    })
  )

/**
 * The store on `db` (a SQLite file or a `postgres://` URL), which must already hold a sluice database.
 *
 * @since 0.1.0
 */
export const layer = (db: string): Layer.Layer<Store, StoreError | CliError> =>
  isPostgres(db) ? postgres(db) : sqlite(db)
