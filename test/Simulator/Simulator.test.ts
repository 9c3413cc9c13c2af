import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Redacted, Schema } from "effect"
import type { ChatMessage } from "../../src/Llm/Llm.js"
import { parseDurationMs } from "../../src/Llm/RateLimitHeaders.js"
import { promptTokens, textTokens } from "../../src/Llm/TokenEstimate.js"
import { answerFor } from "../../src/Simulator/Responder.js"
import * as Simulator from "../../src/Simulator/Simulator.js"
import { LogEntry, Stats } from "../../src/Simulator/Stats.js"

// These tests start a real server on 127.0.0.1 and use real time (it.scopedLive); each is bounded by
// the per-test timeout below, and time assertions are orders of magnitude, not milliseconds.
const TIMEOUT = 15_000

interface Reply {
  readonly status: number
  readonly headers: Headers
  readonly json: any
  readonly text: string
}

const call = (url: string, init: RequestInit = {}): Effect.Effect<Reply> =>
  Effect.promise(async () => {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) })
    const text = await res.text()
    return { status: res.status, headers: res.headers, json: text === "" ? undefined : JSON.parse(text), text }
  })

const chat = (sim: Simulator.Simulator["Type"], body: unknown, headers: Record<string, string> = {}) =>
  call(`${sim.url}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body)
  })

const ask = (content: string, extra: Record<string, unknown> = {}) => ({
  model: "sim-1",
  messages: [{ role: "user", content }],
  ...extra
})

const header = (reply: Reply, name: string): number => Number(reply.headers.get(name))

describe("Simulator (real server, real time)", () => {
  it.scopedLive(
    "answers 200 with the default responder's content and the right usage",
    () =>
      Effect.gen(function* () {
        const sim = yield* Simulator.make({})
        expect(sim.url).toBe(`http://127.0.0.1:${sim.port}/v1`)
        const messages: Array<ChatMessage> = [
          { role: "system", content: "Answer tersely." },
          { role: "user", content: "Where is my parcel 1Z999AA10123456784?" }
        ]
        const reply = yield* chat(sim, { model: "sim-1", messages, max_tokens: 100, temperature: 0 })
        expect(reply.status).toBe(200)
        expect(reply.headers.get("content-type")).toBe("application/json")
        const answer = answerFor(messages[1]!.content)
        expect(reply.json).toMatchObject({
          object: "chat.completion",
          model: "sim-1",
          choices: [{ index: 0, message: { role: "assistant", content: answer }, finish_reason: "stop" }],
          usage: {
            prompt_tokens: promptTokens(messages),
            completion_tokens: textTokens(answer),
            total_tokens: promptTokens(messages) + textTokens(answer)
          }
        })
        expect(reply.json.id).toMatch(/^chatcmpl-/)
        expect(typeof reply.json.created).toBe("number")
        // No limits configured: no x-ratelimit headers.
        expect(reply.headers.get("x-ratelimit-limit-requests")).toBeNull()

        // A capped answer is cut to max_tokens and finishes with "length"; the path without /v1 works too.
        const capped = yield* call(`http://127.0.0.1:${sim.port}/chat/completions`, {
          method: "POST",
          body: JSON.stringify(ask("hello", { max_completion_tokens: 3 }))
        })
        expect(capped.json.choices[0].finish_reason).toBe("length")
        expect(capped.json.usage.completion_tokens).toBe(3)
        expect(capped.json.choices[0].message.content).toBe(answerFor("hello").slice(0, 12))
      }),
    TIMEOUT
  )

  it.scopedLive(
    "answers 429 once the request bucket is empty, with retry-after-ms and retry-after",
    () =>
      Effect.gen(function* () {
        // 60 RPM: a bucket of one request, refilled in one second.
        const sim = yield* Simulator.make({ rpm: 60 })
        expect((yield* chat(sim, ask("one"))).status).toBe(200)
        const limited = yield* chat(sim, ask("two"))
        expect(limited.status).toBe(429)
        expect(limited.json.error).toMatchObject({ type: "requests", code: "rate_limit_exceeded" })
        expect(limited.json.error.message).toMatch(/Rate limit reached .* requests per min \(RPM\)/)
        const ms = header(limited, "retry-after-ms")
        expect(ms).toBeGreaterThan(0)
        expect(ms).toBeLessThanOrEqual(1000)
        expect(limited.headers.get("retry-after")).toBe("1")
        // retry-after-ms is the time until the bucket holds one request: the request reset time.
        expect(Math.abs(parseDurationMs(limited.headers.get("x-ratelimit-reset-requests")!)! - ms)).toBeLessThan(2)
        const stats = yield* sim.stats
        expect(stats).toMatchObject({ received: 2, accepted: 1, rateLimited: 1 })
        expect((yield* sim.log).map((e) => e.content)).toEqual(["one"])
      }),
    TIMEOUT
  )

  it.scopedLive(
    "sends only a whole-second retry-after in seconds mode",
    () =>
      Effect.gen(function* () {
        // 6 RPM: one request per ten seconds.
        const sim = yield* Simulator.make({ rpm: 6, retryAfter: "seconds" })
        yield* chat(sim, ask("one"))
        const limited = yield* chat(sim, ask("two"))
        expect(limited.status).toBe(429)
        expect(limited.headers.get("retry-after-ms")).toBeNull()
        expect(limited.headers.get("retry-after")).toMatch(/^\d+$/)
        expect(header(limited, "retry-after")).toBeGreaterThanOrEqual(5)
        expect(header(limited, "retry-after")).toBeLessThanOrEqual(10)
      }),
    TIMEOUT
  )

  it.scopedLive(
    "sends x-ratelimit headers that follow the minute-limit formula",
    () =>
      Effect.gen(function* () {
        // Requests: capacity 10, 0.01 per ms. Tokens: capacity 1000, 1 per ms.
        const sim = yield* Simulator.make({ rpm: 600, tpm: 60_000 })
        let reply: Reply | undefined
        for (let i = 0; i < 5; i++) reply = yield* chat(sim, ask(`item ${i}`, { max_tokens: 500 }))
        const r = reply!
        expect(r.status).toBe(200)
        expect(r.headers.get("x-ratelimit-limit-requests")).toBe("600")
        expect(r.headers.get("x-ratelimit-limit-tokens")).toBe("60000")
        // Five requests cost five; a loaded machine may have refilled a little since.
        const remainingRequests = header(r, "x-ratelimit-remaining-requests")
        expect(remainingRequests).toBeGreaterThanOrEqual(595)
        expect(remainingRequests).toBeLessThan(600)
        // reset = deficit / rate, and deficit is within one unit of limit − remaining.
        const owedRequests = 600 - remainingRequests
        const resetRequests = parseDurationMs(r.headers.get("x-ratelimit-reset-requests")!)!
        expect(resetRequests).toBeGreaterThan((owedRequests - 1) / 0.01 - 1)
        expect(resetRequests).toBeLessThanOrEqual(owedRequests / 0.01 + 1)
        const remainingTokens = header(r, "x-ratelimit-remaining-tokens")
        expect(remainingTokens).toBeLessThanOrEqual(60_000)
        const owedTokens = 60_000 - remainingTokens
        const resetTokens = parseDurationMs(r.headers.get("x-ratelimit-reset-tokens")!)!
        expect(resetTokens).toBeGreaterThan(owedTokens - 1 - 1)
        expect(resetTokens).toBeLessThanOrEqual(owedTokens + 1)
        // And a 429 carries them too.
        const sim2 = yield* Simulator.make({ rpm: 60 })
        yield* chat(sim2, ask("a"))
        const limited = yield* chat(sim2, ask("b"))
        expect(limited.status).toBe(429)
        expect(limited.headers.get("x-ratelimit-remaining-requests")).toBe("59")
      }),
    TIMEOUT
  )

  it.scopedLive(
    "refunds the unused allowance, so the token ledger settles to actual usage",
    () =>
      Effect.gen(function* () {
        // A bucket of 6,000 tokens: one request reserving 5,000 completion tokens fits, two do not,
        // unless the first one's unused allowance comes back.
        const tpm = 360_000
        const sim = yield* Simulator.make({ tpm })
        const first = yield* chat(sim, ask("short question", { max_tokens: 5_000 }))
        const second = yield* chat(sim, ask("another short question", { max_tokens: 5_000 }))
        expect([first.status, second.status]).toEqual([200, 200])
        const used = (r: Reply) => r.json.usage.prompt_tokens + r.json.usage.completion_tokens
        expect((yield* sim.stats).tokensCharged).toBe(used(first) + used(second))
        // The bucket owes at most what was used; without the refund it would owe about 5,000.
        expect(header(second, "x-ratelimit-remaining-tokens")).toBeGreaterThanOrEqual(tpm - used(first) - used(second))

        // More than the whole minute's limit can never pass: "Request too large", and no retry-after.
        const tooLarge = yield* chat(sim, ask("big", { max_tokens: 400_000 }))
        expect(tooLarge.status).toBe(429)
        expect(tooLarge.json.error).toMatchObject({ type: "tokens", code: "rate_limit_exceeded" })
        expect(tooLarge.json.error.message).toMatch(/^Request too large .*TPM/)
        expect(tooLarge.headers.get("retry-after")).toBeNull()
        expect((yield* sim.stats).tooLarge).toBe(1)
      }),
    TIMEOUT
  )

  it.scopedLive(
    "answers 500 to every admitted request when errorRate is 1",
    () =>
      Effect.gen(function* () {
        const sim = yield* Simulator.make({ errorRate: 1, tpm: 600_000, seed: 3 })
        const replies = yield* Effect.forEach([1, 2, 3], (i) => chat(sim, ask(`x${i}`)), { concurrency: 3 })
        for (const r of replies) {
          expect(r.status).toBe(500)
          expect(r.json.error.type).toBe("server_error")
          expect(r.headers.get("x-ratelimit-limit-tokens")).toBe("600000")
        }
        const stats = yield* sim.stats
        expect(stats).toMatchObject({ received: 3, accepted: 0, errors: 3, completionTokens: 0, inFlight: 0 })
        // A fault uses no completion: only the prompts stay charged.
        expect(stats.tokensCharged).toBe(stats.promptTokens)
        expect((yield* sim.log).map((e) => e.status)).toEqual([500, 500, 500])
      }),
    TIMEOUT
  )

  it.scopedLive(
    "answers at once during an outage window, then recovers",
    () =>
      Effect.gen(function* () {
        const sim = yield* Simulator.make({ latencyMs: 2_000, latencySigma: 0, rpm: 600 })
        yield* sim.outage(300)
        const start = Date.now()
        const during = yield* chat(sim, ask("during"))
        expect(during.status).toBeGreaterThanOrEqual(500)
        expect(during.json.error.type).toBe("server_error")
        // "At once": well under the 2 s latency an admitted request would take.
        expect(Date.now() - start).toBeLessThan(1_500)
        expect(during.headers.get("x-ratelimit-limit-requests")).toBe("600")
        yield* Effect.sleep("600 millis")

        // Over HTTP too; and an outage of 0 ends it.
        const control = `http://127.0.0.1:${sim.port}/_sim/outage`
        expect((yield* call(`${control}?ms=60000`, { method: "POST" })).status).toBe(200)
        expect((yield* chat(sim, ask("again"))).status).toBeGreaterThanOrEqual(500)
        expect((yield* call(`${control}?ms=nope`, { method: "POST" })).status).toBe(400)
        yield* call(`${control}?ms=0`, { method: "POST" })

        const sim2 = yield* Simulator.make({})
        yield* sim2.outage(200)
        expect((yield* chat(sim2, ask("down"))).status).toBeGreaterThanOrEqual(500)
        yield* Effect.sleep("500 millis")
        expect((yield* chat(sim2, ask("up"))).status).toBe(200)
        expect(yield* sim2.stats).toMatchObject({ received: 2, errors: 1, accepted: 1 })
      }),
    TIMEOUT
  )

  it.scopedLive(
    "answers 400 naming the field of a malformed body",
    () =>
      Effect.gen(function* () {
        const sim = yield* Simulator.make({})
        const missing = yield* chat(sim, { model: "sim-1" })
        expect(missing.status).toBe(400)
        expect(missing.json).toEqual({
          error: {
            message: expect.stringContaining("'messages'"),
            type: "invalid_request_error",
            param: "messages",
            code: null
          }
        })
        const badContent = yield* chat(sim, { model: "sim-1", messages: [{ role: "user", content: 5 }] })
        expect(badContent.status).toBe(400)
        expect(badContent.json.error.param).toBe("messages.[0].content")
        expect(badContent.json.error.message).toContain("messages[0].content")
        const badMax = yield* chat(sim, ask("x", { max_tokens: 0 }))
        expect(badMax.json.error.param).toBe("max_tokens")
        const notJson = yield* chat(sim, "{not json")
        expect(notJson.status).toBe(400)
        expect(notJson.json.error.type).toBe("invalid_request_error")
        expect((yield* sim.stats).badRequests).toBe(4)
      }),
    TIMEOUT
  )

  it.scopedLive(
    "answers 401 without the right key, and never echoes a key",
    () =>
      Effect.gen(function* () {
        const key = "sk-sim-very-secret"
        const sim = yield* Simulator.make({ apiKey: Redacted.make(key) })
        const none = yield* chat(sim, ask("x"))
        expect(none.status).toBe(401)
        expect(none.json.error.type).toBe("invalid_request_error")
        const wrong = yield* chat(sim, ask("x"), { authorization: "Bearer sk-sim-wrong-guess" })
        expect(wrong.status).toBe(401)
        expect(wrong.json.error.code).toBe("invalid_api_key")
        expect(wrong.text).not.toContain("sk-sim")
        expect((yield* chat(sim, ask("x"), { authorization: `Bearer ${key}` })).status).toBe(200)
        const stats = yield* call(`http://127.0.0.1:${sim.port}/_sim/stats`)
        expect(stats.text).not.toContain(key)
        expect(Schema.decodeUnknownSync(Stats)(stats.json)).toMatchObject({ unauthorized: 2, accepted: 1 })
      }),
    TIMEOUT
  )

  it.scopedLive(
    "appends one log line per admitted request to the log file",
    () =>
      Effect.gen(function* () {
        const dir = mkdtempSync(join(tmpdir(), "sluice-sim-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
        const logFile = join(dir, "requests.jsonl")
        const sim = yield* Simulator.make({ logFile, latencyMs: 20 })
        const items = ["alpha", "beta", "gamma", "delta"]
        yield* Effect.forEach(items, (item) => chat(sim, ask(item)), { concurrency: 4 })
        yield* chat(sim, { model: "sim-1" }) // refused with 400: not admitted, not logged
        const lines = readFileSync(logFile, "utf8").trimEnd().split("\n")
        expect(lines).toHaveLength(items.length)
        const entries = lines.map((line) => Schema.decodeUnknownSync(LogEntry)(JSON.parse(line)))
        expect(entries.map((e) => e.content).sort()).toEqual([...items].sort())
        expect(entries.map((e) => e.seq).sort()).toEqual([1, 2, 3, 4])
        expect(entries.every((e) => e.status === 200 && e.model === "sim-1")).toBe(true)
        const overHttp = yield* call(`http://127.0.0.1:${sim.port}/_sim/log`)
        expect(overHttp.json).toHaveLength(items.length)
        expect((yield* sim.stats).peakInFlight).toBeGreaterThanOrEqual(1)
      }),
    TIMEOUT
  )

  it.scopedLive(
    "waits its latency, runs requests concurrently, and resets to its state at start",
    () =>
      Effect.gen(function* () {
        const sim = yield* Simulator.make({ latencyMs: 300, latencySigma: 0, rpm: 60 })
        const start = Date.now()
        expect((yield* chat(sim, ask("slow"))).status).toBe(200)
        const elapsed = Date.now() - start
        expect(elapsed).toBeGreaterThanOrEqual(250)
        expect(elapsed).toBeLessThan(5_000)
        expect((yield* chat(sim, ask("limited"))).status).toBe(429)
        const reset = yield* call(`http://127.0.0.1:${sim.port}/_sim/reset`, { method: "POST" })
        expect(reset.status).toBe(200)
        expect(yield* sim.stats).toMatchObject({ received: 0, accepted: 0, rateLimited: 0 })
        expect(yield* sim.log).toEqual([])
        // The bucket is full again.
        expect((yield* chat(sim, ask("after reset"))).status).toBe(200)

        const wide = yield* Simulator.make({ latencyMs: 300, latencySigma: 0 })
        yield* Effect.forEach([1, 2, 3, 4, 5], (i) => chat(wide, ask(`c${i}`)), { concurrency: 5 })
        expect((yield* wide.stats).peakInFlight).toBe(5)
      }),
    TIMEOUT
  )

  it.live(
    "closes with its scope, keep-alive sockets included, and well under the keep-alive timeout",
    () =>
      Effect.gen(function* () {
        const port = yield* Effect.scoped(
          Effect.gen(function* () {
            const sim = yield* Simulator.make({})
            expect((yield* chat(sim, ask("x"))).status).toBe(200)
            return sim.port
          })
        ).pipe(Effect.timeout("3 seconds"), Effect.orDie)
        const after = yield* Effect.either(
          Effect.tryPromise(() => fetch(`http://127.0.0.1:${port}/_sim/stats`, { signal: AbortSignal.timeout(3_000) }))
        )
        expect(after._tag).toBe("Left")
      }),
    TIMEOUT
  )
})
