/**
 * The HTTP API of `sluice serve` over real HTTP on 127.0.0.1: the service layer runs in this process
 * (the way a host program embeds it) on a free port, against a temporary SQLite file and, for LLM
 * runs, an in-process simulator. Every wait is bounded.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Logger, LogLevel } from "effect"
import * as path from "node:path"
import * as Compose from "../../src/Cli/Compose.js"
import * as Service from "../../src/Service/Service.js"
import { answerFor, lastUserMessage } from "../../src/Simulator/Responder.js"
import * as Simulator from "../../src/Simulator/Simulator.js"
import { tempDir } from "../support/Temp.js"

// ---- helpers ---------------------------------------------------------------------------------------

/**
 * Starts the service on 127.0.0.1 and a free port; it stops (and drains) when the test's scope closes.
 * The upstream's limit is given (an unknown one is discovered from 60 RPM up, which would slow the
 * test, not test the service); request logs are left out.
 */
const start = (db: string, options: Service.ServiceOptions = {}, baseUrl = "http://127.0.0.1:9/v1") =>
  Layer.build(
    Service.layer({ host: "127.0.0.1", port: 0, pollMs: 50, ...options }).pipe(
      Layer.provide(Compose.llm({ baseUrl, timeoutMs: 10_000, rpm: 60_000, tpm: 0, cache: false }, { db })),
      Layer.provide(Compose.store(db))
    )
  ).pipe(
    Effect.map((ctx) => Context.get(ctx, Service.Service).url),
    Effect.orDie,
    Logger.withMinimumLogLevel(LogLevel.Warning)
  )

interface Answer {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  readonly json: any
}

const call = (url: string, init: RequestInit = {}) =>
  Effect.promise(async (): Promise<Answer> => {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(15_000) })
    const text = await res.text()
    let json: unknown = undefined
    try {
      json = JSON.parse(text)
    } catch {
      // not JSON (results, HTML)
    }
    return { status: res.status, headers: res.headers, text, json }
  })

const post = (url: string, body: string, contentType = "application/json") =>
  call(url, { method: "POST", body, headers: { "content-type": contentType } })

const jsonl = (items: ReadonlyArray<unknown>) => items.map((i) => JSON.stringify(i)).join("\n") + "\n"
const lines = (text: string) =>
  text
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l))

/** Polls `GET /v1/runs/:id` until the run is done; dies after `ms`. */
const waitDone = (base: string, run: string, ms = 30_000) =>
  Effect.gen(function* () {
    const deadline = Date.now() + ms
    while (true) {
      const r = yield* call(`${base}/v1/runs/${run}`)
      if (r.status === 200 && r.json.done === true) return r.json
      if (Date.now() > deadline) return yield* Effect.die(new Error(`run ${run} not done after ${ms} ms: ${r.text}`))
      yield* Effect.sleep("50 millis")
    }
  })

const expected = (payload: unknown) => JSON.parse(answerFor(JSON.stringify(payload)))

// ---- tests -----------------------------------------------------------------------------------------

describe("sluice serve HTTP API (real HTTP on 127.0.0.1)", () => {
  it.scopedLive(
    "POST a JSONL run (echo): 202 with the items already recorded; done with its counts; results stream in input order, filtered by status (real HTTP on 127.0.0.1)",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const base = yield* start(path.join(dir, "s.db"), { defaults: { processor: "echo" } })
        // Items with an id are keyed by it, the others by their line number (the blank line counts).
        const items = Array.from({ length: 300 }, (_, i) => (i % 3 === 0 ? { n: i } : { id: `k${i}`, n: i }))
        const body = jsonl(items.slice(0, 10)) + "\n" + jsonl(items.slice(10))
        const created = yield* post(`${base}/v1/runs?run=echo-1`, body, "application/x-ndjson")
        expect(created.status).toBe(202)
        expect(created.json).toMatchObject({ run: "echo-1", recorded: 300, total: 300 })
        expect(created.json.links.results).toBe("/v1/runs/echo-1/results")

        // Recorded before the answer: the total is there at once.
        const early = yield* call(`${base}/v1/runs/echo-1`)
        expect(early.status).toBe(200)
        expect(early.json.total).toBe(300)
        expect(early.json.recorded).toBe(true)

        const done = yield* waitDone(base, "echo-1")
        expect(done.counts).toEqual({ pending: 0, processing: 0, completed: 300, skipped: 0, failed: 0 })
        expect(done.etaSeconds).toBe(0)
        expect(done.throughput).toBeGreaterThan(0)
        expect(done.settings).toMatchObject({ processor: "echo", source: "http" })

        const keyOf = (i: number) => (i % 3 === 0 ? `line:${i < 10 ? i + 1 : i + 2}` : `k${i}`)
        const results = yield* call(`${base}/v1/runs/echo-1/results`)
        expect(results.status).toBe(200)
        expect(results.headers.get("content-type")).toMatch(/^application\/x-ndjson/)
        expect(lines(results.text)).toEqual(
          items.map((item, i) => ({ seq: i, key: keyOf(i), status: "completed", output: item }))
        )
        // The same lines as `sluice run` writes: compact JSON, one per item.
        expect(results.text.split("\n")[0]).toBe(`{"seq":0,"key":"line:1","status":"completed","output":{"n":0}}`)

        const completed = yield* call(`${base}/v1/runs/echo-1/results?status=completed`)
        expect(lines(completed.text)).toHaveLength(300)
        const failed = yield* call(`${base}/v1/runs/echo-1/results?status=failed`)
        expect(failed.status).toBe(200)
        expect(failed.text).toBe("")
        const badStatus = yield* call(`${base}/v1/runs/echo-1/results?status=done`)
        expect(badStatus.status).toBe(400)
        expect(badStatus.text).toContain("status")

        // A JSON array, keyed by position; then `{items, options}` with a run id, sent twice.
        const array = yield* post(`${base}/v1/runs`, JSON.stringify([{ a: 1 }, { id: "x", a: 2 }]))
        expect(array.status).toBe(202)
        expect(array.json.run).toMatch(/^run-\d{8}T\d{6}Z-[0-9a-f]{6}$/)
        yield* waitDone(base, array.json.run)
        const arrayResults = lines((yield* call(`${base}/v1/runs/${array.json.run}/results`)).text)
        expect(arrayResults.map((r) => r.key)).toEqual(["item:1", "x"])

        const payload = JSON.stringify({
          items: [{ id: "a" }, { id: "b" }],
          options: { run: "named", processor: "echo" }
        })
        const first = yield* post(`${base}/v1/runs`, payload)
        expect(first.json).toMatchObject({ run: "named", recorded: 2, total: 2 })
        const again = yield* post(`${base}/v1/runs`, payload)
        expect(again.status).toBe(202)
        expect(again.json).toMatchObject({ run: "named", recorded: 0, total: 2 })
        // Items with new keys are appended to the existing run.
        const more = yield* post(`${base}/v1/runs?run=named`, jsonl([{ id: "b" }, { id: "c" }]), "application/jsonl")
        expect(more.json).toMatchObject({ run: "named", recorded: 1, total: 3 })
        yield* waitDone(base, "named")
        expect(lines((yield* call(`${base}/v1/runs/named/results`)).text).map((r) => [r.seq, r.key])).toEqual([
          [0, "a"],
          [1, "b"],
          [2, "c"]
        ])

        const list = yield* call(`${base}/v1/runs`)
        expect(list.json.runs.map((r: any) => r.run)).toEqual(["named", array.json.run, "echo-1"])
        const limited = yield* call(`${base}/v1/runs?limit=1`)
        expect(limited.json.runs.map((r: any) => r.run)).toEqual(["named"])
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "an llm run against the simulator, capped by its own concurrency; its failed items, re-queued by POST /v1/runs/:id/retry, then complete (real HTTP on 127.0.0.1)",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        let failing = true
        const sim = yield* Simulator.make({
          port: 0,
          latencyMs: 40,
          latencySigma: 0,
          responder: (request) => {
            const text = lastUserMessage(request.messages)
            if (failing && text.includes('"fail":true')) throw new Error("simulated failure")
            return answerFor(text)
          }
        })
        const base = yield* start(
          path.join(dir, "s.db"),
          {
            concurrency: 8,
            attempt: {
              maxAttempts: 1,
              attemptTimeout: "10 seconds",
              baseBackoff: "10 millis",
              maxBackoff: "10 millis",
              maxPauses: 10
            }
          },
          sim.url
        )
        const items = Array.from({ length: 30 }, (_, i) => ({
          id: `m${i}`,
          text: `message ${i}`,
          ...(i % 8 === 3 ? { fail: true } : {})
        }))
        const failures = items.filter((i) => "fail" in i).length
        const created = yield* post(
          `${base}/v1/runs`,
          JSON.stringify({
            items,
            options: { run: "llm-1", processor: "llm", model: "sim-model", maxTokens: 64, concurrency: 2 }
          })
        )
        expect(created.status).toBe(202)

        const first = yield* waitDone(base, "llm-1")
        expect(first.counts).toEqual({
          pending: 0,
          processing: 0,
          completed: 30 - failures,
          skipped: 0,
          failed: failures
        })
        expect(first.tokens.in).toBeGreaterThan(0)
        // The run's own bound, not the service's 8.
        expect((yield* sim.stats).peakInFlight).toBeLessThanOrEqual(2)

        const failedLines = lines((yield* call(`${base}/v1/runs/llm-1/results?status=failed`)).text)
        expect(failedLines.map((l) => l.key)).toEqual(items.filter((i) => "fail" in i).map((i) => i.id))
        for (const l of failedLines) expect(l.error).toMatchObject({ tag: "Transient", attempts: 1 })

        failing = false
        const retried = yield* post(`${base}/v1/runs/llm-1/retry`, "")
        expect(retried.status).toBe(200)
        expect(retried.json).toEqual({ run: "llm-1", requeued: failures })
        const second = yield* waitDone(base, "llm-1")
        expect(second.counts).toEqual({ pending: 0, processing: 0, completed: 30, skipped: 0, failed: 0 })

        const all = lines((yield* call(`${base}/v1/runs/llm-1/results`)).text)
        expect(all).toEqual(
          items.map((item, i) => ({ seq: i, key: item.id, status: "completed", output: expected(item) }))
        )
        // Each item that succeeded the first time went upstream once; each failed one twice.
        const sent = new Map<string, number>()
        for (const e of yield* sim.log) sent.set(e.content, (sent.get(e.content) ?? 0) + 1)
        for (const item of items) expect(sent.get(JSON.stringify(item))).toBe("fail" in item ? 2 : 1)
        // Nothing left to retry.
        expect((yield* post(`${base}/v1/runs/llm-1/retry`, "")).json.requeued).toBe(0)
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "bad requests: 400 naming the field or line, 413 over --max-body (declared or chunked), 415, 404; none creates a run (real HTTP on 127.0.0.1)",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const base = yield* start(path.join(dir, "s.db"), { maxBodyBytes: 2048, defaults: { processor: "echo" } })
        const runs = `${base}/v1/runs`

        const field = yield* post(runs, JSON.stringify({ items: [1], options: { concurrency: 0 } }))
        expect(field.status).toBe(400)
        expect(field.json._tag).toBe("InvalidRequest")
        expect(field.json.message).toContain("options.concurrency: Expected a positive integer")

        const typo = yield* post(runs, JSON.stringify({ items: [1], options: { procesor: "echo" } }))
        expect(typo.status).toBe(400)
        expect(typo.json.message).toContain("options.procesor: is unexpected")

        const model = yield* post(runs, JSON.stringify({ items: [1], options: { processor: "gpt" } }))
        expect(model.status).toBe(400)
        expect(model.json.message).toContain("options.processor")

        const missing = yield* post(runs, JSON.stringify({ options: {} }))
        expect(missing.status).toBe(400)
        expect(missing.json.message).toContain("items: is missing")

        const notArray = yield* post(runs, JSON.stringify({ items: "x" }))
        expect(notArray.json.message).toMatch(/^items: /)

        const empty = yield* post(runs, "[]")
        expect(empty.status).toBe(400)
        expect(empty.json.message).toBe("items: expected at least one item")

        const notJson = yield* post(runs, "{nope")
        expect(notJson.status).toBe(400)
        expect(notJson.json.message).toMatch(/^the body is not valid JSON/)

        const badLine = yield* post(runs, '{"a":1}\n{"a":\n', "application/x-ndjson")
        expect(badLine.status).toBe(400)
        expect(badLine.json.message).toMatch(/^line 2: not valid JSON/)

        const badQuery = yield* post(`${runs}?maxTokens=-3`, '{"a":1}\n', "application/x-ndjson")
        expect(badQuery.status).toBe(400)
        expect(badQuery.text).toContain("maxTokens")

        const big = JSON.stringify({ items: Array.from({ length: 200 }, (_, i) => ({ i, pad: "x".repeat(20) })) })
        expect(big.length).toBeGreaterThan(2048)
        const declared = yield* post(runs, big)
        expect(declared.status).toBe(413)
        expect(declared.json).toMatchObject({ _tag: "PayloadTooLarge", limitBytes: 2048 })

        // No content-length: the limit is found while reading.
        const chunked = yield* call(runs, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: new ReadableStream({
            start(controller) {
              for (let i = 0; i < 8; i++)
                controller.enqueue(new TextEncoder().encode(big.slice(i * 1024, (i + 1) * 1024)))
              controller.close()
            }
          }),
          duplex: "half"
        } as RequestInit)
        expect(chunked.status).toBe(413)

        const media = yield* post(runs, "a,b\n1,2\n", "text/csv")
        expect(media.status).toBe(415)

        for (const url of [`${runs}/nope`, `${runs}/nope/results`]) {
          const r = yield* call(url)
          expect(r.status).toBe(404)
          expect(r.json).toMatchObject({ _tag: "RunNotFound", run: "nope" })
        }
        expect((yield* post(`${runs}/nope/retry`, "")).status).toBe(404)

        // The service still answers, and nothing was created.
        expect((yield* call(runs)).json).toEqual({ runs: [] })
        const ok = yield* post(runs, JSON.stringify([{ id: "fine" }]))
        expect(ok.status).toBe(202)
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "health, readiness, OpenAPI at /docs/openapi.json, and /docs and / as self-contained pages (real HTTP on 127.0.0.1)",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const base = yield* start(path.join(dir, "s.db"))
        expect((yield* call(`${base}/healthz`)).json).toEqual({ status: "ok" })
        const ready = yield* call(`${base}/readyz`)
        expect(ready.status).toBe(200)
        expect(ready.json).toEqual({ ready: true, store: true, workers: "running" })

        const spec = yield* call(`${base}/docs/openapi.json`)
        expect(spec.status).toBe(200)
        expect(spec.json.openapi).toMatch(/^3\./)
        expect(Object.keys(spec.json.paths).sort()).toEqual(
          [
            "/healthz",
            "/metrics",
            "/readyz",
            "/v1/runs",
            "/v1/runs/{id}",
            "/v1/runs/{id}/results",
            "/v1/runs/{id}/retry"
          ].sort()
        )
        expect(Object.keys(spec.json.paths["/v1/runs"].post.requestBody.content).sort()).toEqual([
          "application/json",
          "application/x-ndjson"
        ])
        expect(spec.json.paths["/v1/runs"].post.responses["202"]).toBeDefined()
        expect(spec.json.components.securitySchemes.bearer).toMatchObject({ type: "http", scheme: "bearer" })

        // No script, stylesheet or image from another host: both pages work with no network.
        const external = /<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*["']?(?:https?:)?\/\//i
        const docs = yield* call(`${base}/docs`)
        expect(docs.status).toBe(200)
        expect(docs.headers.get("content-type")).toMatch(/text\/html/)
        expect(docs.text).toContain("SwaggerUIBundle")
        expect(docs.text).not.toMatch(external)
        expect(docs.text).not.toMatch(/cdn\.jsdelivr|unpkg\.com|cdnjs/)

        const dashboard = yield* call(`${base}/`)
        expect(dashboard.status).toBe(200)
        expect(dashboard.headers.get("content-type")).toMatch(/text\/html/)
        // The home page refreshes itself from its own live endpoint (server-rendered panels).
        expect(dashboard.text).toContain('const url = "/runs.live?page=1"')
        const live = yield* call(`${base}/runs.live?page=1`)
        expect(live.status).toBe(200)
        expect(JSON.parse(live.text)).toHaveProperty("panels")
        expect(dashboard.text).not.toMatch(external)
      }),
    { timeout: 60_000 }
  )
})
