/**
 * sluice as a library: a host Effect program that brings its own stages and runs a pipeline.
 * The README shows this file. Run it with `npx tsx examples/library/main.ts`.
 */
import { Effect, Layer, Stream } from "effect"
import { Classifier, Errors, Fetcher, Item, Persister, Pipeline, Processor } from "sluice"
import { SqliteStore } from "sluice/sqlite"

// fetch: the host's own source (here three records in memory; a file, a mailbox, an API in practice).
const Source = Layer.succeed(
  Fetcher.Fetcher,
  Fetcher.make(
    Stream.fromIterable([
      Item.SourceRecord.record("a", { text: "hello" }, 0),
      Item.SourceRecord.record("b", { text: "" }, 1),
      Item.SourceRecord.record("c", { text: "world" }, 2)
    ])
  )
)

// classify: empty texts are skipped, everything else is processed.
const Triage = Classifier.layerFunction((item) =>
  (item.payload as { text: string }).text === "" ? Classifier.Route.skip("empty") : Classifier.Route.process("text")
)

// process: the slow, fallible call. A typed error decides what happens: Transient is retried,
// RateLimited pauses everyone, Invalid fails the item at once.
const Shout = Layer.succeed(
  Processor.Processor,
  Processor.Processor.of({
    process: (item) => {
      const text = (item.payload as { text: string }).text
      return text.length > 100
        ? Effect.fail(new Errors.Invalid({ reason: "Input", message: "too long" }))
        : Effect.succeed({ output: text.toUpperCase() })
    }
  })
)

// persist: the host's destination (it must be idempotent by item key); here, the log.
const Log = Layer.succeed(
  Persister.Persister,
  Persister.Persister.of({ persist: (item, output) => Effect.log(`${item.key} → ${JSON.stringify(output)}`) })
)

const program = Effect.gen(function* () {
  const summary = yield* Pipeline.run({ run: "library-example", concurrency: 4, output: "library-example.jsonl" })
  yield* Effect.log(`completed ${summary.counts.completed}, skipped ${summary.counts.skipped}`)
})

program.pipe(
  Effect.provide(
    // The defaults first (process everything, progress in memory); the host's own stages replace them.
    Layer.mergeAll(
      Pipeline.layerDefaults,
      Source,
      Triage,
      Shout,
      Log,
      SqliteStore.layer({ filename: "library-example.db" })
    )
  ),
  Effect.runPromise
)
