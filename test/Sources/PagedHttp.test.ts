/**
 * The paged HTTP source against a scripted server on 127.0.0.1 (real loopback, real time: it.scopedLive).
 * Every wait here is a few tens of milliseconds, and every test is bounded by TIMEOUT.
 */
import { HttpClientRequest } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Exit, Layer, Schedule, Schema, Stream } from "effect"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import type { SourceRecord } from "../../src/Domain/Item.js"
import * as PagedHttp from "../../src/Sources/PagedHttp.js"
import { Fetcher } from "../../src/Stages/Fetcher.js"

const TIMEOUT = 15_000

interface Reply {
  readonly status?: number
  readonly body?: unknown
  readonly raw?: string
  readonly headers?: Record<string, string>
}

/** A server answering each request with `handler(url, n)` (n counts requests from 1); it logs every URL. */
const serve = (handler: (url: URL, n: number, base: string) => Reply) =>
  Effect.gen(function* () {
    const requests: Array<URL> = []
    let base = ""
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const url = new URL(req.url ?? "/", "http://127.0.0.1")
      requests.push(url)
      const reply = handler(url, requests.length, base)
      const text = reply.raw ?? JSON.stringify(reply.body ?? {})
      res.writeHead(reply.status ?? 200, { "content-type": "application/json", ...reply.headers })
      res.end(text)
    })
    const port = yield* Effect.acquireRelease(
      Effect.async<number>((resume) => {
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed((server.address() as AddressInfo).port)))
      }),
      () =>
        Effect.async<void>((resume) => {
          server.close(() => resume(Effect.void))
          server.closeAllConnections()
        })
    )
    base = `http://127.0.0.1:${port}`
    return { url: base, requests }
  })

const Item = Schema.Struct({ id: Schema.String, n: Schema.Number })
const Page = Schema.Struct({ items: Schema.Array(Schema.Unknown), next: Schema.NullOr(Schema.String) })

/** `total` items `{ id: "i<k>", n: k }`, `size` a page, cursor = index of the next item as a string. */
const pages =
  (total: number, size: number) =>
  (url: URL): Reply => {
    const start = Number(url.searchParams.get("cursor") ?? "0")
    const items = Array.from({ length: Math.max(0, Math.min(size, total - start)) }, (_, i) => ({
      id: `i${start + i}`,
      n: start + i
    }))
    return { body: { items, next: start + size < total ? String(start + size) : null } }
  }

const fast = Schedule.spaced("10 millis").pipe(Schedule.intersect(Schedule.recurs(2)))

const options = (
  url: string,
  overrides: Partial<PagedHttp.PagedHttpOptions<typeof Page.Type, typeof Item.Type>> = {}
) =>
  ({
    request: `${url}/items?limit=100`,
    page: Page,
    items: (p: typeof Page.Type) => p.items,
    next: (p: typeof Page.Type) => p.next,
    item: Item,
    key: (i: typeof Item.Type) => i.id,
    retry: fast,
    ...overrides
  }) satisfies PagedHttp.PagedHttpOptions<typeof Page.Type, typeof Item.Type>

const collect = (o: PagedHttp.PagedHttpOptions<any, any>) =>
  PagedHttp.records(o).pipe(
    Stream.runCollect,
    Effect.map(Chunk.toReadonlyArray),
    Effect.provide(NodeHttpClient.layerUndici)
  )

const keys = (records: ReadonlyArray<SourceRecord>) => records.map((r) => r.key)

describe("PagedHttp (real loopback server, real time)", () => {
  it.scopedLive(
    "follows the cursor across pages, in order, keeping the first URL's query; records carry their position",
    () =>
      Effect.gen(function* () {
        const server = yield* serve(pages(250, 100))
        const records = yield* collect(options(server.url))
        expect(keys(records)).toEqual(Array.from({ length: 250 }, (_, i) => `i${i}`))
        expect(records[0]).toEqual({
          _tag: "Record",
          key: "i0",
          payload: { id: "i0", n: 0 },
          ordinal: undefined,
          line: 1
        })
        expect(records[249]!._tag === "Record" && records[249]!.line).toBe(250)
        expect(server.requests.map((u) => u.search)).toEqual([
          "?limit=100",
          "?limit=100&cursor=100",
          "?limit=100&cursor=200"
        ])
      }),
    TIMEOUT
  )

  it.scopedLive(
    "follows a next link that is a whole URL; a request function gets each cursor",
    () =>
      Effect.gen(function* () {
        const linking = yield* serve((url, _n, base) => {
          const start = Number(url.searchParams.get("page") ?? "0")
          const r = pages(5, 2)(new URL(`${base}/items?cursor=${start}`))
          const body = r.body as { items: Array<unknown>; next: string | null }
          return { body: { ...body, next: body.next === null ? null : `${base}/items?page=${body.next}` } }
        })
        const linked = yield* collect(options(linking.url, { request: `${linking.url}/items` }))
        expect(keys(linked)).toEqual(["i0", "i1", "i2", "i3", "i4"])
        expect(linking.requests.map((u) => u.search)).toEqual(["", "?page=2", "?page=4"])

        const server = yield* serve(pages(5, 2))
        const seen: Array<string | undefined> = []
        const built = yield* collect(
          options(server.url, {
            request: (cursor) => {
              seen.push(cursor)
              return HttpClientRequest.get(`${server.url}/items`, { urlParams: { cursor: cursor ?? "0" } })
            }
          })
        )
        expect(keys(built)).toEqual(["i0", "i1", "i2", "i3", "i4"])
        expect(seen).toEqual([undefined, "2", "4"])
      }),
    TIMEOUT
  )

  it.scopedLive(
    "streams page by page: taking 150 of 500 items asks for 2 pages, and a page is asked for only after the previous one is consumed",
    () =>
      Effect.gen(function* () {
        const server = yield* serve(pages(500, 100))
        const consumedAtRequest: Array<number> = []
        let consumed = 0
        const taken = yield* PagedHttp.records(
          options(server.url, {
            request: (cursor) => {
              consumedAtRequest.push(consumed)
              return `${server.url}/items${cursor === undefined ? "" : `?cursor=${cursor}`}`
            }
          })
        ).pipe(
          Stream.tap(() => Effect.sync(() => consumed++)),
          Stream.take(150),
          Stream.runCollect,
          Effect.provide(NodeHttpClient.layerUndici)
        )
        expect(Chunk.size(taken)).toBe(150)
        expect(server.requests.length).toBe(2)
        expect(consumedAtRequest).toEqual([0, 100])
      }),
    TIMEOUT
  )

  it.scopedLive(
    "429 waits the retry-after it names (spending no retry) and then goes on",
    () =>
      Effect.gen(function* () {
        const server = yield* serve((url, n) =>
          n >= 2 && n <= 4 // the second page's first three tries
            ? { status: 429, body: { error: "slow down" }, headers: { "retry-after-ms": "60" } }
            : pages(150, 100)(url)
        )
        const started = Date.now()
        // The transient retry allows only 2 retries: 3 429s in a row pass because they do not spend them.
        const records = yield* collect(options(server.url))
        expect(records.length).toBe(150)
        expect(Date.now() - started).toBeGreaterThanOrEqual(3 * 60 - 5)
        expect(server.requests.length).toBe(5)
      }),
    TIMEOUT
  )

  it.scopedLive(
    "429 past maxRateLimitWaits fails as RateLimited with the wait; 5xx past the retry Schedule fails as Transient; 404 fails as Invalid at once",
    () =>
      Effect.gen(function* () {
        const limited = yield* serve(() => ({ status: 429, body: {}, headers: { "retry-after": "0" } }))
        const e1 = yield* Effect.flip(collect(options(limited.url, { maxRateLimitWaits: 2 })))
        expect(e1._tag).toBe("RateLimited")
        expect(e1._tag === "RateLimited" && e1.retryAfterMs).toBe(0)
        expect(limited.requests.length).toBe(3)

        const broken = yield* serve(() => ({ status: 500, raw: "<html>Internal Server Error</html>" }))
        const e2 = yield* Effect.flip(collect(options(broken.url)))
        expect(e2._tag).toBe("Transient")
        expect(e2._tag === "Transient" && e2.status).toBe(500)
        expect(e2.message).toContain("Internal Server Error")
        expect(broken.requests.length).toBe(3) // the first try and the Schedule's 2 retries

        const missing = yield* serve(() => ({ status: 404, body: { error: "no such list" } }))
        const e3 = yield* Effect.flip(collect(options(missing.url)))
        expect(e3._tag).toBe("Invalid")
        expect(e3._tag === "Invalid" && e3.status).toBe(404)
        expect(missing.requests.length).toBe(1)
      }),
    TIMEOUT
  )

  it.scopedLive(
    "a 503 then success is retried; a body that is not JSON is Transient; a page off its Schema is Invalid; a refused connection is Transient",
    () =>
      Effect.gen(function* () {
        const blip = yield* serve((url, n) => (n === 2 ? { status: 503, body: {} } : pages(150, 100)(url)))
        expect((yield* collect(options(blip.url))).length).toBe(150)
        expect(blip.requests.length).toBe(3)

        const garbled = yield* serve(() => ({ raw: "{not json" }))
        const e1 = yield* Effect.flip(collect(options(garbled.url)))
        expect(e1._tag === "Transient" && e1.reason).toBe("Decode")

        const offSchema = yield* serve(() => ({ body: { results: [] } }))
        const e2 = yield* Effect.flip(collect(options(offSchema.url)))
        expect(e2._tag === "Invalid" && e2.reason).toBe("Input")
        expect(offSchema.requests.length).toBe(1)

        const e3 = yield* Effect.flip(collect(options("http://127.0.0.1:1")))
        expect(e3._tag === "Transient" && e3.reason).toBe("Connection")
      }),
    TIMEOUT
  )

  it.scopedLive(
    "an item off its Schema becomes Malformed with its position, and the listing goes on; a cursor handed out twice stops it as Invalid",
    () =>
      Effect.gen(function* () {
        const server = yield* serve(() => ({
          body: { items: [{ id: "a", n: 1 }, { id: "b", n: "two" }, { n: 3 }], next: null }
        }))
        const records = yield* collect(options(server.url))
        expect(records.map((r) => [r._tag, r.key, r.line])).toEqual([
          ["Record", "a", 1],
          ["Malformed", "b", 2],
          ["Malformed", "item:3", 3]
        ])

        const looping = yield* serve(() => ({ body: { items: [{ id: "x", n: 0 }], next: "same" } }))
        const exit = yield* Effect.exit(collect(options(looping.url)))
        expect(Exit.isFailure(exit)).toBe(true)
        const error = yield* Effect.flip(collect(options(looping.url)))
        expect(error._tag).toBe("Invalid")
        expect(error.message).toContain("twice")
      }),
    TIMEOUT
  )

  it.scopedLive(
    "expand: a per-item sub-fetch becomes the payload, with the source's retries",
    () =>
      Effect.gen(function* () {
        const server = yield* serve((url, n) => {
          const m = /^\/items\/(\w+)\/detail$/.exec(url.pathname)
          if (m !== null) return n === 2 ? { status: 502, body: {} } : { body: { id: m[1], detail: `about ${m[1]}` } }
          return pages(3, 100)(url)
        })
        const Detail = Schema.Struct({ id: Schema.String, detail: Schema.String })
        const records = yield* collect(
          options(server.url, {
            expand: (item, fetch) => fetch(`${server.url}/items/${item.id}/detail`, Detail),
            expandConcurrency: 1
          })
        )
        expect(records.map((r) => (r._tag === "Record" ? r.payload : null))).toEqual([
          { id: "i0", detail: "about i0" },
          { id: "i1", detail: "about i1" },
          { id: "i2", detail: "about i2" }
        ])
        expect(server.requests.length).toBe(5) // the page, a 502 and its retry, two more
      }),
    TIMEOUT
  )

  it.scopedLive(
    "layer: a live Fetcher over the HttpClient it is given",
    () =>
      Effect.gen(function* () {
        const server = yield* serve(pages(3, 2))
        // The stream runs inside the layer's scope: the HTTP client closes with it.
        const { live, records } = yield* Effect.gen(function* () {
          const fetcher = yield* Fetcher
          return { live: fetcher.live, records: yield* Stream.runCollect(fetcher.records) }
        }).pipe(Effect.provide(PagedHttp.layer(options(server.url)).pipe(Layer.provide(NodeHttpClient.layerUndici))))
        expect(live).toBe(true)
        expect(keys(Chunk.toReadonlyArray(records))).toEqual(["i0", "i1", "i2"])
      }),
    TIMEOUT
  )
})

describe("PagedHttp.retryAfterMs", () => {
  it("prefers retry-after-ms, then seconds, then an HTTP date", () => {
    expect(PagedHttp.retryAfterMs({ "retry-after-ms": "250", "retry-after": "3" })).toBe(250)
    expect(PagedHttp.retryAfterMs({ "retry-after": "3" })).toBe(3000)
    expect(PagedHttp.retryAfterMs({ "retry-after": new Date(10_000).toUTCString() }, 4_000)).toBe(6000)
    expect(PagedHttp.retryAfterMs({ "retry-after": "soon" })).toBeUndefined()
    expect(PagedHttp.retryAfterMs({})).toBeUndefined()
  })
})
