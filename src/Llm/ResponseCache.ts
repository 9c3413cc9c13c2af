/**
 * The response cache: content-addressed LLM answers, so a rerun of the same input costs nothing.
 *
 * The key is `hashRequest`: SHA-256 over the canonical JSON of everything that shapes the answer
 * (model, messages, max tokens, temperature, JSON mode). A cache that cannot be read or written is a
 * miss, never a failed item: the answer can always be asked for again.
 *
 * @since 0.1.0
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import { SqlClient } from "@effect/sql"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { Clock, Context, Effect, Layer, Option, Schedule, Schema } from "effect"
import { createHash } from "node:crypto"
import { type ChatRequest, type ChatResponse, parseAnswer } from "./Llm.js"

/**
 * What is kept of an answer. `cached` and the rate-limit headers belong to the call, not the answer.
 *
 * @since 0.1.0
 */
export type CachedResponse = Pick<ChatResponse, "content" | "output" | "usage" | "model">

/**
 * @since 0.1.0
 * @category tags
 */
export class ResponseCache extends Context.Tag("sluice/Llm/ResponseCache")<
  ResponseCache,
  {
    readonly get: (hash: string) => Effect.Effect<Option.Option<CachedResponse>>
    readonly put: (hash: string, response: CachedResponse) => Effect.Effect<void>
  }
>() {}

/** Bumped when the key's material changes, so old entries are simply never hit again. */
const KEY_VERSION = 1

/** JSON with object keys sorted at every depth and `undefined` fields dropped: one text per value. */
const canonical = (value: unknown): string => {
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? "null" : canonical(v))).join(",")}]`
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`
  }
  return JSON.stringify(value)
}

/**
 * The cache key of a request: hex SHA-256 over the canonical JSON of the model, the messages (role
 * and content) and the parameters (max tokens, temperature, JSON mode). An unset parameter and one
 * set to the upstream's default are different keys on purpose: the request sent differs.
 *
 * @since 0.1.0
 */
export const hashRequest = (request: ChatRequest): string =>
  createHash("sha256")
    .update(
      canonical({
        v: KEY_VERSION,
        model: request.model,
        messages: request.messages.map((m) => ({ role: m.role, content: m.content })),
        maxTokens: request.maxTokens ?? null,
        temperature: request.temperature ?? null,
        json: request.json === true
      })
    )
    .digest("hex")

// Stored: the text and what it cost. `output` is derived from the text again when read.
const Stored = Schema.parseJson(
  Schema.Struct({
    content: Schema.String,
    model: Schema.String,
    usage: Schema.Struct({ promptTokens: Schema.Number, completionTokens: Schema.Number, totalTokens: Schema.Number })
  })
)
const decodeStored = Schema.decodeUnknownOption(Stored)
const encodeStored = Schema.encodeSync(Stored)

/**
 * An in-memory cache holding at most `maxEntries` answers (the oldest written goes first).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory = (
  options: { readonly maxEntries?: number | undefined } = {}
): Effect.Effect<ResponseCache["Type"]> =>
  Effect.sync(() => {
    const maxEntries = Math.max(1, Math.floor(options.maxEntries ?? 10_000))
    const entries = new Map<string, CachedResponse>()
    return ResponseCache.of({
      get: (hash) => Effect.sync(() => Option.fromNullable(entries.get(hash))),
      put: (hash, response) =>
        Effect.sync(() => {
          entries.delete(hash)
          entries.set(hash, {
            content: response.content,
            output: response.output,
            usage: response.usage,
            model: response.model
          })
          if (entries.size > maxEntries) {
            const oldest = entries.keys().next()
            if (oldest.done !== true) entries.delete(oldest.value)
          }
        })
    })
  })

/**
 * In memory, for tests and one-off runs: at most 10,000 answers.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<ResponseCache> = Layer.effect(ResponseCache, makeMemory())

// A write that meets a lock retries off the event loop (see `layerSqlite`); after that it is dropped.
const writeRetry = Schedule.spaced("25 millis").pipe(Schedule.intersect(Schedule.recurs(40)))

/**
 * On the `response_cache` table of any `@effect/sql` client. It does not create the table: the
 * store's migrations own the schema.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeSql: Effect.Effect<ResponseCache["Type"], never, SqlClient.SqlClient> = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const get = (hash: string) =>
    sql<{ readonly response: string }>`SELECT response FROM response_cache WHERE hash = ${hash}`.pipe(
      Effect.map((rows) => {
        const stored = rows[0] === undefined ? Option.none() : decodeStored(rows[0].response)
        return Option.map(stored, (s): CachedResponse => ({ ...s, output: parseAnswer(s.content) }))
      }),
      Effect.catchAll((error) =>
        Effect.as(Effect.logWarning(`response cache: read failed, treated as a miss: ${error.message}`), Option.none())
      )
    )
  const put = (hash: string, response: CachedResponse) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const text = encodeStored({ content: response.content, model: response.model, usage: response.usage })
      yield* sql`INSERT INTO response_cache (hash, response, created_at) VALUES (${hash}, ${text}, ${now})
        ON CONFLICT (hash) DO UPDATE SET response = excluded.response, created_at = excluded.created_at`
    }).pipe(
      Effect.retry(writeRetry),
      Effect.catchAll((error) => Effect.logWarning(`response cache: write dropped: ${error.message}`))
    )
  return ResponseCache.of({ get, put })
})

/**
 * @since 0.1.0
 * @category layers
 */
export const layerSql: Layer.Layer<ResponseCache, never, SqlClient.SqlClient> = Layer.effect(ResponseCache, makeSql)

/**
 * @since 0.1.0
 * @category models
 */
export interface SqliteOptions {
  /** The sluice SQLite store file. */
  readonly filename: string
  /**
   * How long one statement may block waiting for a lock, in milliseconds. Default 0, on purpose:
   * better-sqlite3 waits synchronously, on the event loop, so in this process the store's open
   * transaction could never finish while we wait for it. A busy write is retried asynchronously
   * instead (about a second in all), then dropped.
   */
  readonly busyTimeoutMs?: number | undefined
}

/** How long to wait for the store to create the table when both layers are built at once. */
const tableWait = Schedule.spaced("50 millis").pipe(Schedule.intersect(Schedule.recurs(100)))

/**
 * The cache in the sluice SQLite store file, on a connection of its own (WAL lets readers and one
 * writer share the file).
 *
 * Ordering: the table belongs to the store's migrations, so build this layer AFTER the store (e.g.
 * `Layer.provideMerge(ResponseCache.layerSqlite({ filename }), SqliteStore.layer({ filename }))`).
 * It waits up to about five seconds for the table, so a parallel build also works, then dies saying
 * so. It never creates the table itself: on a fresh file that would make the store's preflight call
 * the file foreign and its migration fail on the existing table.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSqlite = (options: SqliteOptions): Layer.Layer<ResponseCache> =>
  Layer.scoped(
    ResponseCache,
    Effect.gen(function* () {
      const sql = yield* SqliteClient.make({ filename: options.filename }).pipe(Effect.provide(Reactivity.layer))
      yield* sql.unsafe(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 0))}`)
      yield* sql<{
        readonly name: string
      }>`SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'response_cache'`.pipe(
        Effect.filterOrFail(
          (rows) => rows.length > 0,
          () => new Error(`${options.filename} has no response_cache table: open the sluice store on it first`)
        ),
        Effect.retry(tableWait)
      )
      return yield* makeSql.pipe(Effect.provideService(SqlClient.SqlClient, sql))
    }).pipe(Effect.orDie)
  )
