/**
 * The drop directory's scanner, one scan at a time on `TestClock`, over a real directory and a real
 * SQLite store: when a file is taken, and what happens when it grows after it was taken (sweep D11).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Events from "../../src/Engine/Events.js"
import * as DropDirectory from "../../src/Service/DropDirectory.js"
import { Store } from "../../src/Store/Store.js"
import * as SqliteStore from "../../src/Store/SqliteStore.js"
import { tempDir } from "../support/Temp.js"
import { completed } from "../Store/Fixtures.js"

const setup = Effect.gen(function* () {
  const root = yield* tempDir()
  const dir = path.join(root, "in")
  fs.mkdirSync(dir)
  const store = yield* SqliteStore.make({ filename: path.join(root, "s.db") })
  const { scan } = yield* DropDirectory.make({ dir, pollInterval: "1 second", settle: "2 seconds", config: {} }).pipe(
    Effect.provideService(Store, store),
    Effect.provideServiceEffect(Events.Events, Events.make)
  )
  /** One scan, `seconds` after the last one. */
  const after = (seconds: number) => Effect.zipRight(TestClock.adjust(`${seconds} seconds`), scan)
  return { dir, store, scan, after }
})

const line = (id: string) => JSON.stringify({ id, text: `item ${id}` }) + "\n"

describe("drop directory scanner (TestClock, real files)", () => {
  it.scoped("a file is taken only once its size has not changed for the settle interval", () =>
    Effect.gen(function* () {
      const { dir, store, scan, after } = yield* setup
      const fd = fs.openSync(path.join(dir, "a.jsonl"), "a")
      fs.writeSync(fd, line("1"))
      yield* scan
      yield* after(1)
      fs.writeSync(fd, line("2"))
      yield* after(1)
      yield* after(1)
      // Changed 1 s ago: not yet.
      expect(yield* store.listRuns).toEqual([])
      fs.closeSync(fd)
      yield* after(1)
      const runs = yield* store.listRuns
      expect(runs.length).toBe(1)
      expect((yield* store.counts(runs[0]!.id)).pending).toBe(2)
      expect(fs.readdirSync(path.join(dir, ".done"))).toEqual(["a.jsonl"])
    })
  )

  it.scoped(
    "a file still being written when taken: its later lines join the same run, a line cut off mid-write is read whole, nothing is recorded twice (D11)",
    () =>
      Effect.gen(function* () {
        const { dir, store, scan, after } = yield* setup
        // The writer keeps its file open: after the file moves to .done/, its writes land there.
        const fd = fs.openSync(path.join(dir, "slow.jsonl"), "a")
        fs.writeSync(fd, line("l1"))
        yield* scan
        yield* after(2)
        const [run] = yield* store.listRuns
        expect(run).toBeDefined()
        const id = run!.id
        // The first line is processed before the rest arrive.
        const first = yield* store.claim({ owner: "w", limit: 10, leaseMs: 60_000 })
        expect(first.map((i) => i.key)).toEqual(["l1"])
        yield* store.complete(first.map((i) => completed(i, "w", { ok: i.key })))

        fs.writeSync(fd, line("l2"))
        yield* after(1)
        yield* after(2)
        // Half a line, as a writer leaves it between two writes; then the rest of it and one more line.
        const l3 = line("l3")
        fs.writeSync(fd, l3.slice(0, 10))
        yield* after(1)
        yield* after(2)
        fs.writeSync(fd, l3.slice(10) + line("l4"))
        fs.closeSync(fd)
        yield* after(1)
        yield* after(2)
        // Quiet now: later scans find nothing more.
        yield* after(2)
        yield* after(2)

        expect((yield* store.listRuns).map((r) => r.id)).toEqual([id])
        const rows = yield* store.results(id, { afterSeq: -1, limit: 100 })
        expect(rows.map((r) => [r.seq, r.key, r.status])).toEqual([
          [0, "l1", "completed"],
          [1, "l2", "pending"],
          [2, "l3", "pending"],
          [3, "l4", "pending"]
        ])
        // Every line once: the completed first line is not handed out again.
        const rest = yield* store.claim({ owner: "w", limit: 10, leaseMs: 60_000 })
        expect(rest.map((i) => [i.key, i.payload])).toEqual(
          ["l2", "l3", "l4"].map((k) => [k, { id: k, text: `item ${k}` }])
        )
        expect(fs.readdirSync(dir)).toEqual([".done"])
      })
  )

  it.scoped("a taken file rewritten (not appended to) is not read again: the run keeps what it read", () =>
    Effect.gen(function* () {
      const { dir, store, scan, after } = yield* setup
      const file = path.join(dir, "r.jsonl")
      fs.writeFileSync(file, line("a") + line("b"))
      yield* scan
      yield* after(2)
      const [run] = yield* store.listRuns
      fs.writeFileSync(path.join(dir, ".done", "r.jsonl"), line("x") + line("y") + line("z"))
      yield* after(1)
      yield* after(2)
      const rows = yield* store.results(run!.id, { afterSeq: -1, limit: 100 })
      expect(rows.map((r) => r.key)).toEqual(["a", "b"])
    })
  )

  it.scoped(
    "odd names are taken under a safe run id; a symlink in the directory is left alone, its target untouched",
    () =>
      Effect.gen(function* () {
        const { dir, store, scan, after } = yield* setup
        const odd = ["my orders (1).jsonl", "-rf $(rm).csv", "zażółć ünï.ndjson"]
        fs.writeFileSync(path.join(dir, odd[0]!), line("o1"))
        fs.writeFileSync(path.join(dir, odd[1]!), "id,text\nc1,x\n")
        fs.writeFileSync(path.join(dir, odd[2]!), line("u1"))
        const outside = path.join(path.dirname(dir), "elsewhere.jsonl")
        fs.writeFileSync(outside, line("s1"))
        fs.symlinkSync(outside, path.join(dir, "link.jsonl"))
        yield* scan
        yield* after(2)
        const runs = (yield* store.listRuns).map((r) => r.id)
        expect(runs.length).toBe(3)
        for (const id of runs) expect(id).toMatch(/^[\w.-]+$/)
        expect(fs.readdirSync(path.join(dir, ".done")).sort()).toEqual([...odd].sort())
        // The link stays where it is and its target is neither read nor moved.
        expect(fs.readdirSync(dir).sort()).toEqual([".done", "link.jsonl"])
        expect(fs.readFileSync(outside, "utf8")).toBe(line("s1"))
      })
  )
})
