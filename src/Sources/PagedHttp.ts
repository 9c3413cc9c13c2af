/**
 * A cursor-paginated JSON HTTP API as a source (a helpdesk's conversations, a CRM's tickets), on
 * `@effect/platform`'s `HttpClient`. Pages are read one at a time as the pipeline pulls: a listing of
 * any length is never held in memory, and a page is asked for only once the previous one is handed on.
 *
 * Page failures are typed, and the source rides them out itself, because a source that stops stops
 * the whole listing (the engine's per-item retries do not apply before an item exists):
 * - 429 → `RateLimited`: wait the `retry-after-ms` / `Retry-After` it names (1 s when none), spend no
 *   retry, up to `maxRateLimitWaits` waits in a row;
 * - 408, 409, 5xx, a dropped connection, a timeout, a body that is not JSON → `Transient`: retried with
 *   the `retry` Schedule (never sooner than a `Retry-After` the upstream sent);
 * - 401, 403 → `UpstreamUnusable`: the credentials were refused, the listing stops there;
 * - any other 4xx, a page that does not match its Schema, a cursor seen twice → `Invalid`: the listing
 *   stops there, and the run reports it as its source error.
 * The status mapping is the one every HTTP adapter shares (`Domain/Upstream.ts`, which says why 409 is retried).
 * An item that does not match its Schema does not stop the listing: it becomes a `Malformed` record,
 * so it ends `Failed` with its position instead of vanishing.
 *
 * Where a per-item sub-fetch belongs (a conversation's messages, a ticket's comments): the source runs
 * before the store can tell which keys are already done, and a live source (`Fetcher.live`) is listed
 * again on every session. A sub-fetch here (`expand`) would therefore be made again for every item on
 * every rerun, done or not. That is fine for a listing read once, or when the sub-resource is what
 * decides the key; when a rerun must make no upstream call for items already done, fetch the
 * sub-resource in the process stage instead, with `fetchJson` and the same error mapping: the engine
 * then calls it only for items that still need processing, and retries it under its own policy.
 *
 * Authentication and other headers: provide an `HttpClient` that adds them, e.g.
 * `HttpClient.mapRequest(HttpClientRequest.bearerToken(Redacted.value(token)))`.
 *
 * @since 0.1.0
 */
// Deep imports: the @effect/platform barrel also loads the Swagger and Scalar UIs (megabytes).
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { Chunk, Duration, Effect, Layer, Option, ParseResult, Schedule, Schema, Stream } from "effect"
import { Invalid, type StageError, Transient } from "../Domain/Errors.js"
import * as Upstream from "../Domain/Upstream.js"
import { SourceRecord } from "../Domain/Item.js"
import { Fetcher, noAck } from "../Stages/Fetcher.js"
import { keyOf, positionKey } from "./Key.js"

/**
 * A page or sub-resource request: a URL, or a request built with `HttpClientRequest`.
 *
 * @since 0.1.0
 * @category models
 */
export type RequestInput = string | HttpClientRequest.HttpClientRequest

/**
 * Fetches one JSON resource with the source's retries (429 waits, transient retries) and decodes it.
 *
 * @since 0.1.0
 * @category models
 */
export type Fetch = <A, I>(request: RequestInput, schema: Schema.Schema<A, I>) => Effect.Effect<A, StageError>

/**
 * @since 0.1.0
 * @category models
 */
export interface PagedHttpOptions<Page, A> {
  /**
   * The page request. A URL is the first page; the next ones set the cursor as the query parameter
   * `cursorParam`, or follow the cursor itself when it is an absolute URL (APIs that hand out a
   * `next` link). A function gets the cursor (`undefined` for the first page) and builds the request.
   */
  readonly request: string | ((cursor: string | undefined) => RequestInput)
  /** The query parameter that carries the cursor when `request` is a URL. Default "cursor". */
  readonly cursorParam?: string | undefined
  /** One page as the API sends it. A page that does not decode stops the listing as `Invalid`. */
  readonly page: Schema.Schema<Page, any>
  /** The page's items, as sent (each is decoded with `item`). */
  readonly items: (page: Page) => ReadonlyArray<unknown>
  /** The cursor of the next page; `null`, `undefined` or "" when this page is the last. */
  readonly next: (page: Page) => string | null | undefined
  /** One item. An item that does not decode becomes a `Malformed` record, keyed by its `id` if it has one. */
  readonly item: Schema.Schema<A, any>
  /** The item's key: unique and stable, so a rerun recognises the items it has already done. */
  readonly key: (item: A) => string
  /**
   * The item's payload, stored as JSON and handed to the stages. Default: the item as the API sent it.
   */
  readonly payload?: ((item: A, raw: unknown) => unknown) | undefined
  /**
   * A per-item sub-fetch whose result becomes the payload. It runs for every listed item on every
   * listing, including items a rerun will skip: see the module comment before using it.
   */
  readonly expand?: ((item: A, fetch: Fetch) => Effect.Effect<unknown, StageError>) | undefined
  /** Sub-fetches in flight at once (the items keep their order). Default 4. */
  readonly expandConcurrency?: number | undefined
  /** The retry Schedule for `Transient` failures. Default: exponential from 200 ms, jittered, 5 retries. */
  readonly retry?: Schedule.Schedule<unknown, unknown> | undefined
  /** 429 waits in a row before a request fails as `RateLimited`. Default 10. */
  readonly maxRateLimitWaits?: number | undefined
  /** One request, body included; longer fails as `Transient` (reason "Timeout"). Default 30 seconds. */
  readonly timeout?: Duration.DurationInput | undefined
  /** Names the upstream in error messages. Default "upstream". */
  readonly name?: string | undefined
}

/**
 * The default retry for transient page failures.
 *
 * @since 0.1.0
 */
export const defaultRetry: Schedule.Schedule<unknown, unknown> = Schedule.exponential("200 millis", 2).pipe(
  Schedule.jittered,
  Schedule.intersect(Schedule.recurs(5))
)

const MAX_MESSAGE = 200

/**
 * `retry-after-ms`, else `Retry-After` as seconds or an HTTP date; undefined when neither is usable.
 * The one reading (`Domain/Upstream.ts`), over a plain record of headers.
 *
 * @since 0.1.0
 */
export const retryAfterMs = (
  headers: Readonly<Record<string, string | undefined>>,
  now: number = Date.now()
): number | undefined => Upstream.retryAfterMs(Upstream.fromRecord(headers), now)

const excerpt = (body: string): string => body.replace(/\s+/g, " ").trim().slice(0, MAX_MESSAGE) || "(no body)"

/**
 * What an HTTP status means for sluice: the one mapping every HTTP adapter shares (`Domain/Upstream.ts`:
 * 429 → `RateLimited`, 401/403 → `UpstreamUnusable`, 408/409/5xx → `Transient`, any other → `Invalid`).
 *
 * @since 0.1.0
 */
export const fromStatus = (
  status: number,
  headers: Readonly<Record<string, string | undefined>>,
  message: string,
  name?: string
): StageError => Upstream.fromStatus(status, Upstream.fromRecord(headers), message, { name })

const fromHttpError = (name: string, e: HttpClientError.HttpClientError): StageError =>
  e._tag === "RequestError"
    ? e.reason === "Transport"
      ? new Transient({ reason: "Connection", message: `${name} unreachable: ${e.message}`, cause: e.cause })
      : new Invalid({ reason: "Input", message: `${name} request not sent: ${e.message}`, cause: e.cause })
    : new Transient({
        reason: "Decode",
        status: e.response.status,
        message: `${name} response unreadable: ${e.message}`,
        // The underlying error, not the HttpClientError: that one holds the request and its headers
        // (an Authorization header among them).
        cause: e.cause
      })

const toRequest = (input: RequestInput): Effect.Effect<HttpClientRequest.HttpClientRequest, Invalid> =>
  typeof input === "string"
    ? Effect.try({
        try: () => HttpClientRequest.get(new URL(input)),
        catch: () => new Invalid({ reason: "Input", message: `not a URL: ${input.slice(0, MAX_MESSAGE)}` })
      })
    : Effect.succeed(input)

const describe = (request: HttpClientRequest.HttpClientRequest): string => {
  const url = HttpClientRequest.toUrl(request)
  return `${request.method} ${Option.isSome(url) ? `${url.value.pathname}${url.value.search}` : request.url}`
}

/**
 * One request, one attempt: sends it, maps every failure to a `StageError`, parses the body as JSON
 * and decodes it. A body that does not match the Schema is `Invalid` (another try would get the same
 * body); a body that is not JSON at all is `Transient` (a proxy's error page, a cut connection).
 *
 * @since 0.1.0
 */
export const fetchJson = <A, I>(
  client: HttpClient.HttpClient,
  input: RequestInput,
  schema: Schema.Schema<A, I>,
  options: { readonly timeout?: Duration.DurationInput | undefined; readonly name?: string | undefined } = {}
): Effect.Effect<A, StageError> => {
  const name = options.name ?? "upstream"
  const timeout = Duration.decode(options.timeout ?? "30 seconds")
  const decode = Schema.decodeUnknown(schema)
  return Effect.gen(function* () {
    const request = HttpClientRequest.acceptJson(yield* toRequest(input))
    const what = describe(request)
    const response: HttpClientResponse.HttpClientResponse = yield* client.execute(request)
    const body = yield* response.text
    if (response.status < 200 || response.status >= 300) {
      return yield* Effect.fail(
        fromStatus(
          response.status,
          response.headers,
          `${name} answered ${response.status} to ${what}: ${excerpt(body)}`,
          name
        )
      )
    }
    const json = yield* Effect.try({
      try: (): unknown => JSON.parse(body),
      catch: (cause) =>
        new Transient({
          reason: "Decode",
          status: response.status,
          message: `${name} answered ${what} with a body that is not JSON: ${excerpt(body)}`,
          cause
        })
    })
    return yield* decode(json).pipe(
      Effect.mapError(
        (e) =>
          new Invalid({
            reason: "Input",
            status: response.status,
            message: `${name} answered ${what} off-schema: ${ParseResult.TreeFormatter.formatErrorSync(e).replace(/\s+/g, " ").slice(0, MAX_MESSAGE)}`,
            cause: e
          })
      )
    )
  }).pipe(
    Effect.catchTags({
      RequestError: (e) => Effect.fail(fromHttpError(name, e)),
      ResponseError: (e) => Effect.fail(fromHttpError(name, e))
    }),
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () =>
        new Transient({ reason: "Timeout", message: `${name} did not answer within ${Duration.format(timeout)}` })
    })
  )
}

/**
 * Rides out 429s (waiting what the upstream asked) and transient failures (by `retry`, never sooner
 * than a `Retry-After`); `Invalid` and exhausted retries fail.
 *
 * @since 0.1.0
 */
export const withRetries =
  (options: {
    readonly retry?: Schedule.Schedule<unknown, unknown> | undefined
    readonly maxRateLimitWaits?: number | undefined
  }) =>
  <A, R>(effect: Effect.Effect<A, StageError, R>): Effect.Effect<A, StageError, R> => {
    const rateLimitWaits = Schedule.identity<StageError>().pipe(
      Schedule.addDelay((e) => Duration.millis(e._tag === "RateLimited" ? e.retryAfterMs : 0)),
      Schedule.intersect(Schedule.recurs(Math.max(0, options.maxRateLimitWaits ?? 10)))
    )
    const transient = (options.retry ?? defaultRetry).pipe(
      Schedule.intersect(Schedule.identity<StageError>()),
      Schedule.modifyDelay(([, e], delay) =>
        e._tag === "Transient" && e.retryAfterMs !== undefined
          ? Duration.max(delay, Duration.millis(e.retryAfterMs))
          : delay
      )
    )
    return effect.pipe(
      Effect.retry({ schedule: rateLimitWaits, while: (e) => e._tag === "RateLimited" }),
      Effect.retry({ schedule: transient, while: (e) => e._tag === "Transient" })
    )
  }

/** A listed item still waiting for its sub-fetch. */
interface Expand<A> {
  readonly _tag: "Expand"
  readonly item: A
  readonly key: string
  readonly line: number
}

interface Cursor {
  readonly cursor: string | undefined
  /** Items listed before this page, for the positions of malformed items. */
  readonly listed: number
}

const isAbsoluteUrl = (s: string) => /^https?:\/\//i.test(s)

/**
 * The source's records, page by page: one page request in flight at a time, made when the
 * consumer pulls past the previous page.
 *
 * @since 0.1.0
 */
export const records = <Page, A>(
  options: PagedHttpOptions<Page, A>
): Stream.Stream<SourceRecord, StageError, HttpClient.HttpClient> =>
  Stream.unwrap(
    Effect.map(HttpClient.HttpClient, (client) => {
      const name = options.name ?? "upstream"
      const retried = withRetries(options)
      const fetch: Fetch = (input, schema) =>
        retried(fetchJson(client, input, schema, { timeout: options.timeout, name }))
      const cursorParam = options.cursorParam ?? "cursor"
      const requestFor = (cursor: string | undefined): Effect.Effect<RequestInput, Invalid> => {
        const r = options.request
        if (typeof r === "function") return Effect.sync(() => r(cursor))
        if (cursor === undefined) return Effect.succeed(r)
        if (isAbsoluteUrl(cursor)) return Effect.succeed(cursor)
        return Effect.map(toRequest(r), HttpClientRequest.setUrlParam(cursorParam, cursor))
      }
      const decodeItem = Schema.decodeUnknownEither(options.item)
      const payloadOf = options.payload ?? ((_: A, raw: unknown) => raw)
      // Cursors already followed: an API that hands one out again would page forever.
      const followed = new Set<string>()

      const page = ({ cursor, listed }: Cursor) =>
        Effect.gen(function* () {
          const body = yield* fetch(yield* requestFor(cursor), options.page)
          const raw = options.items(body)
          const out: Array<SourceRecord | Expand<A>> = []
          raw.forEach((r, i) => {
            const line = listed + i + 1
            const decoded = decodeItem(r)
            if (decoded._tag === "Left") {
              const message = ParseResult.TreeFormatter.formatErrorSync(decoded.left).replace(/\s+/g, " ")
              out.push(
                SourceRecord.malformed(
                  keyOf(r, positionKey(line)),
                  line,
                  `item ${line} does not match its schema: ${message.slice(0, MAX_MESSAGE)}`
                )
              )
            } else if (options.expand !== undefined) {
              out.push({ _tag: "Expand", item: decoded.right, key: options.key(decoded.right), line })
            } else {
              out.push(SourceRecord.record(options.key(decoded.right), payloadOf(decoded.right, r), undefined, line))
            }
          })
          const next = options.next(body)
          let nextState: Option.Option<Cursor> = Option.none()
          if (next !== null && next !== undefined && next !== "") {
            if (followed.has(next) || next === cursor) {
              return yield* new Invalid({
                reason: "Input",
                message: `${name} handed out the cursor ${next.slice(0, MAX_MESSAGE)} twice; the listing stops rather than loop`
              })
            }
            followed.add(next)
            nextState = Option.some({ cursor: next, listed: listed + raw.length })
          }
          return [Chunk.unsafeFromArray(out), nextState] as const
        })

      const listed = Stream.paginateChunkEffect<Cursor, SourceRecord | Expand<A>, StageError, never>(
        { cursor: undefined, listed: 0 },
        page
      )
      const expand = options.expand
      if (expand === undefined) return listed as Stream.Stream<SourceRecord, StageError>
      return listed.pipe(
        Stream.mapEffect(
          (r): Effect.Effect<SourceRecord, StageError> =>
            r._tag === "Expand"
              ? Effect.map(expand(r.item, fetch), (payload) => SourceRecord.record(r.key, payload, undefined, r.line))
              : Effect.succeed(r),
          { concurrency: Math.max(1, options.expandConcurrency ?? 4) }
        )
      )
    })
  )

/**
 * The fetch stage over the API. It is live: a resumed run lists the API again, records only keys it
 * has not seen, and leaves done items alone. Nothing is acknowledged (an HTTP listing has no "read" mark).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <Page, A>(
  options: PagedHttpOptions<Page, A>
): Effect.Effect<Fetcher["Type"], never, HttpClient.HttpClient> =>
  Effect.map(HttpClient.HttpClient, (client) =>
    Fetcher.of({
      records: records(options).pipe(Stream.provideService(HttpClient.HttpClient, client)),
      ack: noAck,
      live: true
    })
  )

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = <Page, A>(
  options: PagedHttpOptions<Page, A>
): Layer.Layer<Fetcher, never, HttpClient.HttpClient> => Layer.effect(Fetcher, make(options))
