import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Fiber, Layer, Redacted, Tracer } from "effect"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import type { StageError } from "../../src/Domain/Errors.js"
import { type ChatRequest, Llm } from "../../src/Llm/Llm.js"
import * as OpenAi from "../../src/Llm/OpenAi.js"
import { promptTokens, textTokens } from "../../src/Llm/TokenEstimate.js"
import { freePort } from "../support/Net.js"

// A stub OpenAI-compatible server on 127.0.0.1: each test says how it answers and reads what it saw.

interface Reply {
  readonly status?: number
  readonly headers?: Record<string, string>
  /** A string is sent as is; anything else as JSON. */
  readonly body?: unknown
  readonly delayMs?: number
  /** Never answer. */
  readonly hang?: boolean
  /** Send the headers and a first byte of the body, then nothing more. */
  readonly stallBody?: boolean
  /** Send the headers and a first byte of the body, then drop the connection. */
  readonly dropBody?: boolean
}

interface Seen {
  readonly headers: Http.IncomingHttpHeaders
  readonly body: any
}

interface Stub {
  readonly baseUrl: string
  readonly requests: Array<Seen>
  /** Resolves when the stub has seen a request. */
  readonly received: Promise<void>
  /** Resolves when a client socket closes. */
  readonly socketClosed: Promise<void>
}

const stub = (answer: (seen: Seen) => Reply) =>
  Effect.acquireRelease(
    Effect.async<{ readonly stub: Stub; readonly server: Http.Server }>((resume) => {
      const requests: Array<Seen> = []
      let onReceived!: () => void
      let onClosed!: () => void
      const received = new Promise<void>((resolve) => (onReceived = resolve))
      const socketClosed = new Promise<void>((resolve) => (onClosed = resolve))
      const server = Http.createServer((req, res) => {
        const chunks: Array<Buffer> = []
        req.on("data", (chunk: Buffer) => chunks.push(chunk))
        req.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8")
          const seen: Seen = { headers: req.headers, body: text.length > 0 ? JSON.parse(text) : undefined }
          requests.push(seen)
          onReceived()
          const reply = answer(seen)
          if (reply.hang === true) return
          const send = () => {
            const body = typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body ?? {})
            const type = typeof reply.body === "string" ? "text/plain" : "application/json"
            res.writeHead(reply.status ?? 200, { "content-type": type, ...reply.headers })
            if (reply.stallBody === true) res.write(body.slice(0, 1))
            else if (reply.dropBody === true)
              res.write(body.slice(0, 1), () => setTimeout(() => req.socket.destroy(), 20))
            else res.end(body)
          }
          if (reply.delayMs === undefined) return send()
          const timer = setTimeout(send, reply.delayMs)
          res.on("close", () => clearTimeout(timer))
        })
      })
      server.on("connection", (socket) => socket.on("close", () => onClosed()))
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        resume(
          Effect.succeed({ server, stub: { baseUrl: `http://127.0.0.1:${port}/v1`, requests, received, socketClosed } })
        )
      })
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ stub }) => stub))

const KEY = "sk-test-5f1c9a0e7d2b4c83a6e1"
const apiKey = Redacted.make(KEY)

const completion = (content: string | null, extra: Record<string, unknown> = {}) => ({
  id: "chatcmpl-1",
  object: "chat.completion",
  created: 1_700_000_000,
  model: "gpt-test-2024",
  choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
  usage: { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 },
  ...extra
})

const request: ChatRequest = {
  model: "gpt-test",
  messages: [
    { role: "system", content: "Extract tracking numbers." },
    { role: "user", content: "Your parcel 1Z999AA10123456784 is on its way." }
  ]
}

const llmFor = (s: Stub, timeoutMs?: number) => OpenAi.make({ baseUrl: s.baseUrl, apiKey, timeoutMs })

const failure = (s: Stub, timeoutMs?: number) => llmFor(s, timeoutMs).complete(request).pipe(Effect.flip)

function assertTag<T extends StageError["_tag"]>(
  error: StageError,
  tag: T
): asserts error is Extract<StageError, { _tag: T }> {
  assert.strictEqual(error._tag, tag, `expected ${tag}, got ${error._tag}: ${error.message}`)
}

describe("OpenAi", () => {
  it.scopedLive("keeps a JSON answer as parsed JSON, and sends model, options and the bearer key", () =>
    Effect.gen(function* () {
      const s = yield* stub(() => ({ body: completion('{"tracking":["1Z999AA10123456784"]}') }))
      const response = yield* llmFor(s).complete({ ...request, maxTokens: 64, temperature: 0, json: true })
      assert.deepStrictEqual(response.output, { tracking: ["1Z999AA10123456784"] })
      assert.strictEqual(response.content, '{"tracking":["1Z999AA10123456784"]}')
      assert.strictEqual(response.model, "gpt-test-2024")
      assert.strictEqual(response.cached, false)
      assert.deepStrictEqual(response.usage, { promptTokens: 11, completionTokens: 7, totalTokens: 18 })
      const [seen] = s.requests
      assert.strictEqual(seen?.headers.authorization, `Bearer ${KEY}`)
      assert.deepStrictEqual(seen?.body, {
        model: "gpt-test",
        messages: request.messages,
        max_tokens: 64,
        temperature: 0,
        response_format: { type: "json_object" }
      })
    })
  )

  it.scopedLive("keeps a plain-text answer as text and sends no options it was not given", () =>
    Effect.gen(function* () {
      const s = yield* stub(() => ({ body: completion("No tracking number here.") }))
      const response = yield* llmFor(s).complete(request)
      assert.strictEqual(response.output, "No tracking number here.")
      assert.deepStrictEqual(s.requests[0]?.body, { model: "gpt-test", messages: request.messages })
    })
  )

  it.scopedLive("reads a null content as an empty answer", () =>
    Effect.gen(function* () {
      const s = yield* stub(() => ({ body: completion(null) }))
      const response = yield* llmFor(s).complete(request)
      assert.strictEqual(response.content, "")
    })
  )

  it.scopedLive("estimates usage when the upstream sends none", () =>
    Effect.gen(function* () {
      const s = yield* stub(() => ({ body: completion("twelve chars", { usage: undefined }) }))
      const response = yield* llmFor(s).complete(request)
      const prompt = promptTokens(request.messages)
      assert.deepStrictEqual(response.usage, {
        promptTokens: prompt,
        completionTokens: textTokens("twelve chars"),
        totalTokens: prompt + textTokens("twelve chars")
      })
    })
  )

  it.scopedLive("reads the rate-limit snapshot from the headers", () =>
    Effect.gen(function* () {
      const s = yield* stub(() => ({
        body: completion("ok"),
        headers: {
          "x-ratelimit-limit-requests": "500",
          "x-ratelimit-remaining-requests": "499",
          "x-ratelimit-reset-requests": "120ms",
          "x-ratelimit-limit-tokens": "200000",
          "x-ratelimit-remaining-tokens": "199982",
          "x-ratelimit-reset-tokens": "6m0s"
        }
      }))
      const response = yield* llmFor(s).complete(request)
      assert.deepStrictEqual(response.rateLimit, {
        limitRequests: 500,
        remainingRequests: 499,
        resetRequestsMs: 120,
        limitTokens: 200000,
        remainingTokens: 199982,
        resetTokensMs: 360_000
      })
    })
  )

  it.scopedLive("429 with retry-after-ms is RateLimited for that long, with the snapshot", () =>
    Effect.gen(function* () {
      const s = yield* stub(() => ({
        status: 429,
        headers: { "retry-after-ms": "250", "retry-after": "1", "x-ratelimit-remaining-requests": "0" },
        body: { error: { message: "Rate limit reached for requests", type: "requests" } }
      }))
      const error = yield* failure(s)
      assertTag(error, "RateLimited")
      assert.strictEqual(error.retryAfterMs, 250)
      assert.deepStrictEqual(error.rateLimit, { remainingRequests: 0 })
      assert.include(error.message, "Rate limit reached")
    })
  )

  it.scopedLive("429 with only retry-after: 2 is RateLimited for 2000 ms; with neither, 1000 ms", () =>
    Effect.gen(function* () {
      const seconds = yield* stub(() => ({ status: 429, headers: { "retry-after": "2" }, body: {} }))
      const error = yield* failure(seconds)
      assertTag(error, "RateLimited")
      assert.strictEqual(error.retryAfterMs, 2000)
      const none = yield* stub(() => ({ status: 429, body: {} }))
      const fallback = yield* failure(none)
      assertTag(fallback, "RateLimited")
      assert.strictEqual(fallback.retryAfterMs, OpenAi.DEFAULT_RETRY_AFTER_MS)
    })
  )

  it.scopedLive("500, 503, 408 and 409 are Transient Status", () =>
    Effect.gen(function* () {
      for (const status of [500, 503, 408, 409]) {
        const s = yield* stub(() => ({ status, body: { error: { message: `upstream said ${status}` } } }))
        const error = yield* failure(s)
        assertTag(error, "Transient")
        assert.strictEqual(error.reason, "Status")
        assert.strictEqual(error.status, status)
        assert.include(error.message, `upstream said ${status}`)
        assert.isUndefined(error.retryAfterMs)
      }
      const s = yield* stub(() => ({ status: 503, headers: { "retry-after": "3" }, body: "<html>down</html>" }))
      const error = yield* failure(s)
      assertTag(error, "Transient")
      assert.strictEqual(error.retryAfterMs, 3000)
      assert.include(error.message, "<html>down</html>")
    })
  )

  it.scopedLive("401 and 403 are UpstreamUnusable Unauthorized, with none of the upstream's words (D8)", () =>
    Effect.gen(function* () {
      for (const status of [401, 403]) {
        const s = yield* stub(() => ({
          status,
          body: { error: { message: `Incorrect API key provided: sk-te****${status}` } }
        }))
        const error = yield* failure(s)
        assertTag(error, "UpstreamUnusable")
        assert.strictEqual(error.reason, "Unauthorized")
        assert.strictEqual(error.status, status)
        assert.strictEqual(
          error.message,
          `the upstream rejected the API key (${status}); set OPENAI_API_KEY to a key it accepts`
        )
      }
    })
  )

  it.scopedLive("400, 404 and 422 are Invalid Status with the upstream's message", () =>
    Effect.gen(function* () {
      for (const status of [400, 404, 422]) {
        const s = yield* stub(() => ({ status, body: { error: { message: `model gpt-nope rejected (${status})` } } }))
        const error = yield* failure(s)
        assertTag(error, "Invalid")
        assert.strictEqual(error.reason, "Status")
        assert.strictEqual(error.status, status)
        assert.include(error.message, `model gpt-nope rejected (${status})`)
      }
    })
  )

  it.scopedLive("keeps the message of an error body without an `error` field (vLLM style)", () =>
    Effect.gen(function* () {
      const s = yield* stub(() => ({ status: 400, body: { object: "error", message: "max_tokens is too large" } }))
      const error = yield* failure(s)
      assertTag(error, "Invalid")
      assert.include(error.message, "max_tokens is too large")
    })
  )

  it.scopedLive("makes exactly one request per call, whatever the SDK would have retried", () =>
    Effect.gen(function* () {
      const replies: Array<Reply> = [
        { status: 500 },
        { status: 503, headers: { "retry-after-ms": "1" } },
        { status: 408 },
        { status: 409 },
        { status: 429, headers: { "retry-after": "0" } },
        { status: 400, headers: { "x-should-retry": "true" } }
      ]
      for (const reply of replies) {
        const s = yield* stub(() => reply)
        yield* failure(s)
        assert.strictEqual(s.requests.length, 1, `status ${reply.status}`)
      }
    })
  )

  it.scopedLive(
    "connection refused is Transient Connection with a one-line cause, marked neverAnswered until a call is answered (D7)",
    () =>
      Effect.gen(function* () {
        const port = yield* freePort
        const llm = OpenAi.make({ baseUrl: `http://127.0.0.1:${port}/v1`, apiKey })
        const error = yield* Effect.flip(llm.complete(request))
        assertTag(error, "Transient")
        assert.strictEqual(error.reason, "Connection")
        assert.strictEqual(error.neverAnswered, true)
        assert.strictEqual(
          error.message,
          `upstream http://127.0.0.1:${port}/v1 unreachable: connect ECONNREFUSED 127.0.0.1:${port}`
        )
        // A blocked port can never be reached: no retry, the run stops at once.
        const blocked = yield* Effect.flip(OpenAi.make({ baseUrl: "http://127.0.0.1:1/v1", apiKey }).complete(request))
        assertTag(blocked, "UpstreamUnusable")
        assert.strictEqual(blocked.reason, "Unreachable")
        assert.include(blocked.message, "bad port")
      })
  )

  it.scopedLive("once the upstream has answered, a dropped connection is a plain Transient (an outage)", () =>
    Effect.gen(function* () {
      let up = true
      const s = yield* stub(() => ({ body: completion("ok"), dropBody: !up }))
      const llm = llmFor(s)
      yield* llm.complete(request)
      up = false
      const error = yield* Effect.flip(llm.complete(request))
      assertTag(error, "Transient")
      assert.notStrictEqual(error.neverAnswered, true)
    })
  )

  it.scopedLive("credentials and queries in URLs never reach an error message (D5)", () =>
    Effect.gen(function* () {
      const port = yield* freePort
      const llm = OpenAi.make({ baseUrl: `http://127.0.0.1:${port}/v1?api-key=PASSWORD`, apiKey })
      const error = yield* Effect.flip(llm.complete(request))
      assert.notInclude(JSON.stringify(error), "PASSWORD")
      assert.include(error.message, `http://127.0.0.1:${port}/v1?…`)
    })
  )

  it.scopedLive("a connection dropped mid-body is Transient Connection", () =>
    Effect.gen(function* () {
      const s = yield* stub(() => ({ body: completion("cut short"), dropBody: true }))
      const error = yield* failure(s)
      assertTag(error, "Transient")
      assert.strictEqual(error.reason, "Connection")
      assert.strictEqual(error.message, "other side closed")
    })
  )

  it.scopedLive(
    "a server slower than timeoutMs is Transient Timeout (real time)",
    () =>
      Effect.gen(function* () {
        const s = yield* stub(() => ({ body: completion("late"), delayMs: 1500 }))
        const started = Date.now()
        const error = yield* failure(s, 200)
        assertTag(error, "Transient")
        assert.strictEqual(error.reason, "Timeout")
        assert.isBelow(Date.now() - started, 1000)
        yield* Effect.promise(() => s.socketClosed)
      }),
    { timeout: 2_000 }
  )

  it.scopedLive(
    "a body that stalls after the headers is Transient Timeout too (real time)",
    () =>
      Effect.gen(function* () {
        // The SDK's own timeout stops at the headers; this is the adapter's.
        const s = yield* stub(() => ({ body: completion("never finished"), stallBody: true }))
        const error = yield* failure(s, 200)
        assertTag(error, "Transient")
        assert.strictEqual(error.reason, "Timeout")
        yield* Effect.promise(() => s.socketClosed)
      }),
    { timeout: 2_000 }
  )

  it.scopedLive("a 200 whose body is not JSON or not a completion is Transient Decode", () =>
    Effect.gen(function* () {
      const replies: Array<Reply> = [
        { body: "<html>gateway says hi</html>" },
        { body: "{not json", headers: { "content-type": "application/json" } },
        { body: { object: "chat.completion", model: "gpt-test" } },
        { body: { choices: [] } }
      ]
      for (const reply of replies) {
        const s = yield* stub(() => reply)
        const error = yield* failure(s)
        assertTag(error, "Transient")
        assert.strictEqual(error.reason, "Decode", error.message)
        assert.notInclude(error.message, "\n")
      }
    })
  )

  it.scopedLive(
    "interrupting the fiber aborts the request (real time)",
    () =>
      Effect.gen(function* () {
        const s = yield* stub(() => ({ hang: true }))
        const fiber = yield* Effect.fork(llmFor(s).complete(request))
        yield* Effect.promise(() => s.received)
        const exit = yield* Fiber.interrupt(fiber)
        assert.isTrue(Exit.isInterrupted(exit))
        yield* Effect.promise(() => s.socketClosed).pipe(
          Effect.timeoutFail({
            duration: "1 second",
            onTimeout: () => new Error("the stub never saw the socket close")
          })
        )
      }),
    { timeout: 2_000 }
  )

  it.scopedLive("an upstream that echoes the Authorization header does not leak the key", () =>
    Effect.gen(function* () {
      const s = yield* stub((seen) => ({
        status: 401,
        body: { error: { message: `Incorrect API key provided: ${seen.headers.authorization}`, code: KEY } }
      }))
      const error = yield* failure(s)
      assertTag(error, "UpstreamUnusable")
      for (const text of [error.message, String(error), JSON.stringify(error)]) assert.notInclude(text, KEY)

      const echo = yield* stub((seen) => ({ status: 502, body: `bad gateway for ${seen.headers.authorization}` }))
      const transient = yield* failure(echo)
      for (const text of [transient.message, String(transient), JSON.stringify(transient)]) assert.notInclude(text, KEY)

      const llm = llmFor(s)
      assert.notInclude(JSON.stringify(llm), KEY)
      assert.notInclude(String(llm), KEY)
    })
  )

  it.scopedLive("traces a `chat <model>` client span with GenAI attributes and no content", () =>
    Effect.gen(function* () {
      const s = yield* stub(() => ({ body: completion("ok") }))
      const base = yield* Effect.tracer
      const spans: Array<Tracer.Span> = []
      const tracer = Tracer.make({
        span: (...args) => {
          const span = base.span(...args)
          spans.push(span)
          return span
        },
        context: (f, fiber) => base.context(f, fiber)
      })
      yield* llmFor(s)
        .complete({ ...request, maxTokens: 64 })
        .pipe(Effect.withTracer(tracer))
      const span = spans.find((span) => span.name === "chat gpt-test")
      assert.isDefined(span)
      assert.strictEqual(span!.kind, "client")
      assert.deepStrictEqual(Object.fromEntries(span!.attributes), {
        "gen_ai.operation.name": "chat",
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-test",
        "gen_ai.request.max_tokens": 64,
        "gen_ai.response.model": "gpt-test-2024",
        "gen_ai.usage.input_tokens": 11,
        "gen_ai.usage.output_tokens": 7
      })
    })
  )

  it.scopedLive("layerConfig reads the endpoint from config and sends the default key to a keyless server", () =>
    Effect.gen(function* () {
      const s = yield* stub(() => ({ body: completion("ok") }))
      const config = ConfigProvider.fromMap(
        new Map([
          ["OPENAI_BASE_URL", s.baseUrl],
          ["SLUICE_LLM_TIMEOUT_MS", "5000"]
        ])
      )
      const llm = yield* Layer.build(OpenAi.layerConfig.pipe(Layer.provide(Layer.setConfigProvider(config))))
      yield* Llm.pipe(
        Effect.flatMap((llm) => llm.complete(request)),
        Effect.provide(llm)
      )
      assert.strictEqual(s.requests[0]?.headers.authorization, "Bearer sk-none")
    })
  )
})
