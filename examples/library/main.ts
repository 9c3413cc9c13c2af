/**
 * sluice as a library: a host Effect program that brings its own stages and runs a pipeline whose
 * payloads and outputs are typed by Schema, on the host's own SQLite client.
 * The README shows this file. Run it with `npx tsx examples/library/main.ts`.
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { Effect, Layer, Schema, Stream } from "effect"
import { Classifier, Errors, Pipeline } from "sluice"
import { SqliteStore } from "sluice/sqlite"

// The schemas: the store keeps JSON, the stages see these types.
const Note = Schema.Struct({ text: Schema.String, at: Schema.Date })
const Shouted = Schema.Struct({ text: Schema.String, length: Schema.Number })
const Notes = Pipeline.make({ payload: Note, output: Shouted })

// fetch: the host's own source (here three records in memory; a file, a mailbox, an API in practice).
const Source = Notes.fetcher(
  Stream.make(
    { key: "a", payload: { text: "hello", at: new Date("2026-01-01") } },
    { key: "b", payload: { text: "", at: new Date("2026-01-02") } },
    { key: "c", payload: { text: "world", at: new Date("2026-01-03") } }
  )
)

// classify: empty texts are skipped, everything else is processed. `item.payload` is a Note.
const Triage = Notes.classifier((item) =>
  item.payload.text === "" ? Classifier.Route.skip("empty") : Classifier.Route.process("text")
)

// process: the slow, fallible call. A typed error decides what happens: Transient is retried,
// RateLimited pauses everyone, Invalid fails the item at once.
const Shout = Notes.processor((item) =>
  item.payload.text.length > 100
    ? Effect.fail(new Errors.Invalid({ reason: "Input", message: "too long" }))
    : Effect.succeed({ text: item.payload.text.toUpperCase(), length: item.payload.text.length })
)

// persist: the host's destination (it must be idempotent by item key); here, the log. `output` is Shouted.
const Log = Notes.persister((item, output) => Effect.log(`${item.key} → ${output.text} (${output.length})`))

// The host's own database: sluice's queue lives in it too, on the same connection.
const Db = SqliteClient.layer({ filename: "library-example.db" }).pipe(Layer.provide(Reactivity.layer))

const program = Effect.gen(function* () {
  const summary = yield* Pipeline.run({ run: "library-example", concurrency: 4, output: "library-example.jsonl" })
  yield* Effect.log(`completed ${summary.counts.completed}, skipped ${summary.counts.skipped}`)
  const sql = yield* SqliteClient.SqliteClient
  const [row] = yield* sql<{ n: number }>`SELECT count(*) AS n FROM items WHERE status = 'completed'`
  yield* Effect.log(`the host reads sluice's table on its own connection: ${row?.n} completed`)
})

program.pipe(
  Effect.provide(
    // The defaults first (process everything, progress in memory); the host's own stages replace them.
    Layer.mergeAll(Pipeline.layerDefaults, Source, Triage, Shout, Log, SqliteStore.layerClient()).pipe(
      Layer.provideMerge(Db)
    )
  ),
  Effect.runPromise
)
