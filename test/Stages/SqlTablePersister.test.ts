/**
 * The SQL table persister on an in-memory SQLite database: idempotent by key (and run), typed failures.
 */
import { SqlClient } from "@effect/sql"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import type { Item } from "../../src/Domain/Item.js"
import { Persister } from "../../src/Stages/Persister.js"
import * as SqlTablePersister from "../../src/Stages/SqlTablePersister.js"

const Output = Schema.Struct({ tags: Schema.Array(Schema.String) })

const item = (key: string, run = "r1"): Item => ({ run, seq: 0, key, payload: null, deliveries: 1, attempts: 0 })

const persisterLayer = (runColumn?: string) =>
  SqlTablePersister.layer({
    table: "tags",
    keyColumn: "item_key",
    ...(runColumn === undefined ? {} : { runColumn }),
    output: Output,
    rows: (_item, output) => output.tags.map((tag) => ({ tag, length: tag.length })),
    setup: [
      `CREATE TABLE IF NOT EXISTS tags (run TEXT, item_key TEXT NOT NULL, tag TEXT NOT NULL, length INTEGER NOT NULL CHECK (length < 10))`,
      `CREATE INDEX IF NOT EXISTS tags_key ON tags (item_key)`
    ]
  })

const database = SqliteClient.layer({ filename: ":memory:" }).pipe(Layer.orDie)

const rows = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql<{
      run: string | null
      item_key: string
      tag: string
      length: number
    }>`SELECT run, item_key, tag, length FROM tags ORDER BY run, item_key, tag`
)

describe("SqlTablePersister", () => {
  it.effect("persisting the same item again leaves the same rows, never a duplicate", () =>
    Effect.gen(function* () {
      const persister = yield* Persister
      yield* persister.persist(item("a"), { tags: ["x", "y"] })
      yield* persister.persist(item("b"), { tags: ["z"] })
      const once = yield* rows
      // A crash between persist and the store's commit replays it.
      yield* persister.persist(item("a"), { tags: ["x", "y"] })
      yield* persister.persist(item("a"), { tags: ["x", "y"] })
      expect(yield* rows).toEqual(once)
      expect(once).toEqual([
        { run: null, item_key: "a", tag: "x", length: 1 },
        { run: null, item_key: "a", tag: "y", length: 1 },
        { run: null, item_key: "b", tag: "z", length: 1 }
      ])
    }).pipe(Effect.provide(persisterLayer().pipe(Layer.provideMerge(database))))
  )

  it.effect("a different output replaces the item's rows, leaving none of the old; no rows leaves none", () =>
    Effect.gen(function* () {
      const persister = yield* Persister
      yield* persister.persist(item("a"), { tags: ["x", "y"] })
      yield* persister.persist(item("b"), { tags: ["z"] })
      yield* persister.persist(item("a"), { tags: ["w"] })
      expect((yield* rows).map((r) => [r.item_key, r.tag])).toEqual([
        ["a", "w"],
        ["b", "z"]
      ])
      yield* persister.persist(item("a"), { tags: [] })
      expect((yield* rows).map((r) => [r.item_key, r.tag])).toEqual([["b", "z"]])
    }).pipe(Effect.provide(persisterLayer().pipe(Layer.provideMerge(database))))
  )

  it.effect("with a run column, the same key in two runs keeps two sets of rows", () =>
    Effect.gen(function* () {
      const persister = yield* Persister
      yield* persister.persist(item("a", "r1"), { tags: ["x"] })
      yield* persister.persist(item("a", "r2"), { tags: ["y"] })
      yield* persister.persist(item("a", "r1"), { tags: ["x"] })
      expect((yield* rows).map((r) => [r.run, r.item_key, r.tag])).toEqual([
        ["r1", "a", "x"],
        ["r2", "a", "y"]
      ])
    }).pipe(Effect.provide(persisterLayer("run").pipe(Layer.provideMerge(database))))
  )

  it.effect("20 items persisted at once all land, each once", () =>
    Effect.gen(function* () {
      const persister = yield* Persister
      const keys = Array.from({ length: 20 }, (_, i) => `k${String(i).padStart(2, "0")}`)
      yield* Effect.forEach(keys, (k) => persister.persist(item(k), { tags: [k, `${k}b`] }), { concurrency: 20 })
      yield* Effect.forEach(keys, (k) => persister.persist(item(k), { tags: [k, `${k}b`] }), { concurrency: 20 })
      const all = yield* rows
      expect(all.length).toBe(40)
      expect(new Set(all.map((r) => `${r.item_key}/${r.tag}`)).size).toBe(40)
    }).pipe(Effect.provide(persisterLayer().pipe(Layer.provideMerge(database))))
  )

  it.effect(
    "an output off its Schema fails Invalid; a write the database refuses fails Transient and leaves the old rows",
    () =>
      Effect.gen(function* () {
        const persister = yield* Persister
        const invalid = yield* Effect.flip(persister.persist(item("a"), { tags: "x" }))
        expect(invalid._tag).toBe("Invalid")
        expect(invalid._tag === "Invalid" && invalid.reason).toBe("Output")

        yield* persister.persist(item("a"), { tags: ["ok"] })
        // The CHECK refuses a tag of 10 characters or more: the whole replacement rolls back.
        const refused = yield* Effect.flip(persister.persist(item("a"), { tags: ["fine", "far-too-long-tag"] }))
        expect(refused._tag).toBe("Transient")
        expect(refused.message).toContain("cannot write to tags")
        expect((yield* rows).map((r) => r.tag)).toEqual(["ok"])
      }).pipe(Effect.provide(persisterLayer().pipe(Layer.provideMerge(database))))
  )
})
