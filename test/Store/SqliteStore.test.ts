import * as Reactivity from "@effect/experimental/Reactivity"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer, Option } from "effect"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { SourceRecord, type Item } from "../../src/Domain/Item.js"
import { emptyCounts } from "../../src/Domain/Run.js"
import { LATEST, MIGRATIONS_TABLE } from "../../src/Store/SqliteMigrations.js"
import * as SqliteStore from "../../src/Store/SqliteStore.js"
import { tempDir } from "../support/Temp.js"
import { completed, recs } from "./Fixtures.js"
import { suite } from "./StoreSuite.js"

suite("SqliteStore", () =>
  Layer.unwrapScoped(
    Effect.map(tempDir("sluice-store-"), (dir) => SqliteStore.layer({ filename: path.join(dir, "store.db") }))
  )
)

/** Opening must fail; the error it fails with. */
const openFails = (options: SqliteStore.SqliteStoreOptions) => Effect.flip(Effect.scoped(SqliteStore.make(options)))

/** Runs `f` on a store that is closed afterwards. */
const withStore = <A, E>(
  options: SqliteStore.SqliteStoreOptions,
  f: (store: Effect.Effect.Success<ReturnType<typeof SqliteStore.make>>) => Effect.Effect<A, E>
) => Effect.scoped(Effect.flatMap(SqliteStore.make(options), f))

/** Runs SQL on a file through a plain SQLite client (another program's database, or tampering). */
const withSqlite = (filename: string, f: (sql: SqliteClient.SqliteClient) => Effect.Effect<unknown, unknown>) =>
  Effect.scoped(Effect.flatMap(SqliteClient.make({ filename }), f)).pipe(Effect.provide(Reactivity.layer), Effect.orDie)

describe("SqliteStore (SQLite specifics)", () => {
  describe("refuses what is not its own, before writing anything", () => {
    it.scoped("a file that is not SQLite (random bytes) is NotSluice and stays untouched", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const file = path.join(dir, "items.db")
        const bytes = crypto.randomBytes(8192)
        fs.writeFileSync(file, bytes)
        const error = yield* openFails({ filename: file })
        expect(error.reason).toBe("NotSluice")
        expect(error.message).toContain(file)
        expect(fs.readFileSync(file).equals(bytes)).toBe(true)
        expect(fs.readdirSync(dir)).toEqual(["items.db"])
      })
    )

    it.scoped("a short text file is NotSluice and stays untouched", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const file = path.join(dir, "items.csv")
        fs.writeFileSync(file, "id,name\n1,a\n")
        const error = yield* openFails({ filename: file })
        expect(error.reason).toBe("NotSluice")
        expect(error.message).toContain(file)
        expect(fs.readFileSync(file, "utf8")).toBe("id,name\n1,a\n")
        expect(fs.readdirSync(dir)).toEqual(["items.csv"])
      })
    )

    it.scoped("another program's SQLite database is NotSluice, names a table, and stays untouched", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const file = path.join(dir, "app.db")
        yield* withSqlite(file, (sql) =>
          Effect.zipRight(
            sql`CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)`,
            sql`INSERT INTO invoices (id, total) VALUES (1, 2.5)`
          )
        )
        const before = fs.readFileSync(file)
        const error = yield* openFails({ filename: file })
        expect(error.reason).toBe("NotSluice")
        expect(error.message).toContain(file)
        expect(error.message).toContain("invoices")
        expect(fs.readFileSync(file).equals(before)).toBe(true)
        const rows = yield* Effect.scoped(
          Effect.flatMap(
            SqliteClient.make({ filename: file }),
            (sql) => sql<{ name: string }>`SELECT name FROM sqlite_master`
          )
        ).pipe(Effect.provide(Reactivity.layer), Effect.orDie)
        expect(rows.map((r) => r.name)).toEqual(["invoices"])
      })
    )

    it.scoped("a sluice database written by a newer version is TooNew and stays untouched", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const file = path.join(dir, "store.db")
        yield* withStore({ filename: file }, (store) =>
          Effect.zipRight(store.openRun("r", {}), store.record("r", recs(3)))
        )
        yield* withSqlite(
          file,
          (sql) =>
            sql`INSERT INTO ${sql(MIGRATIONS_TABLE)} (migration_id, name) VALUES (${LATEST + 1}, 'from_the_future')`
        )
        const before = fs.readFileSync(file)
        const error = yield* openFails({ filename: file })
        expect(error.reason).toBe("TooNew")
        expect(error.message).toContain(file)
        expect(fs.readFileSync(file).equals(before)).toBe(true)
      })
    )

    it.scoped("a database of this version opens again with its data", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const file = path.join(dir, "store.db")
        yield* withStore({ filename: file }, (store) =>
          Effect.zipRight(store.openRun("r", { a: 1 }), store.record("r", recs(3)))
        )
        yield* withStore({ filename: file }, (store) =>
          Effect.gen(function* () {
            expect(Option.map(yield* store.getRun("r"), (r) => r.config)).toEqual(Option.some({ a: 1 }))
            expect(yield* store.counts("r")).toEqual({ ...emptyCounts, pending: 3 })
          })
        )
      })
    )

    it.scoped("a truncated sluice database, or one with damaged pages, says it is corrupt, naming the file", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const good = path.join(dir, "good.db")
        yield* withStore({ filename: good }, (store) =>
          Effect.zipRight(store.openRun("r", {}), store.record("r", recs(50)))
        )
        const whole = fs.readFileSync(good)
        expect(whole.length).toBeGreaterThan(8192)
        const truncated = path.join(dir, "truncated.db")
        fs.writeFileSync(truncated, whole.subarray(0, 8192))
        const damaged = path.join(dir, "damaged.db")
        const bytes = Buffer.from(whole)
        for (let i = 4096; i < bytes.length; i += 997) bytes[i] = bytes[i]! ^ 0x5a
        fs.writeFileSync(damaged, bytes)
        for (const file of [truncated, damaged]) {
          const error = yield* Effect.flip(
            withStore({ filename: file }, (store) => Effect.zipRight(store.counts("r"), store.listRuns))
          )
          expect(error.message).toContain(`${file} is corrupt (`)
          expect(error.message).toContain("restore it from a backup")
          expect(error.message).not.toContain("\n")
        }
      })
    )

    it.scoped("a directory is Unavailable, naming the path", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const error = yield* openFails({ filename: dir })
        expect(error.reason).toBe("Unavailable")
        expect(error.message).toContain(dir)
        expect(fs.readdirSync(dir)).toEqual([])
      })
    )

    it.scoped("a path that cannot be opened (under a file, under a missing directory) is Unavailable", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const plain = path.join(dir, "notes.txt")
        fs.writeFileSync(plain, "x")
        const underFile = path.join(plain, "store.db")
        const e1 = yield* openFails({ filename: underFile })
        expect(e1.reason).toBe("Unavailable")
        expect(e1.message).toContain(underFile)
        const underMissing = path.join(dir, "missing", "store.db")
        const e2 = yield* openFails({ filename: underMissing })
        expect(e2.reason).toBe("Unavailable")
        expect(e2.message).toContain(underMissing)
        expect(fs.readdirSync(dir)).toEqual(["notes.txt"])
      })
    )
  })

  it.scoped("disk full: a failed write leaves nothing half-done, and the store keeps working", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const file = path.join(dir, "full.db")
      const big = "x".repeat(20_000)
      // 30 pages of 4 KiB: the schema and 20 small items fit, a handful of 20 KB outputs do not.
      const written = yield* withStore({ filename: file, pragmas: ["max_page_count = 30"] }, (store) =>
        Effect.gen(function* () {
          yield* store.openRun("r", {})
          expect((yield* store.record("r", recs(20))).inserted).toBe(20)

          // A batch of records too large for the disk is refused as a whole.
          const tooMany = Array.from({ length: 10 }, (_, i) => SourceRecord.record(`big${i}`, big, 20 + i, 21 + i))
          const recordError = yield* Effect.flip(store.record("r", tooMany))
          expect(recordError.message).toContain("database or disk is full")
          expect(recordError.message).toContain(file)
          expect(yield* store.counts("r")).toEqual({ ...emptyCounts, pending: 20 })

          const items = yield* store.claim({ owner: "w", limit: 20, leaseMs: 60_000 })
          expect(items).toHaveLength(20)
          // A batch of completions too large is refused as a whole.
          const batchError = yield* Effect.flip(store.complete(items.map((item) => completed(item, "w", big))))
          expect(batchError.message).toContain("database or disk is full")
          expect((yield* store.counts("r")).completed).toBe(0)

          // One at a time until the disk is full.
          let n = 0
          let failure: string | undefined
          for (const item of items) {
            const result = yield* Effect.either(store.complete([completed(item, "w", big)]))
            if (Either.isLeft(result)) {
              failure = result.left.message
              break
            }
            expect(result.right).toEqual([true])
            n++
          }
          expect(failure).toContain("database or disk is full")
          expect(failure).toContain(file)
          expect(n).toBeGreaterThan(0)
          expect(n).toBeLessThan(20)
          // Small writes still fit: the store is not wedged by the failure.
          expect(yield* store.complete([completed(items[n]!, "w", "small")])).toEqual([true])
          return n
        })
      )

      yield* withStore({ filename: file }, (store) =>
        Effect.gen(function* () {
          const rows = yield* store.results("r", { afterSeq: -1, limit: 100 })
          expect(rows).toHaveLength(20)
          for (const row of rows) {
            if (row.status === "completed") expect(row.outputJson).not.toBeNull()
            else expect(row).toMatchObject({ status: "processing", outputJson: null })
          }
          expect(rows.slice(0, written).every((r) => r.outputJson !== null && JSON.parse(r.outputJson) === big)).toBe(
            true
          )
          expect(JSON.parse(rows[written]!.outputJson!)).toBe("small")
          expect(yield* store.counts("r")).toEqual({ ...emptyCounts, completed: written + 1, processing: 19 - written })
        })
      )
    })
  )

  it.scoped("read-only (query_only): writes fail naming the file, reads still work", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const file = path.join(dir, "store.db")
      yield* withStore({ filename: file }, (store) =>
        Effect.gen(function* () {
          yield* store.openRun("r", { a: 1 })
          yield* store.record("r", recs(3))
          const [item] = yield* store.claim({ owner: "w", limit: 1, leaseMs: 60_000 })
          yield* store.complete([completed(item!, "w", { ok: true })])
          yield* store.addMetrics("r", { tokensIn: 7 })
        })
      )
      yield* withStore({ filename: file, pragmas: ["query_only = 1"] }, (store) =>
        Effect.gen(function* () {
          const failures = [
            yield* Effect.flip(store.openRun("r2", {})),
            yield* Effect.flip(store.record("r", [SourceRecord.record("new", {}, 3, 4)])),
            yield* Effect.flip(store.claim({ owner: "w", limit: 10, leaseMs: 1_000 })),
            yield* Effect.flip(store.addMetrics("r", { tokensIn: 1 })),
            yield* Effect.flip(store.retryFailed("r"))
          ]
          for (const e of failures) {
            expect(e._tag).toBe("StoreError")
            expect(e.reason).toBe("Write")
            expect(e.message).toContain(file)
          }
          expect(Option.isSome(yield* store.getRun("r"))).toBe(true)
          expect((yield* store.listRuns).map((r) => r.id)).toEqual(["r"])
          expect(yield* store.counts("r")).toEqual({ ...emptyCounts, pending: 2, completed: 1 })
          const rows = yield* store.results("r", { afterSeq: -1, limit: 10 })
          expect(JSON.parse(rows[0]!.outputJson!)).toEqual({ ok: true })
          expect((yield* store.metrics("r")).tokensIn).toBe(7)
          expect(yield* store.lastErrors(undefined, 5)).toEqual([])
          expect(yield* store.ping).toBe(true)
        })
      )
    })
  )

  it.scoped("two connections on one file claiming from one run: every item is claimed by exactly one", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const file = path.join(dir, "store.db")
      const a = yield* SqliteStore.make({ filename: file })
      const b = yield* SqliteStore.make({ filename: file })
      yield* a.openRun("r", {})
      // The second connection sees the run the first one created.
      yield* b.openRun("r", {})
      const N = 2_000
      yield* a.record("r", recs(N))
      const got = { A: [] as Array<Item>, B: [] as Array<Item> }
      while (true) {
        const [fromA, fromB] = yield* Effect.all(
          [
            a.claim({ owner: "A", limit: 13, leaseMs: 60_000, run: "r" }),
            b.claim({ owner: "B", limit: 17, leaseMs: 60_000, run: "r" })
          ],
          { concurrency: 2 }
        )
        if (fromA.length === 0 && fromB.length === 0) break
        got.A.push(...fromA)
        got.B.push(...fromB)
        // Each completes through its own connection as it goes.
        yield* a.complete(fromA.map((item) => completed(item, "A", item.seq)))
        yield* b.complete(fromB.map((item) => completed(item, "B", item.seq)))
      }
      const all = [...got.A, ...got.B].map((i) => i.seq)
      expect(all).toHaveLength(N)
      expect(new Set(all).size).toBe(N)
      expect(got.A.length).toBeGreaterThan(0)
      expect(got.B.length).toBeGreaterThan(0)
      expect(got.A.every((i) => i.deliveries === 1) && got.B.every((i) => i.deliveries === 1)).toBe(true)
      expect(yield* b.counts("r")).toEqual({ ...emptyCounts, completed: N })
      const rows = yield* a.results("r", { afterSeq: -1, limit: N })
      expect(rows.every((r, i) => r.seq === i && JSON.parse(r.outputJson!) === i)).toBe(true)
    })
  )

  describe("ids pack (run, seq)", () => {
    it.scoped("items of two runs never mix in results or counts", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const store = yield* SqliteStore.make({ filename: path.join(dir, "store.db") })
        yield* store.openRun("a", {})
        yield* store.openRun("b", {})
        yield* store.record("a", recs(3))
        yield* store.record("b", recs(2))
        // Large seqs (a long file) stay in their run.
        yield* store.record("a", [SourceRecord.record("far", {}, 4_294_967_295, undefined)])
        const items = yield* store.claim({ owner: "w", limit: 10, leaseMs: 60_000, run: "b" })
        yield* store.complete(items.map((item) => completed(item, "w", "b")))
        expect((yield* store.results("a", { afterSeq: -1, limit: 10 })).map((r) => [r.seq, r.key, r.status])).toEqual([
          [0, "k0", "pending"],
          [1, "k1", "pending"],
          [2, "k2", "pending"],
          [4_294_967_295, "far", "pending"]
        ])
        expect((yield* store.results("b", { afterSeq: -1, limit: 10 })).map((r) => [r.seq, r.key, r.status])).toEqual([
          [0, "k0", "completed"],
          [1, "k1", "completed"]
        ])
        expect(yield* store.counts("a")).toEqual({ ...emptyCounts, pending: 4 })
        expect(yield* store.counts("b")).toEqual({ ...emptyCounts, completed: 2 })
      })
    )

    it.scoped("a seq the id cannot hold is refused instead of landing in another run", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const file = path.join(dir, "store.db")
        const store = yield* SqliteStore.make({ filename: file })
        yield* store.openRun("a", {})
        yield* store.openRun("b", {})
        yield* store.record("b", recs(2))
        const tooFar = yield* Effect.flip(
          store.record("a", [SourceRecord.record("ok", {}, 0), SourceRecord.record("x", {}, 4_294_967_296 + 1)])
        )
        expect(tooFar.reason).toBe("Write")
        expect(tooFar.message).toContain(file)
        const negative = yield* Effect.flip(store.record("b", [SourceRecord.record("y", {}, -1)]))
        expect(negative.reason).toBe("Write")
        // Nothing of either batch was written, anywhere.
        expect(yield* store.counts("a")).toEqual(emptyCounts)
        expect((yield* store.results("b", { afterSeq: -1, limit: 10 })).map((r) => r.key)).toEqual(["k0", "k1"])
        expect(yield* store.counts()).toEqual({ ...emptyCounts, pending: 2 })
      })
    )
  })
})
