import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import type { SourceRecord } from "../../src/Domain/Item.js"
import * as CsvFile from "../../src/Sources/CsvFile.js"
import { tempDir } from "../support/Temp.js"

const readAll = (file: string) => Effect.map(Stream.runCollect(CsvFile.records(file)), Chunk.toReadonlyArray)

const write = (dir: string, name: string, content: string | Buffer) =>
  Effect.sync(() => {
    const file = path.join(dir, name)
    fs.writeFileSync(file, content)
    return file
  })

const payloadOf = (r: SourceRecord | undefined) => (r?._tag === "Record" ? r.payload : undefined)

const ROWS = [
  `id,name,note`, //                 1 header
  `1,Ann,"hello, world"`, //         2 quoted comma
  `2,Bob,"line one`, //              3 quoted newline …
  `line two"`, //                    4 … ends here
  `3,Cy`, //                         5 too few fields
  `,Dee,plain`, //                   6 no id: keyed by line
  ``, //                             7 blank
  `4,Eve,"say ""hi"""`, //           8 escaped quotes
  `5,Fay,x,extra`, //                9 too many fields
  `,"two`, //                       10 no id, two lines: keyed by the line it starts on
  `lines",z`, //                    11
  `6,Gus,last` //                   12 no trailing newline
]

/** What `ROWS` reads as, joined with `eol`: every line number is where the row starts. */
const expectRows = (records: ReadonlyArray<SourceRecord>, eol: string) => {
  expect(records.map((r) => [r._tag, r.key, r.ordinal, r.line])).toEqual([
    ["Record", "1", 0, 2],
    ["Record", "2", 1, 3],
    ["Malformed", "line:5", 2, 5],
    ["Record", "line:6", 3, 6],
    ["Record", "4", 4, 8],
    ["Malformed", "line:9", 5, 9],
    ["Record", "line:10", 6, 10],
    ["Record", "6", 7, 12]
  ])
  expect(records.map(payloadOf)).toEqual([
    { id: "1", name: "Ann", note: "hello, world" },
    { id: "2", name: "Bob", note: `line one${eol}line two` },
    undefined,
    { id: "", name: "Dee", note: "plain" },
    { id: "4", name: "Eve", note: `say "hi"` },
    undefined,
    { id: "", name: `two${eol}lines`, note: "z" },
    { id: "6", name: "Gus", note: "last" }
  ])
  expect(records[2]).toMatchObject({ message: "expected 3 fields, found 2" })
  expect(records[5]).toMatchObject({ message: "expected 3 fields, found 4" })
}

describe("CsvFile.records", () => {
  it.scoped(
    "reads rows as objects by header; quoted commas and newlines; wrong field counts are Malformed with their line",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const file = yield* write(dir, "items.csv", ROWS.join("\n"))
        expectRows(yield* readAll(file), "\n")
      })
  )

  it.scoped("strips a byte-order mark from the first header", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const file = yield* write(dir, "bom.csv", "\uFEFF" + ROWS.join("\n") + "\n")
      const records = yield* readAll(file)
      expectRows(records, "\n")
      expect(Object.keys(payloadOf(records[0]) as object)).toEqual(["id", "name", "note"])
    })
  )

  it.scoped("reads CRLF files like LF files: same line numbers, no carriage return left at a field's end", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const file = yield* write(dir, "crlf.csv", ROWS.join("\r\n") + "\r\n")
      const records = yield* readAll(file)
      expectRows(records, "\r\n")
      const fields = records.flatMap((r) => Object.values((payloadOf(r) ?? {}) as Record<string, string>))
      expect(fields.filter((f) => f.endsWith("\r"))).toEqual([])
    })
  )

  it.scoped("keeps UTF-8 characters that straddle a read boundary intact", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      // A long field of 3- and 4-byte characters ("€😀" is 7 bytes) spans several reads of the file
      // stream (64 KiB each); the checks below make sure read boundaries fall inside characters.
      const head = "id,text\nu1,"
      const text = "€😀".repeat(60_000)
      const content = head + text + "\nu2,ä漢\n"
      const bytes = Buffer.from(content, "utf8")
      const start = Buffer.byteLength(head)
      for (const boundary of [64 * 1024, 256 * 1024]) expect([0, 3]).not.toContain((boundary - start) % 7)
      const file = yield* write(dir, "utf8.csv", bytes)
      const records = yield* readAll(file)
      expect(records.map((r) => r.key)).toEqual(["u1", "u2"])
      expect((payloadOf(records[0]) as { text: string }).text).toBe(text)
      expect(payloadOf(records[1])).toEqual({ id: "u2", text: "ä漢" })
    })
  )

  it.scoped("streams a large file with stable ordinals", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      // csv-parse through an async iterator reads about 40k rows a second here: 20k rows keep this quick.
      const n = 20_000
      const out = ["id,n"]
      for (let i = 0; i < n; i++) out.push(`k${i},${i}`)
      const file = yield* write(dir, "large.csv", out.join("\n") + "\n")
      const describe = (rs: ReadonlyArray<SourceRecord>) =>
        rs.map((r) => `${r.key} #${r.ordinal} L${r.line} ${(payloadOf(r) as { n: string } | undefined)?.n}`)
      const first = yield* readAll(file)
      expect(describe(first)).toEqual(Array.from({ length: n }, (_, i) => `k${i} #${i} L${i + 2} ${i}`))
      expect(describe(yield* readAll(file))).toEqual(describe(first))
    })
  )

  it.scoped("counts lines right after a quoted header with a line break in it", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const file = yield* write(dir, "header.csv", `"id","long\r\nname"\r\n,a\r\nx\r\n`)
      const records = yield* readAll(file)
      expect(records.map((r) => [r._tag, r.key, r.line])).toEqual([
        ["Record", "line:3", 3],
        ["Malformed", "line:4", 4]
      ])
      expect(payloadOf(records[0])).toEqual({ id: "", "long\r\nname": "a" })
    })
  )

  it.scoped("a header-only file has no records", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const file = yield* write(dir, "header.csv", "id,name\n")
      expect(yield* readAll(file)).toEqual([])
    })
  )

  // Live clock: the timeout only guards against a hang.
  it.scopedLive("a missing file fails with a typed error naming the file", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const file = path.join(dir, "missing.csv")
      const error = yield* Effect.flip(readAll(file).pipe(Effect.timeout("5 seconds")))
      expect(error._tag).toBe("Invalid")
      expect(error.message).toContain(file)
    })
  )
})
