/**
 * The simulator's request handler: routing, auth, faults, limits, latency and answers.
 *
 * It is plain Node callbacks and timers, not an Effect per request, on purpose: admission must be
 * decided synchronously at the instant a request arrives, against buckets read at that instant, and
 * a benchmark measures us against the theoretical bound, so the handler must add nothing but the
 * latency it was asked for.
 *
 * @since 0.1.0
 */
import { createHash, timingSafeEqual } from "node:crypto"
import type { IncomingMessage, ServerResponse } from "node:http"
import { Either, Redacted } from "effect"
import type { ChatMessage } from "../Llm/Llm.js"
import { formatDurationMs } from "../Llm/RateLimitHeaders.js"
import { DEFAULT_MAX_TOKENS, promptTokens } from "../Llm/TokenEstimate.js"
import { type Dialect, resolve, retryAfterHeaders } from "./Dialect.js"
import { lognormal, random, type Random } from "./Latency.js"
import { Limits } from "./Limits.js"
import type { SimulatorOptions } from "./Options.js"
import type { Recorder } from "./Recorder.js"
import { defaultResponder, fit, lastUserMessage, paddedResponder, type Responder } from "./Responder.js"
import type { LogEntry, Stats } from "./Stats.js"
import { completionBody, decodeChatCompletion, errorBody } from "./Wire.js"

/** Far above any chat request we simulate; guards memory against a runaway client. */
const MAX_BODY_BYTES = 16 * 1024 * 1024

const DEFAULT_SEED = 1

type Headers = Record<string, string>

const sha256 = (text: string): Buffer => createHash("sha256").update(text, "utf8").digest()

const check = (ok: boolean, message: string): void => {
  if (!ok) throw new Error(`Simulator: ${message}`)
}

/** Derives an independent stream per purpose, so changing `errorRate` leaves the latencies alone. */
const streams = (seed: number) => ({
  latency: random(seed),
  fault: random(seed ^ 0x9e3779b9)
})

/**
 * @since 0.1.0
 * @category models
 */
export class Handler {
  private readonly limits: Limits
  private readonly latencyMs: number
  private readonly latencySigma: number
  private readonly errorRate: number
  private readonly dialect: Dialect
  private readonly seed: number
  private readonly responder: Responder
  private readonly keyDigest: Buffer | undefined
  private latency: () => number
  private fault: Random
  private outageUntil = 0
  private seq = 0
  private nextId = 0
  private readonly timers = new Set<ReturnType<typeof setTimeout>>()

  /** Throws on options no simulator can honour; `make` turns that into a defect. */
  constructor(
    options: SimulatorOptions,
    private readonly recorder: Recorder
  ) {
    const rpm = options.rpm ?? 0
    const tpm = options.tpm ?? 0
    this.latencyMs = options.latencyMs ?? 0
    this.latencySigma = options.latencySigma ?? 0.5
    this.errorRate = options.errorRate ?? 0
    this.seed = options.seed ?? DEFAULT_SEED
    check(Number.isFinite(rpm) && rpm >= 0, `rpm must be a number >= 0, got ${rpm}`)
    check(Number.isFinite(tpm) && tpm >= 0, `tpm must be a number >= 0, got ${tpm}`)
    check(Number.isFinite(this.latencyMs) && this.latencyMs >= 0, `latencyMs must be >= 0, got ${this.latencyMs}`)
    check(Number.isFinite(this.latencySigma) && this.latencySigma >= 0, "latencySigma must be >= 0")
    check(this.errorRate >= 0 && this.errorRate <= 1, `errorRate must be within 0..1, got ${this.errorRate}`)
    this.dialect = resolve(options.dialect, {
      ...options.dialectOverrides,
      // The older option keeps its meaning: it overrides the preset's retry-after.
      ...(options.retryAfter !== undefined ? { retryAfter: options.retryAfter } : {})
    })
    check(this.dialect.windowMs > 0, `windowMs must be > 0, got ${this.dialect.windowMs}`)
    const otpm = options.otpm
    check(otpm === undefined || (Number.isFinite(otpm) && otpm >= 0), `otpm must be a number >= 0, got ${otpm}`)
    this.responder =
      options.responder ??
      (options.answerTokens !== undefined && options.answerTokens > 0
        ? paddedResponder(options.answerTokens)
        : defaultResponder)
    const key = options.apiKey
    // Only a digest is kept, so the key itself is in no field a dump or a log could show.
    this.keyDigest = key === undefined ? undefined : sha256(Redacted.isRedacted(key) ? Redacted.value(key) : key)
    this.limits = new Limits(rpm, tpm, performance.now(), this.dialect, otpm)
    const s = streams(this.seed)
    this.latency = lognormal(s.latency, this.latencyMs, this.latencySigma)
    this.fault = s.fault
  }

  /** The `node:http` request listener. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const arrivedAt = Date.now()
    const url = req.url ?? "/"
    const q = url.indexOf("?")
    const rawPath = q < 0 ? url : url.slice(0, q)
    // The base URL ends in /v1; accept the control routes under it too.
    const path = rawPath.startsWith("/v1/") ? rawPath.slice(3) : rawPath
    const query = new URLSearchParams(q < 0 ? "" : url.slice(q + 1))
    const chunks: Array<Buffer> = []
    let size = 0
    req.on("data", (chunk: Buffer) => {
      size += chunk.length
      if (size <= MAX_BODY_BYTES) chunks.push(chunk)
    })
    req.on("error", () => {})
    req.on("end", () => {
      const body = size <= MAX_BODY_BYTES ? Buffer.concat(chunks).toString("utf8") : undefined
      try {
        this.route(req, res, req.method ?? "GET", path, query, body, arrivedAt)
      } catch (e) {
        this.send(res, 500, errorBody(`The simulator failed: ${String(e)}`, "server_error"), {})
      }
    })
  }

  /** Every request answers 503 at once for the next `ms` milliseconds; 0 ends an outage. */
  outage(ms: number): void {
    this.outageUntil = ms > 0 ? performance.now() + ms : 0
  }

  /** Stats, log, buckets, outage and random draws back to their state at start. */
  reset(): void {
    this.limits.reset(performance.now())
    this.recorder.reset()
    this.outageUntil = 0
    this.seq = 0
    const s = streams(this.seed)
    this.latency = lognormal(s.latency, this.latencyMs, this.latencySigma)
    this.fault = s.fault
  }

  stats(): Stats {
    return this.recorder.stats()
  }

  log(): ReadonlyArray<LogEntry> {
    return this.recorder.log()
  }

  /** Drops the answers still waiting on their latency; their sockets are closed with the server. */
  close(): void {
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
  }

  private route(
    req: IncomingMessage,
    res: ServerResponse,
    method: string,
    path: string,
    query: URLSearchParams,
    body: string | undefined,
    arrivedAt: number
  ): void {
    if (path === "/chat/completions") {
      if (method === "POST") return this.chat(req, res, body, arrivedAt)
      return this.send(res, 405, errorBody(`Use POST for ${path}.`, "invalid_request_error"), {})
    }
    if (method === "GET" && path === "/_sim/stats") return this.send(res, 200, this.stats(), {})
    if (method === "GET" && path === "/_sim/log") return this.send(res, 200, this.log(), {})
    if (method === "POST" && path === "/_sim/reset") {
      this.reset()
      return this.send(res, 200, { ok: true }, {})
    }
    if (method === "POST" && path === "/_sim/outage") {
      const raw = query.get("ms")
      const ms = raw === null || raw.trim() === "" ? NaN : Number(raw)
      if (!Number.isFinite(ms) || ms < 0) {
        return this.send(
          res,
          400,
          errorBody("Query parameter 'ms' must be a number >= 0.", "invalid_request_error", { param: "ms" }),
          {}
        )
      }
      this.outage(ms)
      return this.send(res, 200, { ok: true, outageMs: ms }, {})
    }
    this.send(
      res,
      404,
      errorBody(`Unknown request URL: ${method} ${path}.`, "invalid_request_error", { code: "unknown_url" }),
      {}
    )
  }

  private chat(req: IncomingMessage, res: ServerResponse, body: string | undefined, arrivedAt: number): void {
    const counts = this.recorder.counts
    counts.received++
    const now = performance.now()
    if (now < this.outageUntil) {
      counts.errors++
      return this.send(
        res,
        503,
        errorBody("The server is overloaded or not ready yet (simulated outage).", "server_error"),
        this.limits.headers(now)
      )
    }
    const auth = this.authorize(req)
    if (auth !== undefined) {
      counts.unauthorized++
      return this.send(res, 401, auth, {})
    }
    if (body === undefined) {
      counts.badRequests++
      return this.send(
        res,
        400,
        errorBody("The request body is too large.", "invalid_request_error"),
        this.limits.headers(now)
      )
    }
    const decoded = decodeChatCompletion(body)
    if (Either.isLeft(decoded)) {
      counts.badRequests++
      const { message, param } = decoded.left
      return this.send(res, 400, errorBody(message, "invalid_request_error", { param }), this.limits.headers(now))
    }
    const { model, messages } = decoded.right
    const maxTokens = decoded.right.maxTokens ?? DEFAULT_MAX_TOKENS
    const prompt = promptTokens(messages)
    const cost = prompt + maxTokens
    const decision = this.limits.admit(prompt, now, maxTokens)
    switch (decision._tag) {
      case "TooLarge": {
        counts.rateLimited++
        counts.tooLarge++
        const message =
          `Request too large for ${model} on tokens per min (TPM): ` +
          `Limit ${decision.limit}, Requested ${decision.requested}. ` +
          "The input or output tokens must be reduced in order to run successfully."
        // No retry-after: waiting never helps, and a client must not be told it does.
        return this.send(
          res,
          429,
          errorBody(message, "tokens", { code: "rate_limit_exceeded" }),
          this.limits.headers(now)
        )
      }
      case "Limited": {
        counts.rateLimited++
        const bucket = decision.bucket
        const label =
          decision.kind === "requests"
            ? "requests per min (RPM)"
            : `${decision.kind} per min (${decision.kind === "tokens" ? "TPM" : decision.kind === "input tokens" ? "ITPM" : "OTPM"})`
        const message =
          `Rate limit reached for ${model} on ${label}: Limit ${bucket.limit}, ` +
          `Used ${bucket.limit - bucket.remaining(now)}, Requested ${decision.requested}. ` +
          `Please try again in ${formatDurationMs(decision.waitMs)}.`
        const headers = { ...this.limits.headers(now), ...retryAfterHeaders(this.dialect, decision.waitMs, Date.now()) }
        const type = decision.kind === "requests" ? "requests" : "tokens"
        return this.send(res, 429, errorBody(message, type, { code: "rate_limit_exceeded" }), headers)
      }
      case "Admitted":
        return this.admitted(res, model, messages, maxTokens, prompt, cost, arrivedAt)
    }
  }

  private admitted(
    res: ServerResponse,
    model: string,
    messages: ReadonlyArray<ChatMessage>,
    maxTokens: number,
    prompt: number,
    cost: number,
    arrivedAt: number
  ): void {
    const generation = this.recorder.generation
    this.recorder.admitted(prompt, cost)
    const seq = ++this.seq
    const faulted = this.errorRate > 0 && this.fault() < this.errorRate
    const delay = this.latency()
    const finish = () => {
      let status = 200
      let answer: unknown
      let completion = 0
      if (faulted) {
        status = 500
        answer = errorBody("The server had an error while processing your request. Sorry about that!", "server_error")
      } else {
        try {
          const fitted = fit(this.responder({ model, messages, maxTokens }), maxTokens)
          completion = fitted.completionTokens
          answer = completionBody({
            id: `chatcmpl-sim${(++this.nextId).toString(36).padStart(8, "0")}`,
            model,
            content: fitted.content,
            finishReason: fitted.finishReason,
            promptTokens: prompt,
            completionTokens: completion
          })
        } catch (e) {
          status = 500
          answer = errorBody(`The simulator's responder failed: ${String(e)}`, "server_error")
        }
      }
      const now = performance.now()
      const refund = maxTokens - completion
      // A request admitted before a reset was charged to buckets that no longer exist.
      if (generation === this.recorder.generation) this.limits.settle(refund, now)
      this.recorder.settled(generation, completion, refund, {
        seq,
        arrivedAt,
        status,
        model,
        content: lastUserMessage(messages)
      })
      this.send(res, status, answer, this.limits.headers(now))
    }
    if (delay <= 0) return finish()
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      try {
        finish()
      } catch (e) {
        this.send(res, 500, errorBody(`The simulator failed: ${String(e)}`, "server_error"), {})
      }
    }, delay)
    this.timers.add(timer)
  }

  /** undefined when the request may pass, else the 401 body. The key is never echoed. */
  private authorize(req: IncomingMessage): ReturnType<typeof errorBody> | undefined {
    if (this.keyDigest === undefined) return undefined
    const header = req.headers.authorization
    const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header)
    if (match === null) {
      return errorBody(
        "You didn't provide an API key. You need to provide your API key in an Authorization header " +
          "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        "invalid_request_error"
      )
    }
    if (timingSafeEqual(sha256(match[1]!), this.keyDigest)) return undefined
    return errorBody("Incorrect API key provided.", "invalid_request_error", { code: "invalid_api_key" })
  }

  private send(res: ServerResponse, status: number, body: unknown, headers: Headers): void {
    if (res.destroyed || res.writableEnded) return
    const text = JSON.stringify(body)
    headers["content-type"] = "application/json"
    headers["content-length"] = String(Buffer.byteLength(text))
    res.writeHead(status, headers)
    res.end(text)
  }
}
