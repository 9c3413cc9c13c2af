/**
 * Who may call `sluice serve`: with a token, /v1 and /metrics need `Authorization: Bearer <token>`;
 * without one, the service refuses any address but loopback. Real HTTP on 127.0.0.1 only: the refusal
 * is checked before anything listens, so no test binds a public address. Every wait is bounded.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Duration, Effect, Exit, Layer, Logger, LogLevel, Redacted } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Compose from "../../src/Cli/Compose.js"
import { isLoopback } from "../../src/Http/Auth.js"
import * as Service from "../../src/Service/Service.js"
import { type CliResult, runCli, spawnScoped } from "../support/Cli.js"
import { tempDir } from "../support/Temp.js"

const TOKEN = "tok-7c1f0b9e-secret-marker"

const layerFor = (db: string, options: Service.ServiceOptions) =>
  Service.layer({ port: 0, ...options }).pipe(
    Layer.provide(
      Compose.llm({ baseUrl: "http://127.0.0.1:9/v1", timeoutMs: 5_000, rpm: 60_000, tpm: 0, cache: false }, { db })
    ),
    Layer.provide(Compose.store(db))
  )

const start = (db: string, options: Service.ServiceOptions) =>
  Layer.build(layerFor(db, options)).pipe(
    Effect.map((ctx) => Context.get(ctx, Service.Service).url),
    Effect.orDie,
    Logger.withMinimumLogLevel(LogLevel.Warning)
  )

const call = (url: string, init: RequestInit = {}) =>
  Effect.promise(async () => {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) })
    return { status: res.status, text: await res.text() }
  })

const withAuth = (value: string): RequestInit => ({ headers: { authorization: value } })

describe("sluice serve authorization (real HTTP on 127.0.0.1)", () => {
  it("isLoopback: only addresses this machine alone can reach", () => {
    for (const h of [
      "127.0.0.1",
      "127.3.2.1",
      "localhost",
      "LOCALHOST",
      "::1",
      "[::1]",
      "::ffff:127.0.0.1",
      "api.localhost"
    ]) {
      expect({ h, loopback: isLoopback(h) }).toEqual({ h, loopback: true })
    }
    for (const h of [
      "0.0.0.0",
      "::",
      "[::]",
      "192.168.1.10",
      "10.0.0.1",
      "example.com",
      "::ffff:10.0.0.1",
      "128.0.0.1",
      ""
    ]) {
      expect({ h, loopback: isLoopback(h) }).toEqual({ h, loopback: false })
    }
  })

  it.scopedLive(
    "with a token: /v1 and /metrics answer 401 without `Authorization: Bearer <token>` (wrong token, wrong scheme, no scheme); health and docs stay open; the dashboard asks for the token on a sign-in page (real HTTP on 127.0.0.1)",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const base = yield* start(path.join(dir, "s.db"), {
          host: "127.0.0.1",
          token: Redacted.make(TOKEN),
          defaults: { processor: "echo" }
        })
        const guarded = [`${base}/v1/runs`, `${base}/v1/runs/x`, `${base}/v1/runs/x/results`, `${base}/metrics`]
        const refused = [
          {},
          withAuth(`Bearer wrong-${TOKEN}`),
          withAuth(`Basic ${TOKEN}`),
          // The platform's decoder drops any first seven characters; the scheme must really be Bearer.
          withAuth(`Token: ${TOKEN}`),
          withAuth(TOKEN),
          withAuth(`Bearer ${TOKEN.slice(0, -1)}`)
        ]
        for (const url of guarded) {
          for (const init of refused) {
            const r = yield* call(url, init)
            expect({ url, status: r.status }).toEqual({ url, status: 401 })
            expect(JSON.parse(r.text)).toMatchObject({ _tag: "Unauthorized" })
            expect(r.text).not.toContain(TOKEN)
          }
        }
        const post = yield* call(`${base}/v1/runs`, {
          method: "POST",
          body: "[1]",
          headers: { "content-type": "application/json" }
        })
        expect(post.status).toBe(401)

        expect((yield* call(`${base}/v1/runs`, withAuth(`Bearer ${TOKEN}`))).text).toBe('{"runs":[]}')
        expect((yield* call(`${base}/v1/runs`, withAuth(`bearer  ${TOKEN}`))).status).toBe(200)
        expect((yield* call(`${base}/metrics`, withAuth(`Bearer ${TOKEN}`))).status).toBe(200)
        expect((yield* call(`${base}/v1/runs/x`, withAuth(`Bearer ${TOKEN}`))).status).toBe(404)
        const created = yield* call(`${base}/v1/runs`, {
          method: "POST",
          body: "[1]",
          headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}` }
        })
        expect(created.status).toBe(202)

        // The dashboard shows items' payloads and failure messages: without the token it answers the
        // sign-in form (401), never the page, and never echoes the token.
        const signIn = yield* call(`${base}/`)
        expect(signIn.status).toBe(401)
        expect(signIn.text).toContain('<form method="post" action="/login">')
        expect(signIn.text).not.toContain("<table")
        expect(signIn.text).not.toContain(TOKEN)
        expect((yield* call(`${base}/`, withAuth(`Bearer ${TOKEN}`))).status).toBe(200)
        for (const open of ["/healthz", "/readyz", "/docs/openapi.json"]) {
          expect({ open, status: (yield* call(`${base}${open}`)).status }).toEqual({ open, status: 200 })
        }
      }),
    { timeout: 30_000 }
  )

  it.scopedLive(
    "Service.layer refuses a non-loopback host without a token before it listens; loopback without a token is open (real HTTP on 127.0.0.1)",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        for (const host of ["0.0.0.0", "::", "192.0.2.1"]) {
          const exit = yield* Effect.exit(Effect.scoped(Layer.build(layerFor(path.join(dir, "s.db"), { host }))))
          expect(Exit.isFailure(exit)).toBe(true)
          if (Exit.isFailure(exit)) {
            const text = String(exit.cause)
            expect(text).toContain("ServiceError")
            expect(text).toContain(`refusing to listen on ${host} without a token`)
          }
        }
        const base = yield* start(path.join(dir, "open.db"), { host: "127.0.0.1" })
        expect((yield* call(`${base}/v1/runs`)).status).toBe(200)
      }),
    { timeout: 30_000 }
  )

  it.scopedLive(
    "`sluice serve --host 0.0.0.0` without SLUICE_TOKEN (or with an empty one, or one under 16 characters) exits 2 with a clear line and creates no database (real processes)",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const db = path.join(dir, "never.db")
        for (const env of [{}, { SLUICE_TOKEN: "" }]) {
          const r = yield* Effect.promise(() =>
            runCli(["serve", "--db", db, "--host", "0.0.0.0", "--port", "0"], { env, timeoutMs: 20_000 })
          )
          expect(r.code).toBe(2)
          expect(r.stderr).toContain("refusing to listen on 0.0.0.0 without a token")
          expect(r.stderr).toContain("SLUICE_TOKEN")
          expect(r.stderr).not.toMatch(/\n\s+at /)
        }
        // A token of 3 characters can be guessed: refused too, on any host, without showing it.
        for (const host of ["0.0.0.0", "127.0.0.1"]) {
          const r = yield* Effect.promise(() =>
            runCli(["serve", "--db", db, "--host", host, "--port", "0"], {
              env: { SLUICE_TOKEN: "abc" },
              timeoutMs: 20_000
            })
          )
          expect(r.code).toBe(2)
          expect(r.stderr.trim().split("\n")).toHaveLength(1)
          expect(r.stderr).toContain("SLUICE_TOKEN is too short (3 characters): use at least 16")
          expect(r.stderr).not.toContain("abc")
        }
        expect(fs.existsSync(db)).toBe(false)
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "the token appears in no log line, even at debug level with refused and accepted requests (real processes, real HTTP on 127.0.0.1)",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const p = yield* spawnScoped(["serve", "--db", path.join(dir, "s.db"), "--port", "0", "--processor", "echo"], {
          env: { SLUICE_TOKEN: TOKEN, SLUICE_LOG_LEVEL: "debug" }
        })
        const deadline = Date.now() + 20_000
        let base: string | undefined
        while (base === undefined) {
          base = /listening on (http:\/\/[^\s]+)/.exec(p.output().stderr)?.[1]
          if (base === undefined && Date.now() > deadline)
            return yield* Effect.die(new Error(`no start: ${p.output().stderr}`))
          yield* Effect.sleep("50 millis")
        }
        expect(p.output().stderr).toContain("token required")
        yield* call(`${base}/v1/runs`, withAuth(`Bearer nope`))
        yield* call(`${base}/v1/runs`, withAuth(`Bearer ${TOKEN}`))
        yield* call(`${base}/v1/runs`, {
          method: "POST",
          body: '{"items":[1,2]}',
          headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}` }
        })
        yield* call(`${base}/metrics`, withAuth(`Bearer ${TOKEN}x`))
        p.child.kill("SIGTERM")
        const done: CliResult = yield* Effect.promise(() => p.exited).pipe(
          Effect.timeoutFail({ duration: Duration.seconds(20), onTimeout: () => new Error("serve did not stop") }),
          Effect.orDie
        )
        expect(done.code).toBe(0)
        // Debug logging was on: the requests were logged, the token never.
        expect(done.stderr + done.stdout).toContain("/v1/runs")
        expect(done.stderr).not.toContain(TOKEN)
        expect(done.stdout).not.toContain(TOKEN)
      }),
    { timeout: 60_000 }
  )
})
