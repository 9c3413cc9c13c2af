/**
 * The bad-input sweep (../shared/notes/bad-input-sweep.md), on the command line: each case a user can
 * hit by mistake gets one clear line and loses nothing. The built executable, driven as a user would.
 *
 * Real processes and real time (`it.scopedLive`) against servers on 127.0.0.1; every child is bounded.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { defaultRunId } from "../../src/Cli/Commands/Run.js"
import * as Simulator from "../../src/Simulator/Simulator.js"
import { type CliResult, runCli } from "../support/Cli.js"
import { freePort } from "../support/Net.js"
import { readJsonl, tempDir, writeJsonl } from "../support/Temp.js"

const cli = (args: ReadonlyArray<string>, options: { env?: Record<string, string>; timeoutMs?: number } = {}) =>
  Effect.promise(() => runCli(args, { timeoutMs: 60_000, ...options }))

const stderrLines = (r: CliResult) => r.stderr.split("\n").filter((l) => l.trim().length > 0)

const data = [
  { id: "a", text: "one" },
  { id: "b", text: "two" },
  { id: "c", text: "three" }
]

describe("bad input on the command line (real processes)", () => {
  it.scopedLive("D1: --out naming the input (also through a symlink) is refused with exit 2; the input is intact", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const input = path.join(dir, "items.jsonl")
      yield* writeJsonl(input, data)
      const before = fs.readFileSync(input)
      const link = path.join(dir, "link.jsonl")
      fs.symlinkSync(input, link)
      for (const out of [input, link, `${dir}/./items.jsonl`]) {
        const r = yield* cli(["run", input, "--out", out, "--db", path.join(dir, "s.db"), "--processor", "echo"])
        expect({ out, code: r.code }).toEqual({ out, code: 2 })
        expect(stderrLines(r)).toHaveLength(1)
        expect(r.stderr).toContain("is the input file")
        expect(fs.readFileSync(input).equals(before)).toBe(true)
      }
      // A hard link is the same file under another name.
      const hard = path.join(dir, "hard.jsonl")
      fs.linkSync(input, hard)
      const r = yield* cli(["run", hard, "--out", input, "--db", path.join(dir, "s.db"), "--processor", "echo"])
      expect(r.code).toBe(2)
      expect(fs.readFileSync(input).equals(before)).toBe(true)
    })
  )

  it.scopedLive(
    "D2: --out naming the database or its -wal/-shm, in run and export, is refused with exit 2; every run is intact",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const input = path.join(dir, "items.jsonl")
        const db = path.join(dir, "sluice.db")
        yield* writeJsonl(input, data)
        const first = yield* cli(["run", input, "--db", db, "--processor", "echo"])
        expect(first.code).toBe(0)
        const results = readJsonl(path.join(dir, "items.results.jsonl"))
        expect(results.map((l) => l.key)).toEqual(["a", "b", "c"])
        const size = fs.statSync(db).size
        const run = results.length > 0 ? (/run (\S+) finished/.exec(first.stderr)?.[1] ?? "") : ""
        expect(run).not.toBe("")

        for (const out of [db, `${db}-wal`, `${db}-shm`, path.join(dir, ".", "sluice.db")]) {
          const r = yield* cli(["run", input, "--out", out, "--db", db, "--processor", "echo"])
          expect({ out, code: r.code }).toEqual({ out, code: 2 })
          expect(stderrLines(r)).toHaveLength(1)
          expect(r.stderr).toContain("is the database")
          const e = yield* cli(["export", "--db", db, "--run", run, "--out", out])
          expect({ out, code: e.code }).toEqual({ out, code: 2 })
          expect(stderrLines(e)).toHaveLength(1)
          expect(fs.statSync(db).size).toBeGreaterThanOrEqual(size)
        }
        // The database still holds the run: export to a real file gives every item.
        const exported = path.join(dir, "export.jsonl")
        const ok = yield* cli(["export", "--db", db, "--run", run, "--out", exported])
        expect(ok.code).toBe(0)
        expect(readJsonl(exported)).toEqual(results)
      })
  )

  it.scopedLive(
    "D2: export writes a temporary file and renames it into place: a failed export leaves the old file whole",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const input = path.join(dir, "items.jsonl")
        const db = path.join(dir, "sluice.db")
        yield* writeJsonl(input, data)
        expect((yield* cli(["run", input, "--db", db, "--processor", "echo"])).code).toBe(0)
        const exported = path.join(dir, "export.jsonl")
        fs.writeFileSync(exported, "previous export\n")
        // An unknown run fails: the previous file is neither truncated nor replaced, and no temporary is left.
        const r = yield* cli(["export", "--db", db, "--run", "no-such-run", "--out", exported])
        expect(r.code).toBe(1)
        expect(fs.readFileSync(exported, "utf8")).toBe("previous export\n")
        expect(fs.readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([])
      })
  )

  it.scopedLive(
    "D4: a bad line's key never takes a valid item's id: with 0-based ids, a malformed JSONL line and a short CSV row fail alone",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const db = path.join(dir, "s.db")
        // Line 3 is not JSON; line 4's id is 3, the number the bad line used to take as its key.
        const jsonl = path.join(dir, "items.jsonl")
        fs.writeFileSync(jsonl, '{"id":0}\n{"id":1}\n{oops\n{"id":3}\n{"id":4}\n')
        const r = yield* cli(["run", jsonl, "--db", db, "--processor", "echo"])
        expect(r.code).toBe(0)
        expect(r.stderr).toContain("4 completed, 0 skipped, 1 failed of 5")
        const lines = readJsonl(path.join(dir, "items.results.jsonl"))
        expect(lines.map((l) => [l.key, l.status])).toEqual([
          ["0", "completed"],
          ["1", "completed"],
          ["line:3", "failed"],
          ["3", "completed"],
          ["4", "completed"]
        ])
        expect(lines[2].error.message).toMatch(/^line 3: not valid JSON/)

        // CSV: the header is line 1; line 3 has too few fields; line 4's id is 3.
        const csv = path.join(dir, "rows.csv")
        fs.writeFileSync(csv, "id,name\n2,ann\nbob\n3,cy\n")
        const c = yield* cli(["run", csv, "--db", db, "--processor", "echo"])
        expect(c.code).toBe(0)
        expect(readJsonl(path.join(dir, "rows.results.jsonl")).map((l) => [l.key, l.status])).toEqual([
          ["2", "completed"],
          ["line:3", "failed"],
          ["3", "completed"]
        ])
      })
  )

  it.scopedLive(
    "D5: a --base-url with credentials is refused at start (exit 2, one line) and the password is shown and stored nowhere",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const input = path.join(dir, "items.jsonl")
        yield* writeJsonl(input, data)
        const db = path.join(dir, "s.db")
        const port = yield* freePort
        for (const command of [["run", input], ["worker"]]) {
          const r = yield* cli([...command, "--db", db, "--base-url", `http://user:PASSWORD@127.0.0.1:${port}/v1`])
          expect({ command, code: r.code }).toEqual({ command, code: 2 })
          expect(stderrLines(r)).toHaveLength(1)
          expect(r.stderr).toContain("carries credentials")
          expect(r.stderr).toContain(`http://***@127.0.0.1:${port}/v1`)
          expect(r.stderr + r.stdout).not.toContain("PASSWORD")
        }
        for (const file of fs.readdirSync(dir)) {
          expect(fs.readFileSync(path.join(dir, file)).toString("latin1")).not.toContain("PASSWORD")
        }
      })
  )

  it.scopedLive(
    "D7: an upstream that never answers stops the run early with one line, exit 1, items pending; a rerun once it is up finishes",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const input = path.join(dir, "items.jsonl")
        const items = Array.from({ length: 20 }, (_, i) => ({ id: `k${i}`, text: `item ${i}` }))
        yield* writeJsonl(input, items)
        const db = path.join(dir, "s.db")
        const port = yield* freePort
        const started = Date.now()
        const r = yield* cli(["run", input, "--db", db, "--base-url", `http://127.0.0.1:${port}/v1`])
        // Five attempts of the first items with their backoff (about 3 s), not 20 items × 5 attempts.
        expect(Date.now() - started).toBeLessThan(20_000)
        expect(r.code).toBe(1)
        const last = stderrLines(r).at(-1)!
        expect(last).toMatch(new RegExp(`^sluice: upstream http://127\\.0\\.0\\.1:${port}/v1 unreachable`))
        expect(last).toContain("ECONNREFUSED")
        expect(last).toContain("pending")
        const run = defaultRunId(input)
        const status = yield* cli(["status", "--db", db, "--run", run])
        expect(status.stdout).toMatch(new RegExp(`${run}\\s+20\\s+0\\s+0\\s+0\\s+0`))

        // A blocked port is a setting to fix: the run stops at once, the items pending.
        const blocked = yield* cli(["run", input, "--db", db, "--base-url", "http://127.0.0.1:1/v1"])
        expect(blocked.code).toBe(1)
        expect(stderrLines(blocked).at(-1)).toContain("bad port")

        // The upstream comes up on that port: the same command finishes every item, each once.
        const sim = yield* Simulator.make({ port, latencyMs: 1 })
        const rerun = yield* cli(["run", input, "--db", db, "--base-url", `http://127.0.0.1:${port}/v1`])
        expect(rerun.code).toBe(0)
        expect(rerun.stderr).toContain("20 completed, 0 skipped, 0 failed of 20")
        expect((yield* sim.stats).accepted).toBe(20)
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "D8: a rejected API key stops the run at the first 401, exit 1, items pending, no fragment of the key stored",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const input = path.join(dir, "items.jsonl")
        const items = Array.from({ length: 40 }, (_, i) => ({ id: `k${i}`, text: `item ${i}` }))
        yield* writeJsonl(input, items)
        const db = path.join(dir, "s.db")
        const sim = yield* Simulator.make({ port: 0, latencyMs: 1, apiKey: "sk-the-right-one" })
        const key = "sk-test-WRONGKEY-1234567890"
        const r = yield* cli(["run", input, "--db", db, "--base-url", sim.url, "--concurrency", "4"], {
          env: { OPENAI_API_KEY: key }
        })
        expect(r.code).toBe(1)
        expect(stderrLines(r).at(-1)).toContain("the upstream rejected the API key (401)")
        // The calls already in flight, not one per item.
        expect((yield* sim.stats).unauthorized).toBeLessThanOrEqual(4)
        const run = defaultRunId(input)
        const status = yield* cli(["status", "--db", db, "--run", run])
        expect(status.stdout).toMatch(new RegExp(`${run}\\s+40\\s+0\\s+0\\s+0\\s+0`))
        for (const fragment of [key, key.slice(0, 12), key.slice(-8)]) {
          expect(r.stderr).not.toContain(fragment)
          for (const file of fs.readdirSync(dir)) {
            expect(fs.readFileSync(path.join(dir, file)).toString("latin1")).not.toContain(fragment)
          }
        }
      })
  )

  it.scopedLive(
    "D13: a broken line fixed after the run: retry says it cannot re-queue it; the same command warns, reads the input again and processes the fixed line in its place, once",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const input = path.join(dir, "items.jsonl")
        const db = path.join(dir, "s.db")
        const out = path.join(dir, "out.jsonl")
        fs.writeFileSync(input, '{"id":"a"}\n{broken\n{"id":"c"}\n')
        const first = yield* cli(["run", input, "--db", db, "--processor", "echo", "--out", out])
        expect(first.code).toBe(0)
        expect(first.stderr).not.toContain("warning")
        expect(readJsonl(out).map((r) => [r.key, r.status])).toEqual([
          ["a", "completed"],
          ["line:2", "failed"],
          ["c", "completed"]
        ])
        const retry = yield* cli(["retry", "--failed", "--db", db])
        expect(retry.code).toBe(0)
        expect(retry.stderr).toContain("re-queued 0 failed item(s)")
        expect(retry.stderr).toContain("1 line(s) that could not be read stay failed: retry cannot re-queue them")
        // The user fixes the broken line, adds one, and runs the same command.
        fs.writeFileSync(input, '{"id":"a"}\n{"id":"b"}\n{"id":"c"}\n{"id":"d"}\n')
        const again = yield* cli(["run", input, "--db", db, "--processor", "echo", "--out", out])
        expect(again.code).toBe(0)
        expect(again.stderr).toContain(`warning: ${input} changed after run ${defaultRunId(input)} read it`)
        expect(again.stderr).toContain("reading it again")
        expect(again.stderr).toContain("4 completed, 0 skipped, 0 failed of 4")
        const results = readJsonl(out)
        expect(results.map((r) => [r.seq, r.key, r.status])).toEqual([
          [0, "a", "completed"],
          [1, "b", "completed"],
          [2, "c", "completed"],
          [3, "d", "completed"]
        ])
        expect(results[1].output).toEqual({ id: "b" })
        // Unchanged since: a third run does not read it again, and the results stay.
        const third = yield* cli(["run", input, "--db", db, "--processor", "echo", "--out", out])
        expect(third.stderr).not.toContain("warning")
        expect(readJsonl(out)).toEqual(results)
      })
  )

  it.scopedLive("a binary input's control bytes reach the terminal summary escaped, never raw", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const input = path.join(dir, "items.jsonl")
      fs.writeFileSync(input, Buffer.from([0x07, 0x08, 0x41, 0x0a, 0x7b, 0x7d, 0x0a]))
      const r = yield* cli(["run", input, "--db", path.join(dir, "s.db"), "--processor", "echo"])
      expect(r.code).toBe(0)
      expect(r.stderr).toContain("1 completed, 0 skipped, 1 failed of 2")
      expect(r.stderr).not.toMatch(/[\u0007\u0008]/)
      expect(r.stderr).toContain("\\x07")
    })
  )
})
