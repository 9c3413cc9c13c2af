/**
 * PgStore: the store conformance suite, then what only PostgreSQL has (many machines on one database,
 * a schema shared with an application, a password). Needs a real server: the file starts a throwaway
 * one on loopback (`test/support/Postgres.ts`) and fails, saying how to install it, when it cannot.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Cause, Context, Effect, Exit, Layer, Option, Redacted } from "effect"
import type { Item } from "../../src/Domain/Item.js"
import { emptyCounts } from "../../src/Domain/Run.js"
import * as ResponseCache from "../../src/Llm/ResponseCache.js"
import { LATEST, MIGRATIONS_TABLE } from "../../src/Store/PgMigrations.js"
import * as PgStore from "../../src/Store/PgStore.js"
import { Store } from "../../src/Store/Store.js"
import * as Postgres from "../support/Postgres.js"
import { completed, recs } from "./Fixtures.js"
import { suite } from "./StoreSuite.js"

const DB = "sluice_pgstore_test"
let server: Postgres.Postgres | undefined

beforeAll(async () => {
  server = await Postgres.start()
  await server.createDatabase(DB)
}, 60_000)

afterAll(async () => {
  await server?.stop()
})

const pg = () => {
  if (server === undefined) throw new Error("PostgreSQL did not start (see the error of the first test)")
  return server
}
const url = (database = DB) => Redacted.make(pg().url(database))

// A fresh, empty store per test: a schema of its own in the file's database.
let schemas = 0
const freshSchema = () => `s${++schemas}`

suite("PgStore", () => PgStore.layer({ url: url(), schema: freshSchema() }))

/** A store in a scope of the test's: its pool closes with the test. */
const open = (options: PgStore.PgStoreOptions) => Effect.map(Layer.build(PgStore.layer(options)), Context.get(Store))

/** Opening must fail; the error it fails with. */
const openFails = (options: PgStore.PgStoreOptions) => Effect.flip(Effect.scoped(open(options)))

const psql = (sql: string) => Effect.promise(() => pg().psql(DB, sql))

/** Every text an error can be shown as: none may hold the password. */
const renderings = (error: unknown) => [
  String(error),
  JSON.stringify(error),
  (error as Error).message,
  (error as { location?: string }).location ?? "",
  Cause.pretty(Cause.fail(error))
]

describe("PgStore (PostgreSQL specifics)", () => {
  it.scoped("two stores on one database claiming at once: each of 2,000 items is claimed exactly once", () =>
    Effect.gen(function* () {
      const schema = freshSchema()
      const a = yield* open({ url: url(), schema })
      const b = yield* open({ url: url(), schema })
      yield* a.openRun("r", {})
      yield* b.openRun("r", {})
      const N = 2_000
      yield* a.record("r", recs(N))
      // Four claimers per store, each completing what it got before claiming again.
      const claimer = (store: Store["Type"], owner: string, limit: number) =>
        Effect.gen(function* () {
          const got: Array<Item> = []
          while (true) {
            const items = yield* store.claim({ owner, limit, leaseMs: 60_000, run: "r" })
            if (items.length === 0) return got
            got.push(...items)
            const written = yield* store.complete(items.map((item) => completed(item, owner, item.seq)))
            expect(written.every((w) => w)).toBe(true)
          }
        })
      const results = yield* Effect.all(
        [
          ...[1, 2, 3, 4].map((i) => claimer(a, `A${i}`, 13 + i)),
          ...[1, 2, 3, 4].map((i) => claimer(b, `B${i}`, 7 + i))
        ],
        { concurrency: "unbounded" }
      )
      const all = results.flat()
      expect(all).toHaveLength(N)
      expect(new Set(all.map((i) => i.seq)).size).toBe(N)
      expect(all.every((i) => i.deliveries === 1)).toBe(true)
      expect(results.slice(0, 4).flat().length).toBeGreaterThan(0)
      expect(results.slice(4).flat().length).toBeGreaterThan(0)
      expect(yield* b.counts("r")).toEqual({ ...emptyCounts, completed: N })
      const rows = yield* a.results("r", { afterSeq: -1, limit: N })
      expect(rows.every((r, i) => r.seq === i && JSON.parse(r.outputJson!) === i)).toBe(true)
    })
  )

  it.scoped("two processes opening one new schema at once both get it, migrated once", () =>
    Effect.gen(function* () {
      const schema = freshSchema()
      const [a, b] = yield* Effect.all([open({ url: url(), schema }), open({ url: url(), schema })], {
        concurrency: 2
      })
      yield* a.openRun("r", {})
      expect(Option.isSome(yield* b.getRun("r"))).toBe(true)
      expect(
        yield* psql(
          `SELECT string_agg(migration_id::text, ',' ORDER BY migration_id) FROM ${schema}.${MIGRATIONS_TABLE}`
        )
      ).toBe(`${Array.from({ length: LATEST }, (_, i) => i + 1).join(",")}\n`)
    })
  )

  it.scoped("shares a database with an application: its tables in public are left alone", () =>
    Effect.gen(function* () {
      yield* psql(
        "CREATE TABLE IF NOT EXISTS public.invoices (id integer PRIMARY KEY, total numeric); INSERT INTO public.invoices VALUES (1, 2.5) ON CONFLICT DO NOTHING"
      )
      const store = yield* open({ url: url() })
      yield* store.openRun("default-schema", {})
      expect(store.location).toBe(`postgres://postgres@127.0.0.1:${pg().port}/${DB}`)
      expect(yield* psql("SELECT count(*) FROM public.invoices")).toBe("1\n")
      expect(
        yield* psql("SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'sluice'")
      ).toBe(
        `fleet_budget,fleet_holders,response_cache,runs,${MIGRATIONS_TABLE},sluice_meta,items`
          .split(",")
          .sort()
          .join(",") + "\n"
      )
    })
  )

  describe("refuses what is not its own, before writing anything", () => {
    it.scoped("a schema written by a newer sluice is TooNew, names the database, and stays untouched", () =>
      Effect.gen(function* () {
        const schema = freshSchema()
        yield* Effect.scoped(
          Effect.flatMap(open({ url: url(), schema }), (store) =>
            Effect.zipRight(store.openRun("r", {}), store.record("r", recs(3)))
          )
        )
        yield* psql(
          `INSERT INTO ${schema}.${MIGRATIONS_TABLE} (migration_id, name) VALUES (${LATEST + 1}, 'from_the_future')`
        )
        const snapshot = `SELECT (SELECT count(*) FROM ${schema}.items) || '/' || (SELECT count(*) FROM ${schema}.runs) || '/' ||
          (SELECT string_agg(migration_id::text, ',' ORDER BY migration_id) FROM ${schema}.${MIGRATIONS_TABLE}) || '/' ||
          (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '${schema}')`
        const before = yield* psql(snapshot)
        const error = yield* openFails({ url: url(), schema })
        expect(error.reason).toBe("TooNew")
        expect(error.message).toContain(DB)
        expect(error.message).toContain(`schema ${LATEST + 1}`)
        expect(yield* psql(snapshot)).toBe(before)
        for (const text of renderings(error)) expect(text).not.toContain(pg().password)
      })
    )

    it.scoped("a schema holding another program's tables is NotSluice, names a table, and stays untouched", () =>
      Effect.gen(function* () {
        yield* psql("CREATE SCHEMA billing; CREATE TABLE billing.orders (id integer PRIMARY KEY)")
        const error = yield* openFails({ url: url(), schema: "billing" })
        expect(error.reason).toBe("NotSluice")
        expect(error.message).toContain(DB)
        expect(error.message).toContain("orders")
        expect(yield* psql("SELECT string_agg(tablename, ',') FROM pg_tables WHERE schemaname = 'billing'")).toBe(
          "orders\n"
        )
      })
    )

    it.scoped("a schema name that would need quoting is refused", () =>
      Effect.gen(function* () {
        const error = yield* openFails({ url: url(), schema: 'x"; DROP TABLE y; --' })
        expect(error.reason).toBe("Unavailable")
      })
    )
  })

  describe("the password never appears in an error", () => {
    it.scoped("a wrong password: Unavailable, naming the database", () =>
      Effect.gen(function* () {
        const wrong = "Wr0ng-s3cret-p%40ss"
        const error = yield* openFails({
          url: Redacted.make(`postgres://postgres:${wrong}@127.0.0.1:${pg().port}/${DB}`)
        })
        expect(error.reason).toBe("Unavailable")
        expect(error.message).toContain(`127.0.0.1:${pg().port}/${DB}`)
        expect(error.message).toContain("password authentication failed")
        for (const text of renderings(error)) {
          expect(text).not.toContain(wrong)
          expect(text).not.toContain("Wr0ng-s3cret-p@ss")
        }
      })
    )

    it.scoped("the password given apart from the URL (PGPASSWORD) is used, and kept out of messages", () =>
      Effect.gen(function* () {
        const bare = Redacted.make(`postgres://postgres@127.0.0.1:${pg().port}/${DB}`)
        // No password anywhere (the driver would also read PGPASSWORD itself): say so plainly.
        const saved = process.env["PGPASSWORD"]
        delete process.env["PGPASSWORD"]
        const none = yield* openFails({ url: bare }).pipe(
          Effect.ensuring(Effect.sync(() => saved !== undefined && (process.env["PGPASSWORD"] = saved)))
        )
        expect(none.reason).toBe("Unavailable")
        expect(none.message).toContain("asks for a password")
        const password = Redacted.make(pg().password)
        const store = yield* open({ url: bare, password, schema: freshSchema() })
        expect(yield* store.ping).toBe(true)
        expect(store.location).not.toContain(pg().password)
        const error = yield* openFails({
          url: Redacted.make(`postgres://postgres@127.0.0.1:${pg().port}/no_such_db`),
          password
        })
        expect(error.reason).toBe("Unavailable")
        expect(error.message).toContain("no_such_db")
        for (const text of renderings(error)) expect(text).not.toContain(pg().password)
      })
    )

    it.scoped("nobody listening, or a URL that cannot be read: Unavailable, without the password", () =>
      Effect.gen(function* () {
        const secret = "n0body-home-secret"
        const refused = yield* openFails({ url: Redacted.make(`postgres://app:${secret}@127.0.0.1:1/app`) })
        expect(refused.reason).toBe("Unavailable")
        expect(refused.message).toContain("127.0.0.1:1/app")
        const garbled = yield* openFails({ url: Redacted.make(`postgres://app:${secret}@[bad/app`) })
        expect(garbled.reason).toBe("Unavailable")
        const notPg = yield* openFails({ url: Redacted.make(`mysql://app:${secret}@127.0.0.1/app`) })
        expect(notPg.message).toContain("postgres://")
        const badEscape = yield* openFails({ url: Redacted.make(`postgres://app:%zz${secret}@127.0.0.1:1/app`) })
        expect(badEscape.reason).toBe("Unavailable")
        for (const error of [refused, garbled, notPg, badEscape]) {
          for (const text of renderings(error)) expect(text).not.toContain(secret)
        }
      })
    )
  })

  it.scoped("the response cache shares the store's client and schema", () =>
    Effect.gen(function* () {
      const schema = freshSchema()
      const context = yield* Layer.build(
        Layer.provideMerge(ResponseCache.layerSql, PgStore.layer({ url: url(), schema }))
      )
      const cache = Context.get(context, ResponseCache.ResponseCache)
      const answer = {
        content: '{"a":1}',
        output: { a: 1 },
        model: "m",
        usage: { promptTokens: 1, completionTokens: 2, totalTokens: 3 }
      }
      yield* cache.put("h1", answer)
      expect(Option.map(yield* cache.get("h1"), (r) => r.content)).toEqual(Option.some('{"a":1}'))
      expect(Option.isNone(yield* cache.get("h2"))).toBe(true)
      expect(yield* psql(`SELECT count(*) FROM ${schema}.response_cache`)).toBe("1\n")
      // The failure of a statement comes back typed, not as a crash of the store.
      expect(Exit.isSuccess(yield* Effect.exit(cache.put("h1", answer)))).toBe(true)
    })
  )
})
