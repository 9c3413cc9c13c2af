/**
 * `POST /runs` (the dashboard's upload) on a service with a token, in this process over real HTTP on
 * 127.0.0.1: refused without the token, a 303 to the run's page with it, and a one-line 4xx for a file
 * that is neither JSONL nor CSV. Every wait is bounded.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Logger, LogLevel, Redacted } from "effect"
import * as path from "node:path"
import * as Compose from "../../src/Cli/Compose.js"
import * as Service from "../../src/Service/Service.js"
import { tempDir } from "../support/Temp.js"

const TOKEN = "a-token-of-at-least-sixteen-chars"

const post = (url: string, file: { name: string; type: string; text: string }, auth?: string) =>
  Effect.promise(async () => {
    const form = new FormData()
    form.set("processor", "echo")
    form.set("file", new Blob([file.text], { type: file.type }), file.name)
    const res = await fetch(url, {
      method: "POST",
      body: form,
      redirect: "manual",
      headers: auth === undefined ? {} : { authorization: auth },
      signal: AbortSignal.timeout(10_000)
    })
    return { status: res.status, location: res.headers.get("location"), text: await res.text() }
  })

describe("POST /runs, the dashboard's upload (real HTTP on 127.0.0.1)", () => {
  it.scopedLive(
    "needs the token when one is set; answers 303 to the run; refuses other files in one line",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const db = path.join(dir, "s.db")
        const base = yield* Layer.build(
          Service.layer({ port: 0, pollMs: 50, token: Redacted.make(TOKEN), defaults: { processor: "echo" } }).pipe(
            Layer.provide(
              Compose.llm({ baseUrl: "http://127.0.0.1:9/v1", timeoutMs: 1_000, rpm: 0, tpm: 0, cache: false }, { db })
            ),
            Layer.provide(Compose.store(db))
          )
        ).pipe(
          Effect.map((ctx) => Context.get(ctx, Service.Service).url),
          Effect.orDie,
          Logger.withMinimumLogLevel(LogLevel.Warning)
        )
        const csv = { name: "loans.csv", type: "text/csv", text: "id,amount\nA,1\nB,2\nC,3,extra\n" }

        const refused = yield* post(`${base}/runs`, csv)
        expect(refused.status).toBe(401)
        expect(refused.text.trim().split("\n")).toHaveLength(1)
        expect(refused.text).toContain("token")

        const ok = yield* post(`${base}/runs`, csv, `Bearer ${TOKEN}`)
        expect(ok.status).toBe(303)
        expect(ok.location).toMatch(/^\/runs\/loans-\d{8}T\d{6}Z-[0-9a-f]{6}$/)
        const run = decodeURIComponent(ok.location!.split("/")[2]!)
        const view = yield* Effect.promise(() =>
          fetch(`${base}/v1/runs/${encodeURIComponent(run)}`, { headers: { authorization: `Bearer ${TOKEN}` } }).then(
            (r) => r.json() as Promise<{ total: number; counts: { failed: number } }>
          )
        )
        expect(view.total).toBe(3)
        expect(view.counts.failed).toBe(1)

        for (const [file, status, says] of [
          [{ name: "photo.png", type: "image/png", text: "\u0089PNG" }, 415, "neither JSONL"],
          [{ name: "items.jsonl", type: "application/x-ndjson", text: "hello\n" }, 400, "line 1 is not JSON"],
          [{ name: "empty.csv", type: "text/csv", text: "" }, 400, "is empty"]
        ] as const) {
          const r = yield* post(`${base}/runs`, file, `Bearer ${TOKEN}`)
          expect(r.status, file.name).toBe(status)
          expect(r.text.trim().split("\n"), file.name).toHaveLength(1)
          expect(r.text, file.name).toContain(says)
        }
      }),
    { timeout: 60_000 }
  )
})
