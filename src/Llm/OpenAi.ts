/**
 * The Llm port on the official `openai` SDK, for OpenAI and any OpenAI-compatible server (vLLM,
 * llama.cpp, the simulator).
 *
 * The SDK only carries bytes here: its retries are off because sluice's retries are typed and live
 * in the engine, and every way a call can fail is mapped to `RateLimited`, `Transient` or `Invalid`
 * so the policy, not this adapter, decides what happens next.
 *
 * @since 0.1.0
 */
import { Clock, Config, Duration, Effect, Layer, ParseResult, Redacted, Schema } from "effect"
import type { ConfigError } from "effect"
import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError, OpenAI } from "openai"
import type { ChatCompletionCreateParamsNonStreaming } from "openai/resources/chat/completions"
import { type Invalid, type RateLimited, Transient, UpstreamUnusable } from "../Domain/Errors.js"
import * as Upstream from "../Domain/Upstream.js"
import { type ChatRequest, type ChatResponse, Llm, parseAnswer, type TokenCounts } from "./Llm.js"
import { snapshot } from "./RateLimitHeaders.js"
import { promptTokens, textTokens } from "./TokenEstimate.js"
import * as UpstreamUrl from "./UpstreamUrl.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** An OpenAI-compatible endpoint including its version path, e.g. `http://127.0.0.1:8080/v1`. */
  readonly baseUrl: string
  /** Sent as `Authorization: Bearer …`; it never reaches a log, a span or an error message. */
  readonly apiKey: Redacted.Redacted<string>
  /** The whole call, from connect to the last byte of the body, in milliseconds. Default 60000. */
  readonly timeoutMs?: number | undefined
  /** Sent as `OpenAI-Organization` when set. */
  readonly organization?: string | undefined
}

/**
 * @since 0.1.0
 */
export const DEFAULT_TIMEOUT_MS = 60_000

/**
 * What a 429 that names no wait is taken to ask for (the one rule, `Domain/Upstream.ts`).
 *
 * @since 0.1.0
 */
export const DEFAULT_RETRY_AFTER_MS = Upstream.DEFAULT_RETRY_AFTER_MS

// Upstream messages can be whole HTML error pages from a proxy; an error message stays one short line.
const MAX_MESSAGE = 300

/** Connection failures that mean nothing listens there (as opposed to a connection cut short). */
const NO_ROUTE = /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN|Connect Timeout|bad port/i

/** An upstream never answered that refused this many calls over this long is given up on. */
const GIVE_UP_CALLS = 3
const GIVE_UP_MS = 2_000

type UpstreamError = RateLimited | Transient | Invalid | UpstreamUnusable

// Lenient on purpose: compatible servers omit `model` or `usage`, and a malformed `usage` should not
// cost an answer that is otherwise fine (it is estimated instead).
const Completion = Schema.Struct({
  model: Schema.optional(Schema.String),
  choices: Schema.NonEmptyArray(
    Schema.Struct({
      message: Schema.Struct({ content: Schema.optional(Schema.NullOr(Schema.String)) }),
      finish_reason: Schema.optional(Schema.NullOr(Schema.String))
    })
  ),
  usage: Schema.optional(Schema.Unknown)
})
const decodeCompletion = Schema.decodeUnknownEither(Completion)

const UpstreamUsage = Schema.Struct({
  prompt_tokens: Schema.Number,
  completion_tokens: Schema.Number,
  total_tokens: Schema.optional(Schema.Number)
})
const decodeUsage = Schema.decodeUnknownOption(UpstreamUsage)

/**
 * The SDK keeps only the `error` field of an error body, so servers that answer
 * `{"object":"error","message":…}` (older vLLM) would surface as "status code (no body)". Handing it
 * the whole body when there is no `error` field keeps their message.
 */
class Client extends OpenAI {
  protected override makeStatusError(
    status: number,
    error: object,
    message: string | undefined,
    headers: Headers
  ): APIError {
    const body: unknown = error
    const wrapped = typeof body === "object" && body !== null && !("error" in body) ? { error: body } : error
    return super.makeStatusError(status, wrapped, message, headers)
  }
}

/**
 * The Llm service on an OpenAI-compatible endpoint.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Llm["Type"] => {
  const timeoutMs = Math.max(1, Math.ceil(options.timeoutMs ?? DEFAULT_TIMEOUT_MS))
  // The one place the key is unwrapped: the client needs it, and the scrubber must know what to hide.
  const key = Redacted.value(options.apiKey)
  const client = new Client({
    baseURL: options.baseUrl,
    apiKey: key,
    // Explicit nulls stop the SDK from reading OPENAI_ORG_ID / OPENAI_PROJECT_ID behind Config's back.
    organization: options.organization ?? null,
    project: null,
    webhookSecret: null,
    maxRetries: 0,
    timeout: timeoutMs,
    // OPENAI_LOG=debug would print request and response details outside our logger.
    logLevel: "off"
  })
  const scrub = (text: string): string => (key.length > 0 ? text.replaceAll(key, "<redacted>") : text)
  const oneLine = (text: string): string => {
    const line = UpstreamUrl.scrub(scrub(text)).replace(/\s+/g, " ").trim()
    return line.length > MAX_MESSAGE ? `${line.slice(0, MAX_MESSAGE)}…` : line
  }
  const timedOut = () => new Transient({ reason: "Timeout", message: `Request timed out after ${timeoutMs} ms` })
  // Whether any call got an HTTP answer (even an error status): until one does, a connection that
  // fails may be a wrong URL or a server that is not up, and the engine stops rather than fail items.
  let answered = false
  let refused = 0
  let firstRefusedAt: number | undefined
  const shownUrl = UpstreamUrl.redact(options.baseUrl)
  const toError = (cause: unknown): Effect.Effect<never, UpstreamError> => {
    if (cause instanceof APIError && cause.status !== undefined) answered = true
    const error = toUpstreamError(cause, oneLine, timedOut)
    // Only local bugs (e.g. an option the SDK rejects) reach here; no retry can fix them.
    if (error === undefined) return Effect.die(new Error(oneLine(String(cause))))
    if (error._tag === "Transient" && error.reason === "Connection" && !answered && NO_ROUTE.test(error.message)) {
      // undici refuses some ports outright ("bad port"): no retry can reach them.
      if (/\bbad port\b/i.test(error.message)) {
        return Effect.fail(
          new UpstreamUnusable({
            reason: "Unreachable",
            message: `upstream ${shownUrl} unreachable: ${error.message}`,
            cause: error.cause
          })
        )
      }
      const message = `upstream ${shownUrl} unreachable: ${error.message}`
      return Effect.flatMap(Clock.currentTimeMillis, (now): Effect.Effect<never, UpstreamError> => {
        firstRefusedAt ??= now
        refused++
        // Several calls over a couple of seconds all found nothing there: stop now rather than when
        // every item in flight has spent its attempts (slowly, with admission still learning the rate).
        return refused >= GIVE_UP_CALLS && now - firstRefusedAt >= GIVE_UP_MS
          ? Effect.fail(new UpstreamUnusable({ reason: "Unreachable", message, cause: error.cause }))
          : Effect.fail(new Transient({ ...error, neverAnswered: true, message, cause: error.cause }))
      })
    }
    return Effect.fail(error)
  }

  const complete = Effect.fn(
    function* (request: ChatRequest) {
      const body: ChatCompletionCreateParamsNonStreaming = {
        model: request.model,
        messages: request.messages.map((m) => ({ role: m.role, content: m.content })),
        ...(request.maxTokens !== undefined ? { max_tokens: request.maxTokens } : {}),
        ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
        ...(request.json === true ? { response_format: { type: "json_object" as const } } : {})
      }
      const { data, response } = yield* Effect.tryPromise({
        try: (signal) => client.chat.completions.create(body, { signal, timeout: timeoutMs }).withResponse(),
        catch: (cause) => cause
      }).pipe(Effect.catchAll(toError))
      answered = true
      const headers: Upstream.HeaderGetter = (name) => response.headers.get(name)
      // Without a Content-Type of JSON the SDK hands back the body as a string instead of failing.
      const completion = decodeCompletion(data)
      if (completion._tag === "Left") {
        return yield* new Transient({
          reason: "Decode",
          status: response.status,
          message: oneLine(`${response.status} body is not a chat completion: ${describeDecode(data, completion.left)}`)
        })
      }
      const content = completion.right.choices[0].message.content ?? ""
      const finishReason = completion.right.choices[0].finish_reason ?? undefined
      const usage = readUsage(completion.right.usage, request, content)
      const model = completion.right.model ?? request.model
      yield* Effect.annotateCurrentSpan({
        "gen_ai.response.model": model,
        "gen_ai.usage.input_tokens": usage.promptTokens,
        "gen_ai.usage.output_tokens": usage.completionTokens
      })
      const rateLimit = snapshot(headers)
      const result: ChatResponse = {
        content,
        output: parseAnswer(content),
        usage,
        model,
        ...(finishReason !== undefined ? { finishReason } : {}),
        ...(rateLimit !== undefined ? { rateLimit } : {}),
        cached: false
      }
      return result
    },
    // The SDK's timeout stops at the response headers; a body that stalls after them would hang without this.
    (effect) => Effect.timeoutFail(effect, { duration: Duration.millis(timeoutMs), onTimeout: timedOut }),
    (effect) =>
      Effect.tapError(effect, (error) =>
        Effect.annotateCurrentSpan({
          "error.type": "reason" in error ? `${error._tag}.${error.reason}` : error._tag,
          ...("status" in error && error.status !== undefined ? { "http.response.status_code": error.status } : {})
        })
      ),
    (effect, request) =>
      Effect.withSpan(effect, `chat ${request.model}`, {
        kind: "client",
        attributes: {
          "gen_ai.operation.name": "chat",
          "gen_ai.system": "openai",
          "gen_ai.request.model": request.model,
          ...(request.maxTokens !== undefined ? { "gen_ai.request.max_tokens": request.maxTokens } : {}),
          ...(request.temperature !== undefined ? { "gen_ai.request.temperature": request.temperature } : {})
        }
      })
  )

  return Llm.of({ complete })
}

const readUsage = (raw: unknown, request: ChatRequest, content: string): TokenCounts => {
  const upstream = decodeUsage(raw)
  if (upstream._tag === "Some") {
    const { completion_tokens, prompt_tokens, total_tokens } = upstream.value
    return {
      promptTokens: prompt_tokens,
      completionTokens: completion_tokens,
      totalTokens: total_tokens ?? prompt_tokens + completion_tokens
    }
  }
  // Admission settles its reservation against usage, so an estimate beats zero.
  const prompt = promptTokens(request.messages)
  const completion = textTokens(content)
  return { promptTokens: prompt, completionTokens: completion, totalTokens: prompt + completion }
}

const describeDecode = (data: unknown, error: ParseResult.ParseError): string => {
  if (typeof data === "string") return `not JSON: ${JSON.stringify(data.slice(0, 80))}`
  if (data === undefined || data === null) return "empty body"
  const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
  return issue === undefined ? "unexpected shape" : `${issue.path.join(".") || "body"}: ${issue.message}`
}

/** The innermost useful line of a network error: undici wraps "connect ECONNREFUSED …" in "fetch failed". */
const rootMessage = (error: unknown): string => {
  let message = ""
  let current: unknown = error
  for (let depth = 0; depth < 8 && current instanceof Error; depth++) {
    if (current.message.length > 0) message = current.message
    else if (current instanceof AggregateError && current.errors[0] instanceof Error)
      message = current.errors[0].message
    else if ("code" in current && typeof current.code === "string") message = current.code
    current = current.cause
  }
  return message.length > 0 ? message : "Connection error"
}

/**
 * The client's error as a cause safe to log and trace: names and messages only, each through `oneLine`
 * (which hides the key and URL credentials), its own causes kept the same way a few levels deep. The
 * SDK's error objects also hold the request's headers, which carry the key: they are not kept.
 */
const safeCause = (cause: unknown, oneLine: (text: string) => string, depth = 0): Error | undefined => {
  if (!(cause instanceof Error)) return undefined
  const inner = depth < 4 ? safeCause(cause.cause, oneLine, depth + 1) : undefined
  const safe = new Error(oneLine(cause.message), inner === undefined ? undefined : { cause: inner })
  safe.name = cause.name
  return safe
}

const toUpstreamError = (
  cause: unknown,
  oneLine: (text: string) => string,
  timedOut: () => Transient
): UpstreamError | undefined => {
  // Order matters: the timeout and abort errors are subclasses of APIConnectionError / APIError.
  if (cause instanceof APIConnectionTimeoutError)
    return new Transient({ reason: "Timeout", message: timedOut().message, cause: safeCause(cause, oneLine) })
  if (cause instanceof APIUserAbortError) {
    return new Transient({ reason: "Connection", message: "Request was aborted", cause: safeCause(cause, oneLine) })
  }
  if (cause instanceof APIConnectionError) {
    return new Transient({
      reason: "Connection",
      message: oneLine(rootMessage(cause)),
      cause: safeCause(cause, oneLine)
    })
  }
  if (cause instanceof APIError && cause.status !== undefined) {
    return fromStatus(cause.status, cause.headers, oneLine(cause.message), safeCause(cause, oneLine))
  }
  // `withResponse()` parses a JSON-typed body with `response.json()`, which throws a bare SyntaxError.
  if (cause instanceof SyntaxError) {
    return new Transient({
      reason: "Decode",
      status: 200,
      message: oneLine(`200 body is not JSON: ${cause.message}`),
      cause: safeCause(cause, oneLine)
    })
  }
  // undici fails a body read cut short with TypeError("terminated"), caused by "other side closed".
  if (cause instanceof TypeError || (cause instanceof Error && cause.name === "AbortError")) {
    return new Transient({
      reason: "Connection",
      message: oneLine(rootMessage(cause)),
      cause: safeCause(cause, oneLine)
    })
  }
  return undefined
}

const fromStatus = (status: number, headers: Headers | undefined, message: string, cause: unknown): UpstreamError => {
  const get: Upstream.HeaderGetter = (name) => headers?.get(name)
  return Upstream.fromStatus(status, get, message, {
    rateLimit: status === 429 ? snapshot(get) : undefined,
    unauthorized: (status) => `the upstream rejected the API key (${status}); set OPENAI_API_KEY to a key it accepts`,
    cause
  })
}

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<Llm> => Layer.sync(Llm, () => make(options))

/**
 * Reads `OPENAI_BASE_URL`, `OPENAI_API_KEY`, `OPENAI_ORG_ID` and `SLUICE_LLM_TIMEOUT_MS`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: Layer.Layer<Llm, ConfigError.ConfigError> = Layer.effect(
  Llm,
  Effect.gen(function* () {
    const baseUrl = yield* Config.string("OPENAI_BASE_URL").pipe(
      Config.withDefault("https://api.openai.com/v1"),
      Config.withDescription("An OpenAI-compatible endpoint including its version path, e.g. http://127.0.0.1:8080/v1")
    )
    const apiKey = yield* Config.redacted("OPENAI_API_KEY").pipe(
      // A local simulator or vLLM needs no key; OpenAI itself answers a wrong one with a typed 401.
      Config.withDefault(Redacted.make("sk-none")),
      Config.withDescription("The API key, sent as a Bearer token")
    )
    const organization = yield* Config.string("OPENAI_ORG_ID").pipe(
      Config.option,
      Config.withDescription("The OpenAI organization to bill, when the key belongs to several")
    )
    const timeoutMs = yield* Config.integer("SLUICE_LLM_TIMEOUT_MS").pipe(
      Config.withDefault(DEFAULT_TIMEOUT_MS),
      Config.validate({ message: "must be a positive number of milliseconds", validation: (n) => n > 0 }),
      Config.withDescription("Timeout of one LLM call, from connect to the last byte, in milliseconds")
    )
    return make({
      baseUrl,
      apiKey,
      timeoutMs,
      ...(organization._tag === "Some" ? { organization: organization.value } : {})
    })
  })
)
