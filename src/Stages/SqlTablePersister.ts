/**
 * A persister that writes each completed item's output as rows of a table of your own, through
 * `@effect/sql`'s `SqlClient` (SQLite, Postgres, MySQL … whichever client the host provides).
 *
 * Idempotency: an item's rows are identified by its key (`keyColumn`) and, when `runColumn` is set,
 * its run. Persisting an item deletes the rows it wrote before and inserts its rows, in one
 * transaction. Replaying it — after a crash between this write and the store's commit, or a
 * `sluice retry` that produced a different answer — leaves exactly the rows of the last output, never
 * a duplicate and never a leftover; an output with no rows leaves none.
 *
 * The table is yours: sluice never alters it. `setup` statements (e.g. `CREATE TABLE IF NOT EXISTS`)
 * run once when the layer is built. Index the key column (with the run column first, if any): every
 * persist deletes by it.
 *
 * @since 0.1.0
 */
import { SqlClient, type SqlError } from "@effect/sql"
import { Effect, Layer, ParseResult, Schema } from "effect"
import { Invalid, type StageError, Transient } from "../Domain/Errors.js"
import type { Item } from "../Domain/Item.js"
import { writeTransaction } from "../Store/SqliteTransaction.js"
import { Persister } from "./Persister.js"

/**
 * A column value the SQL clients bind as is.
 *
 * @since 0.1.0
 * @category models
 */
export type Value = string | number | bigint | boolean | null | Date | Uint8Array

/**
 * @since 0.1.0
 * @category models
 */
export type Row = Readonly<Record<string, Value>>

/**
 * @since 0.1.0
 * @category models
 */
export interface SqlTablePersisterOptions<A> {
  /** The table (a plain name, or "schema.table"). */
  readonly table: string
  /** The column that holds the item's key; always written, from `item.key`. */
  readonly keyColumn: string
  /**
   * The column that holds the run id, when rows of several runs share the table. Absent: rows are
   * identified by the key alone, so a key persisted again by another run replaces them.
   */
  readonly runColumn?: string | undefined
  /** Decodes the output before `rows` sees it; a mismatch fails the item as `Invalid` (reason "Output"). */
  readonly output: Schema.Schema<A, any>
  /** The rows of one item, without the key and run columns (added here). Zero rows is fine. */
  readonly rows: (item: Item, output: A) => ReadonlyArray<Row>
  /** Statements run once, in order, when the layer is built (create the table and its index). */
  readonly setup?: ReadonlyArray<string> | undefined
}

const causeMessage = (error: SqlError.SqlError): string =>
  error.cause instanceof Error ? error.cause.message : error.message

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = <A>(
  options: SqlTablePersisterOptions<A>
): Effect.Effect<Persister["Type"], SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    for (const statement of options.setup ?? []) yield* sql.unsafe(statement)
    const decode = Schema.decodeUnknown(options.output)
    const table = sql(options.table)
    const keyColumn = options.keyColumn
    const runColumn = options.runColumn

    // On SQLite: BEGIN IMMEDIATE, and a busy file is waited out rather than failing the item.
    const write = (item: Item, rows: ReadonlyArray<Row>) =>
      writeTransaction(sql)(
        Effect.gen(function* () {
          const where =
            runColumn === undefined
              ? sql`${sql(keyColumn)} = ${item.key}`
              : sql.and([sql`${sql(runColumn)} = ${item.run}`, sql`${sql(keyColumn)} = ${item.key}`])
          yield* sql`DELETE FROM ${table} WHERE ${where}`
          if (rows.length === 0) return
          const keyed = rows.map((row) => ({
            ...row,
            ...(runColumn === undefined ? {} : { [runColumn]: item.run }),
            [keyColumn]: item.key
          }))
          yield* sql`INSERT INTO ${table} ${sql.insert(keyed)}`
        })
      )

    const persist = Effect.fn("SqlTablePersister.persist")(function* (item: Item, output: unknown) {
      const decoded = yield* decode(output).pipe(
        Effect.mapError(
          (e) =>
            new Invalid({
              reason: "Output",
              message: `the output does not fit ${options.table}: ${ParseResult.TreeFormatter.formatErrorSync(e).replace(/\s+/g, " ").slice(0, 200)}`
            })
        )
      )
      const rows = yield* Effect.try({
        try: () => options.rows(item, decoded),
        catch: (e) =>
          new Invalid({
            reason: "Output",
            message: `rows for ${options.table}: ${e instanceof Error ? e.message : String(e)}`
          })
      })
      // A database that refuses a write (locked, gone, a constraint) may accept it on the next
      // attempt; the engine retries Transient failures a bounded number of times, then fails the item.
      yield* write(item, rows).pipe(
        Effect.mapError(
          (e): StageError =>
            new Transient({ reason: "Connection", message: `cannot write to ${options.table}: ${causeMessage(e)}` })
        )
      )
    })

    return Persister.of({ persist })
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = <A>(
  options: SqlTablePersisterOptions<A>
): Layer.Layer<Persister, SqlError.SqlError, SqlClient.SqlClient> => Layer.effect(Persister, make(options))
