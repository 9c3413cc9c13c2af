/**
 * The bad-input sweep (../shared/notes/bad-input-sweep.md), over HTTP: the service in this process on
 * a free port of 127.0.0.1, against a temporary SQLite file. Every wait is bounded.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Logger, LogLevel } from "effect"
import * as fs from "node:fs"
import * as http from "node:http"
import * as path from "node:path"
import * as Compose from "../../src/Cli/Compose.js"
import * as Service from "../../src/Service/Service.js"
import { tempDir } from "../support/Temp.js"

const start = (db: string, options: Service.ServiceOptions = {}) =>
  Layer.build(
    Service.layer({ host: "127.0.0.1", port: 0, pollMs: 50, ...options }).pipe(
      Layer.provide(
        Compose.llm({ baseUrl: "http://127.0.0.1:9/v1", timeoutMs: 10_000, rpm: 60_000, tpm: 0, cache: false }, { db })
      ),
      Layer.provide(Compose.store(db))
    )
  ).pipe(
    Effect.map((ctx) => Context.get(ctx, Service.Service).url),
    Effect.orDie,
    Logger.withMinimumLogLevel(LogLevel.Error)
  )

const call = (url: string, init: RequestInit = {}) =>
  Effect.promise(async () => {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(15_000) })
    const text = await res.text()
    let json: any = undefined
    try {
      json = JSON.parse(text)
    } catch {
      // not JSON
    }
    return { status: res.status, text, json }
  })

const post = (url: string, body: string, contentType = "application/json") =>
  call(url, { method: "POST", body, headers: { "content-type": contentType } })

const lines = (text: string) =>
  text
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l))

const waitDone = (base: string, run: string) =>
  Effect.gen(function* () {
    const deadline = Date.now() + 30_000
    while (true) {
      const r = yield* call(`${base}/v1/runs/${run}`)
      if (r.status === 200 && r.json.done === true) return r.json
      if (Date.now() > deadline) return yield* Effect.die(new Error(`run ${run} not done: ${r.text}`))
      yield* Effect.sleep("50 millis")
    }
  })

describe("bad input over HTTP (real HTTP on 127.0.0.1)", () => {
  it.scopedLive("D3: id-less items sent to one run in several requests are all recorded and processed once", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const base = yield* start(path.join(dir, "s.db"))
      const first = yield* post(
        `${base}/v1/runs`,
        JSON.stringify({ items: [{ n: 1 }], options: { run: "batches", processor: "echo" } })
      )
      expect(first.status).toBe(202)
      expect(first.json).toMatchObject({ recorded: 1, total: 1 })
      // Another JSON batch, then a JSONL one: their first items sit where the earlier batches' did.
      const second = yield* post(
        `${base}/v1/runs`,
        JSON.stringify({ items: [{ n: 2 }, { n: 3 }, { n: 4 }], options: { run: "batches" } })
      )
      expect(second.status).toBe(202)
      expect(second.json).toMatchObject({ recorded: 3, total: 4 })
      const third = yield* post(`${base}/v1/runs?run=batches`, '{"n":5}\n{"n":6}\n', "application/x-ndjson")
      expect(third.status).toBe(202)
      expect(third.json).toMatchObject({ recorded: 2, total: 6 })
      yield* waitDone(base, "batches")
      const results = lines((yield* call(`${base}/v1/runs/batches/results`)).text)
      expect(results.map((r) => r.output.n)).toEqual([1, 2, 3, 4, 5, 6])
      expect(results.every((r) => r.status === "completed")).toBe(true)
      expect(new Set(results.map((r) => r.key)).size).toBe(6)
    })
  )

  it.scopedLive(
    "D14: items sent to an existing run with other settings get 409 naming them; the run is unchanged",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const base = yield* start(path.join(dir, "s.db"))
        const first = yield* post(
          `${base}/v1/runs`,
          JSON.stringify({ items: [{ id: "a" }], options: { run: "settled", processor: "echo" } })
        )
        expect(first.status).toBe(202)
        const other = yield* post(
          `${base}/v1/runs`,
          JSON.stringify({ items: [{ id: "b" }], options: { run: "settled", processor: "llm", model: "gpt-4o" } })
        )
        expect(other.status).toBe(409)
        expect(other.json._tag).toBe("RunConflict")
        expect(other.json.message).toContain("processor")
        expect(other.json.message).toContain("model")
        // The same settings, or none: accepted.
        const same = yield* post(
          `${base}/v1/runs`,
          JSON.stringify({ items: [{ id: "c" }], options: { run: "settled", processor: "echo" } })
        )
        expect(same.status).toBe(202)
        const none = yield* post(`${base}/v1/runs?run=settled`, '{"id":"d"}\n', "application/x-ndjson")
        expect(none.status).toBe(202)
        yield* waitDone(base, "settled")
        expect(lines((yield* call(`${base}/v1/runs/settled/results`)).text).map((r) => r.key)).toEqual(["a", "c", "d"])
      })
  )

  it.scopedLive(
    "a query string that fails its schema is a one-line InvalidRequest in the body errors' shape, naming the parameter (real HTTP on 127.0.0.1)",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const base = yield* start(path.join(dir, "s.db"), { defaults: { processor: "echo" } })
        const bad = yield* post(`${base}/v1/runs?maxTokens=-3`, '{"a":1}\n', "application/x-ndjson")
        expect(bad.status).toBe(400)
        expect(Object.keys(bad.json).sort()).toEqual(["_tag", "message"])
        expect(bad.json._tag).toBe("InvalidRequest")
        expect(bad.json.message).toMatch(/^maxTokens: /)
        expect(bad.json.message).not.toContain("\n")
        const limit = yield* call(`${base}/v1/runs?limit=zero`)
        expect(limit.status).toBe(400)
        expect(limit.json).toMatchObject({ _tag: "InvalidRequest", message: expect.stringMatching(/^limit: /) })
        const status = yield* call(`${base}/v1/runs/x/results?status=done`)
        expect(status.status).toBe(400)
        expect(status.json.message).toMatch(/^status: /)
        // Nothing was created.
        expect((yield* call(`${base}/v1/runs`)).json).toEqual({ runs: [] })
      }),
    { timeout: 30_000 }
  )

  it.scopedLive(
    "a known path asked with another method answers 405 with Allow and a message; an unknown path is still 404 (real HTTP on 127.0.0.1)",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const base = yield* start(path.join(dir, "s.db"), { defaults: { processor: "echo" } })
        const del = yield* Effect.promise(() =>
          fetch(`${base}/v1/runs`, { method: "DELETE", signal: AbortSignal.timeout(10_000) })
        )
        expect(del.status).toBe(405)
        expect(del.headers.get("allow")).toBe("GET, POST, HEAD")
        expect(yield* Effect.promise(() => del.json())).toEqual({
          _tag: "MethodNotAllowed",
          message: "DELETE is not allowed on /v1/runs; it takes GET or POST"
        })
        const retry = yield* call(`${base}/v1/runs/r1/retry`)
        expect(retry.status).toBe(405)
        expect(retry.json.message).toBe("GET is not allowed on /v1/runs/r1/retry; it takes POST")
        const put = yield* call(`${base}/v1/runs/r1`, { method: "PUT", body: "{}" })
        expect(put.status).toBe(405)
        expect((yield* call(`${base}/v1/nothing-here`)).status).toBe(404)
      }),
    { timeout: 30_000 }
  )

  it.scopedLive(
    "an upload whose content-length is over --max-body gets its 413 from the header, while the client has sent almost none of it (real HTTP on 127.0.0.1)",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const base = new URL(yield* start(path.join(dir, "s.db"), { maxBodyBytes: 1024 * 1024 }))
        const declared = 20 * 1024 * 1024
        // 64 KiB of a declared 20 MiB, then nothing more: an answer can only come from the header.
        const answer = yield* Effect.async<{ status: number; connection: string | undefined; body: string }, Error>(
          (resume) => {
            const req = http.request(
              {
                host: base.hostname,
                port: base.port,
                path: "/v1/runs",
                method: "POST",
                headers: { "content-type": "application/json", "content-length": declared }
              },
              (res) => {
                let body = ""
                res.setEncoding("utf8")
                res.on("data", (c: string) => (body += c))
                res.on("end", () => {
                  req.destroy()
                  resume(Effect.succeed({ status: res.statusCode ?? 0, connection: res.headers.connection, body }))
                })
              }
            )
            req.on("error", (e) => resume(Effect.fail(e)))
            req.write("[" + " ".repeat(64 * 1024))
            return Effect.sync(() => req.destroy())
          }
        ).pipe(Effect.timeoutFail({ duration: "15 seconds", onTimeout: () => new Error("no answer before the body") }))
        expect(answer.status).toBe(413)
        // The connection closes: the client is not kept sending the rest.
        expect(answer.connection).toBe("close")
        expect(JSON.parse(answer.body)).toMatchObject({ _tag: "PayloadTooLarge", limitBytes: 1024 * 1024 })
      }),
    { timeout: 30_000 }
  )

  it.scopedLive(
    "OK cases: a run id that tries to leave its path is just an unknown run; a body that is not UTF-8 is a one-line 400; a wrong media type is 415; nothing is created (real HTTP on 127.0.0.1)",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const base = yield* start(path.join(dir, "s.db"), { defaults: { processor: "echo" } })
        // (A client resolves a bare %2e%2e itself: /v1/runs/%2e%2e/results is asked as /v1/results.)
        expect((yield* call(`${base}/v1/runs/%2e%2e/results`)).status).toBe(404)
        for (const id of ["..%2F..%2Fetc%2Fpasswd", "..%5c..%5cs.db"]) {
          const r = yield* call(`${base}/v1/runs/${id}/results`)
          expect(r.status).toBe(404)
          expect(r.json._tag).toBe("RunNotFound")
        }
        const latin1 = Buffer.from('{"id":"a","text":"caf\xe9"}\n', "latin1")
        const notUtf8 = yield* call(`${base}/v1/runs`, {
          method: "POST",
          body: latin1,
          headers: { "content-type": "application/x-ndjson" }
        })
        expect(notUtf8.status).toBe(400)
        expect(notUtf8.json._tag).toBe("InvalidRequest")
        expect(notUtf8.json.message).not.toContain("\n")
        const media = yield* post(`${base}/v1/runs`, "<items/>", "application/xml")
        expect(media.status).toBe(415)
        expect(media.json._tag).toBe("UnsupportedMediaType")
        expect((yield* call(`${base}/v1/runs`)).json).toEqual({ runs: [] })
        expect(fs.readdirSync(dir).filter((f) => !f.startsWith("s.db"))).toEqual([])
      }),
    { timeout: 30_000 }
  )

  it.scopedLive(
    "OK case: a 10 MB JSONL body under the default --max-body is recorded whole, every item in order (real HTTP on 127.0.0.1)",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const base = yield* start(path.join(dir, "s.db"), { defaults: { processor: "echo" } })
        const n = 2_000
        const pad = "x".repeat(5_000)
        const body = Array.from({ length: n }, (_, i) => JSON.stringify({ id: `b${i}`, pad })).join("\n") + "\n"
        expect(body.length).toBeGreaterThan(10_000_000)
        const created = yield* post(`${base}/v1/runs`, body, "application/x-ndjson")
        expect(created.status).toBe(202)
        const run = created.json.run as string
        const done = yield* waitDone(base, run)
        expect(done.counts.completed).toBe(n)
        const keys = lines((yield* call(`${base}/v1/runs/${run}/results`)).text).map((l) => l.key)
        expect(keys).toEqual(Array.from({ length: n }, (_, i) => `b${i}`))
      }),
    { timeout: 60_000 }
  )
})
