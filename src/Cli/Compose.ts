/**
 * The CLI's composition root: the only place that chooses production layers and provides them.
 *
 * @since 0.1.0
 */
import { SqlClient } from "@effect/sql"
import { Config, Context, Duration, Effect, Layer, Option, Redacted } from "effect"
import * as RunConfig from "../Domain/RunConfig.js"
import * as Admission from "../Governor/Admission.js"
import * as Budget from "../Governor/Budget.js"
import * as CircuitBreaker from "../Governor/CircuitBreaker.js"
import * as FleetBudget from "../Governor/FleetBudget.js"
import { makeOwner } from "../Engine/Pipeline.js"
import * as Progress from "../Engine/Progress.js"
import * as Events from "../Engine/Events.js"
import { Llm, type ChatResponse } from "../Llm/Llm.js"
import * as LlmGoverned from "../Llm/LlmGoverned.js"
import * as OpenAi from "../Llm/OpenAi.js"
import * as Pricing from "../Governor/Pricing.js"
import * as ResponseCache from "../Llm/ResponseCache.js"
import * as FileSource from "../Sources/FileSource.js"
import { Classifier, layerAll } from "../Stages/Classifier.js"
import { stages } from "../Stages/FromConfig.js"
import * as PerRun from "../Stages/PerRun.js"
import * as Persister from "../Stages/Persister.js"
import { layerEcho, Processor } from "../Stages/Processor.js"
import * as Reconnect from "../Store/Reconnect.js"
import * as SqliteStore from "../Store/SqliteStore.js"
import { Store, type StoreError } from "../Store/Store.js"

/**
 * Where the upstream is and how to treat it.
 *
 * @since 0.1.0
 */
export interface Upstream {
  readonly baseUrl: string
  readonly timeoutMs: number
  readonly rpm: number
  readonly tpm: number
  /** Input and output tokens per minute where the upstream limits them apart; 0 or absent = unknown. */
  readonly inputTpm?: number | undefined
  readonly outputTpm?: number | undefined
  readonly cache: boolean
  readonly budgetUsd?: number | undefined
  /** A JSON price table (`{"model": {"input": usd per 1M, "output": …}}`), else the defaults. */
  readonly prices?: unknown
}

/** The API key, read only here, and kept `Redacted` until the client is built. */
const apiKey = Config.redacted("OPENAI_API_KEY").pipe(Config.withDefault(Redacted.make("sk-none")))

/**
 * `--db` is a PostgreSQL URL (`postgres://…` or `postgresql://…`), else a SQLite file.
 *
 * @since 0.1.0
 */
export const isPostgres = (db: string): boolean => /^postgres(ql)?:\/\//i.test(db)

/**
 * `--db` for messages: a URL loses its password (and its query, which may hold one).
 *
 * @since 0.1.0
 */
export const describeDb = (db: string): string => {
  if (!isPostgres(db)) return db
  try {
    const url = new URL(db)
    url.password = ""
    url.search = ""
    return url.href
  } catch {
    return "postgres://…"
  }
}

/** The database password when the URL carries none; read only here, and kept `Redacted`. */
const pgPassword = Config.option(Config.redacted("PGPASSWORD"))

/**
 * The store: SQLite, or PostgreSQL when `db` is a URL. The PostgreSQL store also brings its client,
 * which the response cache shares (see `llm`).
 *
 * @since 0.1.0
 */
export const store = (db: string, answerTimeout?: Duration.Duration): Layer.Layer<Store, StoreError> =>
  isPostgres(db)
    ? Layer.unwrapEffect(
        Effect.gen(function* () {
          const password = yield* Effect.orDie(pgPassword)
          // Loaded only for a PostgreSQL URL: the driver costs every SQLite run memory and start time.
          const PgStore = yield* Effect.promise(() => import("../Store/PgStore.js"))
          return PgStore.layer({ url: Redacted.make(db), password: Option.getOrUndefined(password), answerTimeout })
        })
      )
    : SqliteStore.layer({ filename: db })

/** `SLUICE_DB_TIMEOUT`: seconds a database call may go unanswered before the database counts as lost. */
const dbTimeout = Config.number("SLUICE_DB_TIMEOUT").pipe(
  Config.withDefault(10),
  Config.validate({ message: "SLUICE_DB_TIMEOUT must be a number of seconds above 0", validation: (n) => n > 0 })
)

/**
 * The store of a process that works the queue (`run`, `worker`, `serve`). On PostgreSQL it outlives
 * the database's restarts and network cuts: it stops claiming, says so once, reconnects with backoff
 * and says so when it is back (`Reconnect.ts`). A SQLite file is local: nothing to reconnect.
 *
 * @since 0.1.0
 */
export const workStore = (db: string): Layer.Layer<Store, StoreError> =>
  isPostgres(db)
    ? Layer.unwrapEffect(
        Effect.map(Effect.orDie(dbTimeout), (seconds) =>
          // The same limit closes a connection left without an answer, so none outlives a network cut.
          Reconnect.layer({ timeout: Duration.seconds(seconds) }).pipe(
            Layer.provideMerge(store(db, Duration.seconds(seconds)))
          )
        )
      )
    : store(db)

/** The raw upstream client. */
const openAi = (upstream: Upstream): Layer.Layer<Llm> =>
  Layer.unwrapEffect(
    Effect.map(Effect.orDie(apiKey), (key) =>
      OpenAi.layer({ baseUrl: upstream.baseUrl, apiKey: key, timeoutMs: upstream.timeoutMs })
    )
  )

/**
 * The Llm the stages call: the OpenAI adapter governed by admission (RPM and TPM), the circuit
 * breaker, the spending budget and the response cache in the store's file. Admission, the breaker
 * and pricing stay visible, so the engine and the progress view can read them.
 *
 * The run's spend so far seeds the budget, so a run stopped by `--budget` resumes with a larger one.
 *
 * @since 0.1.0
 */
export const llm = (
  upstream: Upstream,
  options: { readonly db: string; readonly run?: string | undefined }
): Layer.Layer<Llm | Admission.Admission | CircuitBreaker.CircuitBreaker | Pricing.Pricing, never, Store> => {
  const pricing = upstream.prices === undefined ? Pricing.layer() : Pricing.layerJson(upstream.prices).pipe(Layer.orDie)
  const budget = Layer.unwrapEffect(
    Effect.gen(function* () {
      const store = yield* Store
      const spentUsd =
        options.run === undefined || Option.isNone(yield* Effect.orDie(store.getRun(options.run)))
          ? 0
          : (yield* Effect.orDie(store.metrics(options.run))).costUsd
      return Budget.layer({ limitUsd: upstream.budgetUsd, spentUsd })
    })
  )
  // Opened after the store (it requires it), so the store's migrations have made the cache table. On
  // PostgreSQL the cache shares the store's client, and so its pool and schema.
  const cache = Layer.unwrapEffect(
    Effect.gen(function* () {
      yield* Store
      if (!isPostgres(options.db)) return ResponseCache.layerSqlite({ filename: options.db })
      const PgClient = yield* Effect.promise(() => import("@effect/sql-pg/PgClient"))
      const client = yield* Effect.serviceOption(PgClient.PgClient)
      if (Option.isNone(client))
        return yield* Effect.dieMessage("the response cache needs the PostgreSQL store's client: provide `store(db)`")
      return ResponseCache.layerSql.pipe(Layer.provide(Layer.succeed(SqlClient.SqlClient, client.value)))
    })
  )
  const core = Layer.mergeAll(admission(upstream), CircuitBreaker.layer(), budget, pricing)
  const governed = upstream.cache ? LlmGoverned.layer().pipe(Layer.provide(cache)) : LlmGoverned.layer({ cache: false })
  return governed.pipe(Layer.provide(openAi(upstream)), Layer.provideMerge(core))
}

/**
 * `SLUICE_FLEET_BUDGET=off`: each process admits on its own budget, as before the fleet budget
 * (for comparison, or for processes that share a database but not an upstream account).
 */
const fleetBudgetOn = Config.literal(
  "on",
  "off"
)("SLUICE_FLEET_BUDGET").pipe(
  Config.withDefault("on" as const),
  Config.map((v) => v === "on")
)

/**
 * Admission for the upstream. With a limit given, its buckets are refilled from the fleet budget in
 * the store, shared by every process on the database (`FleetBudget.ts`); with none, each process
 * discovers the rate alone.
 */
const admission = (upstream: Upstream): Layer.Layer<Admission.Admission, never, Store> =>
  Layer.unwrapEffect(
    Effect.gen(function* () {
      const options = {
        rpm: upstream.rpm,
        tpm: upstream.tpm,
        inputTpm: upstream.inputTpm,
        outputTpm: upstream.outputTpm
      }
      if (!(upstream.rpm > 0 || upstream.tpm > 0) || !(yield* Effect.orDie(fleetBudgetOn))) {
        return Admission.layer(options)
      }
      const key = yield* Effect.orDie(apiKey)
      const supply = yield* FleetBudget.supply({ baseUrl: upstream.baseUrl, apiKey: key, holder: makeOwner() })
      return Admission.layer({ ...options, supply })
    })
  )

/** What a response cost, for the processor's accounting. */
const priceWith = (pricing: Pricing.Pricing["Type"]) => (response: ChatResponse) =>
  pricing.cost(response.model, response.usage)

/**
 * The stages of a run started here, from its settings.
 *
 * @since 0.1.0
 */
export const runStages = (
  config: RunConfig.RunConfig
): Layer.Layer<Classifier | Processor, never, Llm | Pricing.Pricing> =>
  Layer.effectContext(
    Effect.gen(function* () {
      const s = stages(config, yield* Llm, priceWith(yield* Pricing.Pricing))
      return Context.make(Classifier, s.classifier).pipe(Context.add(Processor, s.processor))
    })
  )

/**
 * Everything `sluice run` needs.
 *
 * @since 0.1.0
 */
export const runLayer = (options: {
  readonly db: string
  readonly input: string
  readonly run: string
  readonly config: RunConfig.RunConfig
  readonly upstream: Upstream
}) =>
  Layer.mergeAll(
    runStages(options.config),
    FileSource.layer(options.input),
    Persister.layerStoreOnly,
    Progress.layer
  ).pipe(
    Layer.provideMerge(llm(options.upstream, { db: options.db, run: options.run })),
    Layer.provideMerge(workStore(options.db))
  )

/**
 * Whether a run's stages ask a model (else no client, admission or cache connection is built).
 *
 * @since 0.1.0
 */
export const needsModel = (config: RunConfig.RunConfig): boolean =>
  config.processor === "llm" || config.classify !== undefined

/**
 * Everything `sluice run` needs when no stage asks a model (`--processor echo`).
 *
 * @since 0.1.0
 */
export const runLayerNoModel = (options: { readonly db: string; readonly input: string }) =>
  Layer.mergeAll(layerAll, layerEcho, FileSource.layer(options.input), Persister.layerStoreOnly, Progress.layer).pipe(
    Layer.provideMerge(workStore(options.db))
  )

/**
 * Everything `sluice worker` needs: stages rebuilt per run from the settings stored with it.
 *
 * @since 0.1.0
 */
export const workerLayer = (options: { readonly db: string; readonly upstream: Upstream }) =>
  Layer.unwrapEffect(
    Effect.map(Pricing.Pricing, (pricing) =>
      Layer.mergeAll(PerRun.layer(priceWith(pricing)), Persister.layerStoreOnly, Progress.layer, Events.layer)
    )
  ).pipe(Layer.provideMerge(llm(options.upstream, { db: options.db })), Layer.provideMerge(workStore(options.db)))
