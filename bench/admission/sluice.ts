/**
 * sluice as a host program runs it: `Pipeline.run` over an in-memory Fetcher, the LlmProcessor on
 * the governed Llm (`LlmGoverned` + `Admission.layer({ rpm, tpm })` + `OpenAi.layer`), a SqliteStore
 * (and its response cache) on a temp file.
 */
import { Effect, Layer, Logger, LogLevel, Redacted, Stream } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { SourceRecord } from "../../src/Domain/Item.js"
import * as Admission from "../../src/Governor/Admission.js"
import * as Budget from "../../src/Governor/Budget.js"
import * as CircuitBreaker from "../../src/Governor/CircuitBreaker.js"
import * as Pipeline from "../../src/Engine/Pipeline.js"
import * as LlmGoverned from "../../src/Llm/LlmGoverned.js"
import * as OpenAi from "../../src/Llm/OpenAi.js"
import * as Pricing from "../../src/Governor/Pricing.js"
import * as ResponseCache from "../../src/Llm/ResponseCache.js"
import * as Fetcher from "../../src/Stages/Fetcher.js"
import * as LlmProcessor from "../../src/Stages/LlmProcessor.js"
import { Processor } from "../../src/Stages/Processor.js"
import * as SqliteStore from "../../src/Store/SqliteStore.js"
import { Store } from "../../src/Store/Store.js"
import type { Context, Result } from "./contenders.js"
import { CONCURRENCY, MODEL, SYSTEM } from "./workload.js"

export interface SluiceOptions {
  /** Configure the limits (true), or leave them to be learned from the upstream's headers (false). */
  readonly limitsKnown: boolean
  /** The response cache in the store's file, as `sluice run` has it by default. Default true. */
  readonly cache?: boolean | undefined
  /** Diagnostics only: wraps the store and the processor (to time claims, commits and calls). */
  readonly wrapStore?: ((store: Store["Type"]) => Store["Type"]) | undefined
  readonly onAdmission?: ((admission: Admission.Admission["Type"]) => void) | undefined
  readonly wrapProcessor?: ((processor: Processor["Type"]) => Processor["Type"]) | undefined
  /** Diagnostics only: false runs with Effect's tracer disabled (spans become no-ops). */
  readonly tracing?: boolean | undefined
}

export const sluiceRun = (
  ctx: Context,
  options: SluiceOptions
): Promise<Result & { readonly admission429s: number }> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-bench-admission-"))
  const db = path.join(dir, "sluice.db")
  const run = "bench"
  const records = ctx.items.map((text, i) => SourceRecord.record(`k${i}`, { text }, i, i + 1))

  const core = Layer.mergeAll(
    Admission.layer(
      !options.limitsKnown
        ? {}
        : ctx.otpm === undefined
          ? { rpm: ctx.rpm, tpm: ctx.tpm }
          : { rpm: ctx.rpm, inputTpm: ctx.tpm, outputTpm: ctx.otpm }
    ),
    CircuitBreaker.layer(),
    Budget.layer(),
    Pricing.layer()
  )
  const sqlite = SqliteStore.layer({ filename: db })
  const wrapStore = options.wrapStore
  const store =
    wrapStore === undefined ? sqlite : Layer.effect(Store, Effect.map(Store, wrapStore)).pipe(Layer.provide(sqlite))
  // Opened after the store, whose migrations make the cache table (as the CLI composes it).
  const cache = Layer.unwrapEffect(Effect.as(Store, ResponseCache.layerSqlite({ filename: db })))
  const governed =
    options.cache === false ? LlmGoverned.layer({ cache: false }) : LlmGoverned.layer().pipe(Layer.provide(cache))
  const llm = governed.pipe(
    Layer.provide(OpenAi.layer({ baseUrl: ctx.url, apiKey: Redacted.make("sk-bench"), timeoutMs: 30_000 })),
    Layer.provideMerge(core)
  )
  const llmProcessor = LlmProcessor.layer({
    model: MODEL,
    system: SYSTEM,
    // No maxTokens: sluice's default is to learn it from the answers.
    render: (item) => (item.payload as { text: string }).text
  })
  const wrapProcessor = options.wrapProcessor
  const processor =
    wrapProcessor === undefined
      ? llmProcessor
      : Layer.effect(Processor, Effect.map(Processor, wrapProcessor)).pipe(Layer.provide(llmProcessor))
  const layer = Layer.mergeAll(
    Layer.succeed(Fetcher.Fetcher, Fetcher.make(Stream.fromIterable(records))),
    Pipeline.layerDefaults,
    processor
  ).pipe(Layer.provideMerge(llm), Layer.provideMerge(store))

  const program = Effect.gen(function* () {
    const store = yield* Store
    const admission = yield* Admission.Admission
    if (options.onAdmission !== undefined) options.onAdmission(admission)
    const startedAtEpochMs = Date.now()
    const started = performance.now()
    const summary = yield* Pipeline.run({ run, concurrency: CONCURRENCY, drainTimeout: "1 second" }).pipe(
      Effect.timeoutOption(ctx.timeoutMs)
    )
    const makespanMs = performance.now() - started
    const counts = yield* store.counts(run)
    const state = yield* admission.state
    return {
      completed: counts.completed,
      failed: counts.failed,
      makespanMs,
      timedOut: summary._tag === "None",
      admission429s: state.rateLimitHits,
      startedAtEpochMs,
      note: options.limitsKnown
        ? undefined
        : `learned ${state.rpm ?? "?"} RPM (${state.rpmSource}), ${state.tpm ?? "?"} TPM (${state.tpmSource})`
    }
  })

  return Effect.runPromise(
    program.pipe(
      Effect.provide(layer),
      Logger.withMinimumLogLevel(process.env["SLUICE_BENCH_DEBUG"] === "1" ? LogLevel.Debug : LogLevel.Warning),
      Effect.withTracerEnabled(options.tracing !== false),
      Effect.orDie
    )
  ).finally(() => fs.rmSync(dir, { recursive: true, force: true }))
}
