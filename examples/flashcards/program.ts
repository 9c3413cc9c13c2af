/**
 * The flashcard batch as an Effect: vocabulary items through two LLM stages each, results written in
 * input order, under an RPM limit with a safety margin, a circuit breaker, a response cache in the
 * store's file (a rerun costs nothing), retries, a spending budget and a batch timeout; the run's
 * metrics row is kept in SQLite.
 *
 * The host program chooses every stage: this file is its one composition root.
 */
import { Duration, Effect, Fiber, Layer, Option, type Redacted, Stream } from "effect"
import {
  Admission,
  Attempt,
  Budget,
  CircuitBreaker,
  Classifier,
  Fetcher,
  Item,
  Persister,
  Pipeline,
  Pricing,
  Progress,
  Store,
  type Run
} from "sluice"
import { JsonlFile } from "sluice/files"
import { LlmGoverned, ResponseCache } from "sluice/llm"
import { OpenAi } from "sluice/openai"
import { SqliteStore } from "sluice/sqlite"
import * as FlashcardProcessor from "./processor.js"
import * as Vocabulary from "./vocabulary.js"

export interface FlashcardsOptions {
  /** The OpenAI-compatible upstream and the limits it enforces. */
  readonly upstream: {
    readonly baseUrl: string
    readonly apiKey: Redacted.Redacted<string>
    /** The upstream's requests-per-minute limit; admission uses `safety` of it. */
    readonly rpm: number
    /** The upstream's tokens-per-minute limit, when it has one. */
    readonly tpm?: number | undefined
    /** One call, connect to last byte. Default 30 s. */
    readonly timeoutMs?: number | undefined
  }
  /** Default "gpt-4o-mini". */
  readonly model?: string | undefined
  /** The share of the upstream's limits admission may use. Default 0.9. */
  readonly safety?: number | undefined
  /** The SQLite file: the queue, the results, the response cache and the metrics row. */
  readonly database: string
  /** The JSONL file the flashcards are written to, in input order. */
  readonly output: string
  /** The run id: the same id resumes the run; a new id over the same file is served from the cache. Default "flashcards". */
  readonly run?: string | undefined
  /** Read the items from this JSONL file (`{"id","term","gloss"}` a line) instead of `terms`. */
  readonly input?: string | undefined
  /** The items, in memory, when there is no `input`. Default: the first 500 of the vocabulary. */
  readonly terms?: ReadonlyArray<Vocabulary.Term> | undefined
  /** Items in the stages at once. Default 16. */
  readonly concurrency?: number | undefined
  /** Default: 20-call window, 10 calls before tripping, 50% failures, and a 2 s cool-down (short, for the demo). */
  readonly circuitBreaker?: CircuitBreaker.CircuitBreakerOptions | undefined
  /** Stop admitting calls once this much (USD) would be spent; unlimited when absent. */
  readonly budgetUsd?: number | undefined
  readonly attempt?: Attempt.AttemptOptions | undefined
  /** The whole batch stops (cleanly, resumable) after this long. Default 30 minutes. */
  readonly batchTimeout?: Duration.DurationInput | undefined
}

export interface FlashcardsReport {
  readonly run: string
  readonly counts: Run.RunCounts
  /** The run's metrics row, read back from SQLite after the run. */
  readonly metrics: Run.RunMetrics
  /** Wall time of this session. */
  readonly makespanMs: number
  /** True when the batch timeout stopped the run; what finished is stored, the rest stays pending. */
  readonly timedOut: boolean
  readonly output: string
}

export const DEFAULT_RUN = "flashcards"

/** The default cool-down is 30 s; a demo wants to see the circuit close again within seconds. */
export const defaultCircuitBreaker: CircuitBreaker.CircuitBreakerOptions = { coolDownMs: 2_000 }

/** Both stages count as one attempt; a retry of stage 2 finds stage 1 in the cache. */
export const defaultAttempt: Attempt.AttemptOptions = {
  ...Attempt.defaultAttemptOptions,
  maxAttempts: 4,
  attemptTimeout: "75 seconds",
  baseBackoff: "250 millis",
  maxBackoff: "10 seconds"
}

const fetcher = (options: FlashcardsOptions): Layer.Layer<Fetcher.Fetcher> =>
  options.input !== undefined
    ? JsonlFile.layer(options.input)
    : Layer.succeed(
        Fetcher.Fetcher,
        Fetcher.make(
          Stream.fromIterable(
            (options.terms ?? Vocabulary.take(500)).map((t, i) => Item.SourceRecord.record(t.id, t, i))
          )
        )
      )

/**
 * The governed Llm: the OpenAI adapter behind the response cache (in the store's file), the circuit
 * breaker, the budget and admission at `safety` of the upstream's limits. Admission and the breaker
 * stay in the context, so the engine reports rate-limit waits and circuit trips in the metrics row.
 */
const governedLlm = (options: FlashcardsOptions) => {
  const safety = Math.min(1, Math.max(0.05, options.safety ?? 0.9))
  const { upstream } = options
  const run = options.run ?? DEFAULT_RUN
  // Opened after the store, whose migrations create the cache table.
  const cache = Layer.unwrapEffect(Effect.as(Store.Store, ResponseCache.layerSqlite({ filename: options.database })))
  // A resumed run's spend so far counts against its budget.
  const budget = Layer.unwrapEffect(
    Effect.gen(function* () {
      const store = yield* Store.Store
      const known = Option.isSome(yield* Effect.orDie(store.getRun(run)))
      const spentUsd = known ? (yield* Effect.orDie(store.metrics(run))).costUsd : 0
      return Budget.layer({ limitUsd: options.budgetUsd, spentUsd })
    })
  )
  const governance = Layer.mergeAll(
    Admission.layer({
      rpm: Math.max(1, Math.floor(upstream.rpm * safety)),
      tpm: upstream.tpm === undefined ? undefined : Math.max(1, Math.floor(upstream.tpm * safety))
    }),
    CircuitBreaker.layer(options.circuitBreaker ?? defaultCircuitBreaker),
    budget,
    Pricing.layer()
  )
  const raw = OpenAi.layer({
    baseUrl: upstream.baseUrl,
    apiKey: upstream.apiKey,
    timeoutMs: upstream.timeoutMs ?? 30_000
  })
  return LlmGoverned.layer().pipe(Layer.provide(Layer.merge(cache, raw)), Layer.provideMerge(governance))
}

/**
 * Every stage of the batch, the governed Llm, the store and live progress.
 */
export const layer = (options: FlashcardsOptions) =>
  Layer.mergeAll(
    FlashcardProcessor.layer({ model: options.model ?? "gpt-4o-mini" }),
    fetcher(options),
    Classifier.layerAll,
    Persister.layerStoreOnly,
    Progress.layer
  ).pipe(
    Layer.provideMerge(governedLlm(options)),
    Layer.provideMerge(SqliteStore.layer({ filename: options.database }))
  )

/**
 * Runs the batch on whatever stages are provided. `watch` runs beside it (a progress view) and is
 * stopped when the batch ends.
 */
export const program = (
  options: FlashcardsOptions,
  watch?: ((run: string) => Effect.Effect<unknown, never, Progress.Progress>) | undefined
) =>
  Effect.gen(function* () {
    const run = options.run ?? DEFAULT_RUN
    const store = yield* Store.Store
    const concurrency = options.concurrency ?? 16
    const batch = Pipeline.run({
      run,
      concurrency,
      output: options.output,
      attempt: options.attempt ?? defaultAttempt,
      config: { example: "flashcards", model: options.model ?? "gpt-4o-mini", concurrency }
    })
    const watcher = watch === undefined ? undefined : yield* Effect.fork(watch(run))
    // On timeout the pipeline is interrupted: it drains, stores what finished and hands back the rest.
    const summary = yield* batch.pipe(
      Effect.timeoutOption(options.batchTimeout ?? "30 minutes"),
      Effect.ensuring(watcher === undefined ? Effect.void : Fiber.interrupt(watcher))
    )
    return {
      run,
      counts: yield* store.counts(run),
      metrics: yield* store.metrics(run),
      makespanMs: Option.match(summary, {
        onNone: () => Duration.toMillis(options.batchTimeout ?? "30 minutes"),
        onSome: (s) => s.makespanMs
      }),
      timedOut: Option.isNone(summary),
      output: options.output
    } satisfies FlashcardsReport
  })

/**
 * The batch, end to end: fails only when the store cannot be opened or written.
 */
export const run = (
  options: FlashcardsOptions,
  watch?: ((run: string) => Effect.Effect<unknown, never, Progress.Progress>) | undefined
): Effect.Effect<FlashcardsReport, Store.StoreError> => program(options, watch).pipe(Effect.provide(layer(options)))
