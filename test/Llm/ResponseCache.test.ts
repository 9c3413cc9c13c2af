import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { ChatRequest } from "../../src/Llm/Llm.js"
import * as ResponseCache from "../../src/Llm/ResponseCache.js"
import * as SqliteStore from "../../src/Store/SqliteStore.js"

const base: ChatRequest = {
  model: "gpt-4o-mini",
  messages: [
    { role: "system", content: "Extract tracking numbers." },
    { role: "user", content: "Your parcel 1Z999 ships today." }
  ],
  maxTokens: 100,
  temperature: 0,
  json: true
}

const answer: ResponseCache.CachedResponse = {
  content: '{"tracking":["1Z999"]}',
  output: { tracking: ["1Z999"] },
  usage: { promptTokens: 20, completionTokens: 7, totalTokens: 27 },
  model: "gpt-4o-mini-2024-07-18"
}

describe("hashRequest", () => {
  it("is a stable SHA-256 of model, messages and parameters", () => {
    const h = ResponseCache.hashRequest(base)
    assert.match(h, /^[0-9a-f]{64}$/)
    assert.strictEqual(ResponseCache.hashRequest({ ...base, messages: base.messages.map((m) => ({ ...m })) }), h)
    // Key order in the objects does not matter: the JSON is canonical.
    const reordered = {
      json: true,
      temperature: 0,
      maxTokens: 100,
      messages: base.messages.map((m) => ({ content: m.content, role: m.role })),
      model: "gpt-4o-mini"
    } satisfies ChatRequest
    assert.strictEqual(ResponseCache.hashRequest(reordered), h)
  })

  it("changes with every field that shapes the answer", () => {
    const h = ResponseCache.hashRequest(base)
    const variants: Array<ChatRequest> = [
      { ...base, model: "gpt-4o" },
      { ...base, messages: [base.messages[0]!, { role: "user", content: "Your parcel 1Z998 ships today." }] },
      { ...base, messages: [base.messages[0]!, { role: "assistant", content: base.messages[1]!.content }] },
      { ...base, messages: [base.messages[1]!, base.messages[0]!] },
      { ...base, maxTokens: 101 },
      { ...base, maxTokens: undefined },
      { ...base, temperature: 0.2 },
      { ...base, json: false }
    ]
    const hashes = variants.map(ResponseCache.hashRequest)
    for (const v of hashes) assert.notStrictEqual(v, h)
    assert.strictEqual(new Set(hashes).size, variants.length)
  })
})

/** One suite, run against every implementation of the port. */
const suite = (name: string, layer: () => Layer.Layer<ResponseCache.ResponseCache, unknown>) =>
  describe(`ResponseCache ${name}`, () => {
    it.scoped("misses, then answers what was put, with the output parsed again", () =>
      Effect.gen(function* () {
        const cache = yield* ResponseCache.ResponseCache
        const h = ResponseCache.hashRequest(base)
        assert.isTrue(Option.isNone(yield* cache.get(h)))
        yield* cache.put(h, answer)
        assert.deepStrictEqual(yield* cache.get(h), Option.some(answer))
        assert.isTrue(Option.isNone(yield* cache.get(ResponseCache.hashRequest({ ...base, temperature: 1 }))))
      }).pipe(Effect.provide(layer()))
    )

    it.scoped("a second put for the same key replaces the answer", () =>
      Effect.gen(function* () {
        const cache = yield* ResponseCache.ResponseCache
        yield* cache.put("k", answer)
        yield* cache.put("k", { ...answer, content: "plain text", output: "plain text" })
        const got = yield* cache.get("k")
        assert.strictEqual(Option.getOrThrow(got).content, "plain text")
        assert.strictEqual(Option.getOrThrow(got).output, "plain text")
      }).pipe(Effect.provide(layer()))
    )
  })

const dirs: Array<string> = []
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true })
})
const tempFile = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-cache-"))
  dirs.push(dir)
  return path.join(dir, "sluice.db")
}

// The store opens (and migrates) the file first; the cache then opens its own connection on it.
const storeThenCache = (filename: string) =>
  Layer.provideMerge(ResponseCache.layerSqlite({ filename }), SqliteStore.layer({ filename }))

suite("layerMemory", () => ResponseCache.layerMemory)
suite("layerSqlite", () => storeThenCache(tempFile()))

describe("ResponseCache persistence", () => {
  it.effect("layerSqlite keeps answers in the store file across reopenings", () =>
    Effect.gen(function* () {
      const filename = tempFile()
      const h = ResponseCache.hashRequest(base)
      yield* Effect.flatMap(ResponseCache.ResponseCache, (c) => c.put(h, answer)).pipe(
        Effect.provide(storeThenCache(filename))
      )
      const again = yield* Effect.flatMap(ResponseCache.ResponseCache, (c) => c.get(h)).pipe(
        Effect.provide(storeThenCache(filename))
      )
      assert.deepStrictEqual(again, Option.some(answer))
    })
  )

  it.effect("layerMemory forgets the oldest answer beyond its size", () =>
    Effect.gen(function* () {
      const cache = yield* ResponseCache.makeMemory({ maxEntries: 2 })
      yield* cache.put("a", answer)
      yield* cache.put("b", answer)
      yield* cache.put("c", answer)
      assert.isTrue(Option.isNone(yield* cache.get("a")))
      assert.isTrue(Option.isSome(yield* cache.get("b")))
      assert.isTrue(Option.isSome(yield* cache.get("c")))
    })
  )
})
