/**
 * Tracking extraction as an Effect: page through the helpdesk's conversations (100 a page), fetch each
 * conversation's messages, let an LLM extract its tracking numbers, and save them in the team's own
 * `tracking_numbers` table. 20 conversations at once, no batches, no sleeps: admission keeps the model
 * within 500 RPM / 200k TPM, and a conversation starts as soon as another one finishes.
 *
 * The run id is fixed, so running again resumes: the listing is read again (the helpdesk source is
 * live) and only conversations the run has not seen are scanned. A scanned conversation costs no
 * upstream call at all, because its messages are fetched in the process stage, which the engine never
 * calls for a completed item (see `PagedHttp.ts` on why the sub-fetch is not in the source). The
 * price: when the engine retries a conversation (a model 5xx or 429), its messages are fetched again,
 * which is cheap next to the model call and picks up a reply that arrived meanwhile.
 *
 * The host program chooses every stage: this file is its one composition root.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import { NodeHttpClient } from "@effect/platform-node"
import { SqlClient, type SqlError } from "@effect/sql"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { Effect, Layer, ParseResult, type Redacted, Schema } from "effect"
import {
  Admission,
  Attempt,
  Budget,
  CircuitBreaker,
  Classifier,
  Errors,
  Llm,
  LlmProcessor,
  Pipeline,
  Pricing,
  Processor,
  Progress,
  Store,
  type Run
} from "sluice"
import { PagedHttp } from "sluice/http"
import { LlmGoverned, ResponseCache } from "sluice/llm"
import { OpenAi } from "sluice/openai"
import { SqlTablePersister, SqliteStore } from "sluice/sqlite"
import * as Model from "./model.js"

// --- the helpdesk's API, as this client reads it ----------------------------------------------

export const ConversationSummary = Schema.Struct({
  id: Schema.String,
  subject: Schema.String,
  customer: Schema.Struct({ name: Schema.String, email: Schema.String }),
  created_at: Schema.String
})

const ConversationPage = Schema.Struct({
  _results: Schema.Array(Schema.Unknown),
  _pagination: Schema.Struct({ next: Schema.NullOr(Schema.String) })
})

const Message = Schema.Struct({
  id: Schema.String,
  author: Schema.String,
  body: Schema.String,
  created_at: Schema.String
})

const Messages = Schema.Struct({ _results: Schema.Array(Message) })

// --- options and report ------------------------------------------------------------------------

export interface TrackingOptions {
  readonly helpdesk: {
    /** e.g. `http://127.0.0.1:40123` */
    readonly url: string
    /** Conversations a page. Default 100 (the helpdesk's maximum). */
    readonly pageSize?: number | undefined
  }
  /** An OpenAI-compatible endpoint (the simulator, in the example) and its limits. */
  readonly llm: {
    readonly baseUrl: string
    readonly apiKey: Redacted.Redacted<string>
    readonly model?: string | undefined
    /** Requests per minute the account may make. The team's tier: 500. */
    readonly rpm: number
    /** Tokens per minute. The team's tier: 200,000. */
    readonly tpm: number
  }
  /** The sluice store (SQLite): every conversation's outcome, and the response cache. */
  readonly database: string
  /** The team's own database (SQLite here; Postgres in production), holding `tracking_numbers`. */
  readonly results: string
  /** The same id resumes the run. Default "tracking-extraction". */
  readonly run?: string | undefined
  /** Conversations in the stages at once. Default 20. */
  readonly concurrency?: number | undefined
  readonly attempt?: Attempt.AttemptOptions | undefined
}

export interface TrackingRow {
  readonly conversation_id: string
  readonly carrier: string
  readonly number: string
}

export interface TrackingReport {
  readonly run: string
  /** Conversations completed (scanned), in this run so far. */
  readonly scanned: number
  /** Scanned conversations with at least one tracking number. */
  readonly withTracking: number
  readonly failed: ReadonlyArray<{ readonly key: string; readonly tag: string; readonly message: string }>
  /** The `tracking_numbers` table, ordered by conversation and number. */
  readonly rows: ReadonlyArray<TrackingRow>
  readonly summary: Run.RunSummary & { readonly sourceError?: string | undefined }
}

/** Retries come quickly: helpdesk 5xx are blips, and the model's 5xx are retried by the same policy. */
const attempt: Attempt.AttemptOptions = {
  ...Attempt.defaultAttemptOptions,
  maxAttempts: 4,
  attemptTimeout: "30 seconds",
  baseBackoff: "100 millis",
  maxBackoff: "5 seconds"
}

export const TABLE = "tracking_numbers"

// --- stages ------------------------------------------------------------------------------------

/** The fetch stage: the conversation listing, page by page. */
const source = (options: TrackingOptions) =>
  PagedHttp.layer({
    name: "helpdesk",
    request: `${options.helpdesk.url.replace(/\/$/, "")}/conversations?limit=${options.helpdesk.pageSize ?? 100}`,
    page: ConversationPage,
    items: (page) => page._results,
    next: (page) => page._pagination.next,
    item: ConversationSummary,
    key: (c) => c.id
  })

/** The process stage: the conversation's messages from the helpdesk, then the model's extraction. */
const extraction = (options: TrackingOptions) =>
  Layer.effect(
    Processor.Processor,
    Effect.gen(function* () {
      const client = yield* HttpClient.HttpClient
      const pricing = yield* Pricing.Pricing
      const extract = LlmProcessor.make(
        {
          model: options.llm.model ?? "gpt-4o-mini",
          system: Model.system,
          json: true,
          temperature: 0,
          maxTokens: 150,
          // The payload is the thread this stage just assembled.
          render: (item) => Model.render(item.payload as Model.Thread),
          decode: Model.Extraction,
          price: (response) => pricing.cost(response.model, response.usage)
        },
        yield* Llm.Llm
      )
      const base = options.helpdesk.url.replace(/\/$/, "")
      const decodeConversation = Schema.decodeUnknown(ConversationSummary)

      return Processor.Processor.of({
        process: Effect.fn("Tracking.extract")(function* (item, route) {
          const conversation = yield* decodeConversation(item.payload).pipe(
            Effect.mapError(
              (e) =>
                new Errors.Invalid({
                  reason: "Input",
                  message: `not a conversation: ${ParseResult.TreeFormatter.formatErrorSync(e).slice(0, 200)}`
                })
            )
          )
          const messages = yield* PagedHttp.fetchJson(
            client,
            `${base}/conversations/${encodeURIComponent(conversation.id)}/messages`,
            Messages,
            { name: "helpdesk", timeout: "10 seconds" }
          )
          const thread: Model.Thread = { conversation, messages: messages._results }
          return yield* extract.process({ ...item, payload: thread }, route)
        })
      })
    })
  )

/** The persist stage: the team's table, one row per tracking number, replaced per conversation. */
const persister = SqlTablePersister.layer({
  table: TABLE,
  keyColumn: "conversation_id",
  output: Model.Extraction,
  rows: (_item, output) => {
    const seen = new Set<string>()
    return output.tracking
      .filter((t) => !seen.has(t.number) && (seen.add(t.number), true))
      .map((t) => ({ carrier: t.carrier, number: t.number }))
  },
  setup: [
    `CREATE TABLE IF NOT EXISTS ${TABLE} (
       conversation_id TEXT NOT NULL,
       carrier TEXT NOT NULL,
       number TEXT NOT NULL,
       PRIMARY KEY (conversation_id, number)
     )`
  ]
})

/**
 * The model behind admission (its RPM and TPM), the circuit breaker, a budget (none), pricing and the
 * response cache in the store's file: the same governed Llm the CLI composes.
 */
const governedLlm = (options: TrackingOptions) => {
  const core = Layer.mergeAll(
    Admission.layer({ rpm: options.llm.rpm, tpm: options.llm.tpm }),
    CircuitBreaker.layer(),
    Budget.layer(),
    Pricing.layer()
  )
  // Built after the store, whose migrations make the cache table.
  const cache = Layer.unwrapEffect(Effect.as(Store.Store, ResponseCache.layerSqlite({ filename: options.database })))
  const upstream = OpenAi.layer({ baseUrl: options.llm.baseUrl, apiKey: options.llm.apiKey, timeoutMs: 30_000 })
  return LlmGoverned.layer().pipe(Layer.provide(cache), Layer.provide(upstream), Layer.provideMerge(core))
}

/**
 * Every stage, the store, the governed model, the HTTP client and the team's database.
 */
export const layer = (options: TrackingOptions) => {
  const results = SqliteClient.layer({ filename: options.results }).pipe(Layer.orDie)
  const stages = Layer.mergeAll(source(options), Classifier.layerAll, extraction(options), persister, Progress.layer)
  return stages.pipe(
    Layer.provide(NodeHttpClient.layerUndici),
    Layer.provideMerge(results),
    Layer.provideMerge(governedLlm(options)),
    Layer.provideMerge(SqliteStore.layer({ filename: options.database }))
  )
}

/**
 * Runs the extraction on whatever stages are provided, and reports from the store and the table.
 */
export const report = (options: Pick<TrackingOptions, "run" | "concurrency" | "attempt" | "helpdesk">) =>
  Effect.gen(function* () {
    const run = options.run ?? "tracking-extraction"
    const summary = yield* Pipeline.run({
      run,
      concurrency: options.concurrency ?? 20,
      attempt: options.attempt ?? attempt,
      config: { source: `${options.helpdesk.url}/conversations` }
    })
    if (summary.sourceError !== undefined) {
      yield* Effect.logWarning(`the helpdesk listing was not read to its end: ${summary.sourceError}`)
    }

    const store = yield* Store.Store
    const failed: Array<{ key: string; tag: string; message: string }> = []
    let withTracking = 0
    let afterSeq = -1
    while (true) {
      const page = yield* store.results(run, { afterSeq, limit: 500 })
      for (const r of page) {
        if (r.status === "failed") failed.push({ key: r.key, tag: r.errorTag ?? "", message: r.errorMessage ?? "" })
        if (r.status === "completed" && r.outputJson !== null) {
          const output = Schema.decodeUnknownOption(Schema.parseJson(Model.Extraction))(r.outputJson)
          if (output._tag === "Some" && output.value.tracking.length > 0) withTracking++
        }
      }
      if (page.length < 500) break
      afterSeq = page[page.length - 1]!.seq
    }

    const sql = yield* SqlClient.SqlClient
    const rows =
      yield* sql<TrackingRow>`SELECT conversation_id, carrier, number FROM ${sql(TABLE)} ORDER BY conversation_id, number`
    return {
      run,
      scanned: summary.counts.completed,
      withTracking,
      failed,
      rows,
      summary
    } satisfies TrackingReport
  })

/**
 * The case end to end: fails only when a store or the team's database cannot be written.
 */
export const run = (options: TrackingOptions): Effect.Effect<TrackingReport, Store.StoreError | SqlError.SqlError> =>
  report(options).pipe(Effect.provide(layer(options)))
