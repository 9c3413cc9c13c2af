/**
 * The one upstream mapping (`src/Domain/Upstream.ts`): every HTTP adapter gives the same answer the
 * same error, reads `retry-after` the same way, and hands on what failed underneath as `cause`.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Redacted, Schema } from "effect"
import { Policy } from "../../src/index.js"
import * as Upstream from "../../src/Domain/Upstream.js"
import * as OpenAi from "../../src/Llm/OpenAi.js"
import * as PagedHttp from "../../src/Sources/PagedHttp.js"
import { freePort } from "../support/Net.js"

const none: Upstream.HeaderGetter = () => undefined

describe("Upstream.fromStatus", () => {
  it("maps each status to one error and one action", () => {
    const cases: Array<[number, string, Policy.Action["_tag"]]> = [
      [429, "RateLimited", "Pause"],
      [401, "UpstreamUnusable", "Stop"],
      [403, "UpstreamUnusable", "Stop"],
      [408, "Transient", "Retry"],
      [409, "Transient", "Retry"],
      [500, "Transient", "Retry"],
      [503, "Transient", "Retry"],
      [400, "Invalid", "Fail"],
      [404, "Invalid", "Fail"],
      [422, "Invalid", "Fail"]
    ]
    for (const [status, tag, action] of cases) {
      const error = Upstream.fromStatus(status, none, `answered ${status}`)
      expect([status, error._tag, Policy.decide(error)._tag]).toEqual([status, tag, action])
      // The paged HTTP source agrees (it used to fail a 409 that the OpenAI client retried).
      expect([status, PagedHttp.fromStatus(status, {}, `answered ${status}`)._tag]).toEqual([status, tag])
    }
  })

  it("reads retry-after once: milliseconds first, then seconds or a date; 1 s when a 429 names none", () => {
    const at = (headers: Record<string, string>) => Upstream.fromRecord(headers)
    expect(Upstream.retryAfterMs(at({ "retry-after-ms": "250", "retry-after": "3" }))).toBe(250)
    expect(Upstream.retryAfterMs(at({ "retry-after": "3" }))).toBe(3000)
    expect(Upstream.retryAfterMs(at({ "retry-after": new Date(10_000).toUTCString() }), 4_000)).toBe(6000)
    expect(Upstream.retryAfterMs(at({ "retry-after": "soon" }))).toBeUndefined()
    const limited = Upstream.fromStatus(429, none, "slow down")
    expect(limited._tag === "RateLimited" && limited.retryAfterMs).toBe(Upstream.DEFAULT_RETRY_AFTER_MS)
    const busy = Upstream.fromStatus(503, at({ "retry-after": "2" }), "busy")
    expect(busy._tag === "Transient" && busy.retryAfterMs).toBe(2000)
  })

  it("carries the cause, except for a refused credential, whose message keeps none of the upstream's words", () => {
    const underneath = new Error("the client's error")
    expect(Upstream.fromStatus(404, none, "no such thing", { cause: underneath }).cause).toBe(underneath)
    expect(Upstream.fromStatus(503, none, "busy", { cause: underneath }).cause).toBe(underneath)
    const refused = Upstream.fromStatus(401, none, "Incorrect API key provided: sk-ab***yz", {
      cause: underneath,
      name: "helpdesk"
    })
    expect(refused).toMatchObject({ _tag: "UpstreamUnusable", reason: "Unauthorized", status: 401 })
    expect(refused.message).toBe("helpdesk rejected the credentials (401)")
    expect(refused.cause).toBeUndefined()
  })
})

describe("errors carry their cause", () => {
  it.scopedLive(
    "a refused connection: the paged HTTP source and the OpenAI client both keep what failed underneath",
    () =>
      Effect.gen(function* () {
        const port = yield* freePort
        const paged = yield* Effect.flip(
          Effect.flatMap(HttpClient.HttpClient, (client) =>
            PagedHttp.fetchJson(client, `http://127.0.0.1:${port}/x`, Schema.Unknown)
          )
        ).pipe(Effect.provide(NodeHttpClient.layerUndici))
        expect(paged).toMatchObject({ _tag: "Transient", reason: "Connection" })
        expect(paged.cause).toBeInstanceOf(Error)

        const key = "sk-secret-key-0123456789"
        const llm = OpenAi.make({ baseUrl: `http://127.0.0.1:${port}/v1`, apiKey: Redacted.make(key) })
        const error = yield* Effect.flip(llm.complete({ model: "m", messages: [{ role: "user", content: "hi" }] }))
        expect(error).toMatchObject({ _tag: "Transient", reason: "Connection" })
        expect(error.cause).toBeInstanceOf(Error)
        // The cause chain reaches the socket's own error, and nothing in it holds the key.
        const chain: Array<string> = []
        for (let c: unknown = error.cause; c instanceof Error; c = c.cause) chain.push(`${c.name}: ${c.message}`)
        expect(chain.join(" ← ")).toContain("ECONNREFUSED")
        expect(JSON.stringify(chain)).not.toContain(key)
      })
  )
})
