import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import type { SourceRecord } from "../../src/Domain/Item.js"
import * as JsonlFile from "../../src/Sources/JsonlFile.js"
import { lines } from "../../src/Sources/Lines.js"
import { tempDir } from "../support/Temp.js"

/** The size of one read of `Lines.ts`. */
const READ = 256 * 1024

const readAll = (file: string) => Effect.map(Stream.runCollect(JsonlFile.records(file)), Chunk.toReadonlyArray)

const write = (dir: string, name: string, content: string | Buffer) =>
  Effect.sync(() => {
    const file = path.join(dir, name)
    fs.writeFileSync(file, content)
    return file
  })

const SAMPLE = [
  `{"id":"a","v":1}`, //  1
  ``, //                  2 blank
  `{"v":2}`, //           3 no id: keyed by line
  `   `, //               4 whitespace only
  `{"id":42,"v":3}`, //   5 numeric id
  `not json`, //          6
  `{"id":"","v":4}`, //   7 empty id: keyed by line
  `{"id":"b","v":5}` //   8 no trailing newline
]

const expectSample = (records: ReadonlyArray<SourceRecord>) => {
  expect(records.map((r) => [r._tag, r.key, r.ordinal, r.line])).toEqual([
    ["Record", "a", 0, 1],
    ["Record", "line:3", 1, 3],
    ["Record", "42", 2, 5],
    ["Malformed", "line:6", 3, 6],
    ["Record", "line:7", 4, 7],
    ["Record", "b", 5, 8]
  ])
  expect(records.filter((r) => r._tag === "Record").map((r) => (r as { payload: unknown }).payload)).toEqual([
    { id: "a", v: 1 },
    { v: 2 },
    { id: 42, v: 3 },
    { id: "", v: 4 },
    { id: "b", v: 5 }
  ])
  const bad = records[3]!
  expect(bad._tag === "Malformed" && bad.message).toMatch(/not valid JSON/)
}

describe("JsonlFile.records", () => {
  it.scoped("keys by id else line number, skips blank lines, and reports a bad line as Malformed with its number", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const file = yield* write(dir, "items.jsonl", SAMPLE.join("\n"))
      expectSample(yield* readAll(file))
    })
  )

  it.scoped("reads CRLF files exactly like LF files", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const file = yield* write(dir, "crlf.jsonl", SAMPLE.join("\r\n") + "\r\n")
      expectSample(yield* readAll(file))
      // no carriage return survives into a line's text (a string value ending a line stays clean)
      const texts = Chunk.toReadonlyArray(yield* Stream.runCollect(lines(file)))
      expect(texts.map((l) => l.line)).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
      expect(texts.some((l) => l.text.includes("\r"))).toBe(false)
      expect(texts.map((l) => l.text)).toEqual(SAMPLE)
    })
  )

  it.scoped("a byte-order mark before the first line, with CRLF line ends, is not part of the first item", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const file = yield* write(dir, "bom.jsonl", "\uFEFF" + SAMPLE.join("\r\n") + "\r\n")
      expectSample(yield* readAll(file))
    })
  )

  it.scoped("keeps UTF-8 characters that straddle a read boundary intact", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      // "€" is 3 bytes, "😀" is 4: place one across the first read boundary (1 byte before it) and
      // one across the second (2 bytes before it).
      const head = `{"id":"big","s":"`
      const fill1 = "a".repeat(READ - 1 - Buffer.byteLength(head))
      const fill2 = "b".repeat(READ - 2 - 2) // after "€" ends at READ + 2
      const s = fill1 + "€" + fill2 + "😀" + "é漢字"
      const text = head + s + `"}\n{"id":"after","s":"😀€"}\n`
      const bytes = Buffer.from(text, "utf8")
      expect(bytes.subarray(READ - 1, READ + 2).toString("utf8")).toBe("€")
      expect(bytes.subarray(2 * READ - 2, 2 * READ + 2).toString("utf8")).toBe("😀")
      const file = yield* write(dir, "utf8.jsonl", bytes)

      const records = yield* readAll(file)
      expect(records.map((r) => [r._tag, r.key, r.line])).toEqual([
        ["Record", "big", 1],
        ["Record", "after", 2]
      ])
      const [big, after] = records as ReadonlyArray<{ payload: { s: string } }>
      expect(big!.payload.s).toBe(s)
      expect(big!.payload.s.includes("\uFFFD")).toBe(false)
      expect(after!.payload.s).toBe("😀€")
    })
  )

  it.scoped("streams a large file with stable ordinals and line numbers", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const n = 50_000
      const out: Array<string> = []
      for (let i = 0; i < n; i++) {
        out.push(JSON.stringify({ id: `k${i}`, n: i }))
        if (i % 1000 === 999) out.push("") // blank lines move line numbers, not ordinals
      }
      const file = yield* write(dir, "large.jsonl", out.join("\n") + "\n")
      expect(fs.statSync(file).size).toBeGreaterThan(2 * READ)

      const first = yield* readAll(file)
      expect(first).toHaveLength(n)
      const seen = first.map(
        (r) => `${r._tag} ${r.key} #${r.ordinal} L${r.line} n=${(r as { payload?: { n: number } }).payload?.n}`
      )
      const wanted = first.map((_, i) => `Record k${i} #${i} L${i + 1 + Math.floor(i / 1000)} n=${i}`)
      expect(seen).toEqual(wanted)
      // a re-read (a resumed run) gives every item the same ordinal again
      const again = yield* readAll(file)
      expect(again.map((r) => `${r.key}@${r.ordinal}`)).toEqual(first.map((r) => `${r.key}@${r.ordinal}`))
    })
  )

  it.scoped("an empty file has no records", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const file = yield* write(dir, "empty.jsonl", "")
      expect(yield* readAll(file)).toEqual([])
    })
  )

  it.scoped("a missing file fails with a typed error naming the file", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const file = path.join(dir, "missing.jsonl")
      const error = yield* Effect.flip(readAll(file))
      expect(error._tag).toBe("Invalid")
      expect(error.message).toContain(file)
    })
  )

  it.scoped(
    "D12: a line that is JSON but not an object (array, number, string, null) is Malformed, naming what it is",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const file = yield* write(dir, "values.jsonl", '[1,2,3]\n42\n"str"\nnull\n{"id":"ok"}\n')
        const records = yield* readAll(file)
        expect(records.map((r) => [r._tag, r.key, r.line])).toEqual([
          ["Malformed", "line:1", 1],
          ["Malformed", "line:2", 2],
          ["Malformed", "line:3", 3],
          ["Malformed", "line:4", 4],
          ["Record", "ok", 5]
        ])
        expect(records.slice(0, 4).map((r) => (r as { message: string }).message)).toEqual([
          "not a JSON object (an array)",
          "not a JSON object (a number)",
          "not a JSON object (a string)",
          "not a JSON object (null)"
        ])
      })
  )

  it.scoped(
    "D9: a line longer than an item may be is Malformed with its line and size, and is never parsed or sent",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const big = `{"id":"big","text":"${"x".repeat(JsonlFile.MAX_ITEM_CHARS)}"}`
        const file = yield* write(dir, "big.jsonl", `{"id":"a"}\n${big}\r\n{"id":"c"}\n`)
        const records = yield* readAll(file)
        expect(records.map((r) => [r._tag, r.key, r.line])).toEqual([
          ["Record", "a", 1],
          ["Malformed", "line:2", 2],
          ["Record", "c", 3]
        ])
        expect((records[1] as { message: string }).message).toBe(
          `${big.length.toLocaleString("en-US")} characters, more than an item may have (4,194,304)`
        )
      })
  )

  it.scoped("D9: a line split over many reads, with its CR and LF in different reads, is read whole", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const long = "y".repeat(3 * READ + 17)
      // The CR ends one read exactly and the LF starts the next.
      const first = `{"id":"p","t":"${"z".repeat(READ - 17 - 1)}"}`
      const file = yield* write(dir, "long.txt", `${first}\r\n${long}\nlast`)
      const got = yield* Stream.runCollect(lines(file)).pipe(Effect.map(Chunk.toReadonlyArray))
      expect(Buffer.byteLength(first) + 1).toBe(READ)
      expect(got.map((l) => [l.line, l.text.length])).toEqual([
        [1, first.length],
        [2, long.length],
        [3, 4]
      ])
      expect(got[0]!.text).toBe(first)
    })
  )
})
