/**
 * A host that already has a SQLite client shares it with sluice (`SqliteStore.layerClient`): the store
 * passes the conformance suite on the host's client, and the host's own tables and sluice's live in one
 * database, readable through the one connection.
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as path from "node:path"
import * as SqliteStore from "../../src/Store/SqliteStore.js"
import { Store } from "../../src/Store/Store.js"
import { tempDir } from "../support/Temp.js"
import { recs } from "./Fixtures.js"
import { suite } from "./StoreSuite.js"

const hostClient = (filename: string) =>
  SqliteClient.layer({ filename }).pipe(Layer.provide(Reactivity.layer), Layer.orDie)

suite("SqliteStore on the host's client", () =>
  Layer.unwrapScoped(
    Effect.map(tempDir("sluice-shared-"), (dir) =>
      SqliteStore.layerClient().pipe(Layer.provide(hostClient(path.join(dir, "host.db"))))
    )
  )
)

describe("SqliteStore.layerClient", () => {
  it.scoped("the host's tables and sluice's share one database and one connection", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir("sluice-shared-")
      const Db = hostClient(path.join(dir, "app.db"))
      yield* Effect.gen(function* () {
        const sql = yield* SqliteClient.SqliteClient
        yield* sql`CREATE TABLE invoices (id TEXT PRIMARY KEY, total INTEGER)`
        yield* sql`INSERT INTO invoices VALUES ('i1', 40)`
        const store = yield* Store
        yield* store.openRun("r", {})
        yield* store.record("r", recs(3))
        // The host joins its own table with sluice's, on its own connection.
        const rows = yield* sql<{ n: number; total: number }>`
          SELECT (SELECT count(*) FROM items) AS n, (SELECT total FROM invoices WHERE id = 'i1') AS total`
        expect(rows).toEqual([{ n: 3, total: 40 }])
        expect(store.location).toBe("the host's SQLite database")
      }).pipe(Effect.provide(Layer.provideMerge(SqliteStore.layerClient(), Db)))
    })
  )
})
