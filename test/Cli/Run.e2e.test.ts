/**
 * `sluice run` end to end: the built executable (see `test/globalSetup.ts`) against a simulator on
 * 127.0.0.1, driven the way another tool drives it (arguments, exit code, output file, stderr).
 *
 * These tests start real processes and use real time (`it.scopedLive`); every wait is bounded, and a
 * child still running when its test ends is killed by the scope's finalizer.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { defaultRunId } from "../../src/Cli/Commands/Run.js"
import { answerFor } from "../../src/Simulator/Responder.js"
import * as Simulator from "../../src/Simulator/Simulator.js"
import { awaitExit, type CliResult, runCli, spawnScoped } from "../support/Cli.js"
import { waitUntil } from "../support/Wait.js"
import { readJsonl, tempDir, writeJsonl } from "../support/Temp.js"
import { freePort } from "../support/Net.js"

// ---- helpers ---------------------------------------------------------------------------------------

const cli = (args: ReadonlyArray<string>, options: { env?: Record<string, string>; timeoutMs?: number } = {}) =>
  Effect.promise(() => runCli(args, { timeoutMs: 60_000, ...options }))

const lineCount = (file: string): number =>
  fs.existsSync(file)
    ? fs
        .readFileSync(file, "utf8")
        .split("\n")
        .filter((l) => l.length > 0).length
    : 0

/** The temporary file a running `sluice run` writes `output`'s lines to (AtomicFile), or `output` when none. */
const partial = (output: string): string => {
  const dir = path.dirname(output)
  const base = path.basename(output)
  const temp = fs.readdirSync(dir).find((f) => f.startsWith(`.${base}.`) && f.endsWith(".tmp"))
  return temp === undefined ? output : path.join(dir, temp)
}

const stderrLines = (r: CliResult) => r.stderr.split("\n").filter((l) => l.trim().length > 0)

/** What the simulator's default responder answers for an item, as the output line holds it. */
const expected = (payload: unknown) => JSON.parse(answerFor(JSON.stringify(payload)))

const items = (n: number) =>
  Array.from({ length: n }, (_, i) => ({
    id: `item-${String(i).padStart(4, "0")}`,
    text: `Bestellung ${i}: ${"ä".repeat(i % 4)} ${i % 3 === 0 ? "bitte schnell" : "no rush"} ✓`,
    qty: (i * 37) % 101
  }))

/** `sluice status` rows, by run id. */
const parseStatus = (stdout: string) => {
  const rows = new Map<
    string,
    { pending: number; processing: number; completed: number; skipped: number; failed: number }
  >()
  for (const line of stdout.split("\n").slice(1)) {
    const m = /^(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+\d+\s+\d+/.exec(line)
    if (m !== null) {
      rows.set(m[1]!, { pending: +m[2]!, processing: +m[3]!, completed: +m[4]!, skipped: +m[5]!, failed: +m[6]! })
    }
  }
  return rows
}

/** Asserts that `lines` are items 0..n-1 of `input`, in order, each completed with the simulator's answer. */
const expectCompletedPrefix = (lines: ReadonlyArray<any>, input: ReadonlyArray<{ id: string }>, n: number) => {
  expect(lines.map((l) => l.seq)).toEqual(Array.from({ length: n }, (_, i) => i))
  for (const l of lines) {
    const item = input[l.seq]!
    expect(l).toEqual({ seq: l.seq, key: item.id, status: "completed", output: expected(item) })
  }
}

// ---- tests -----------------------------------------------------------------------------------------

describe("sluice run (real processes)", () => {
  it.scopedLive(
    "300 items through the simulator: exit 0, one line per item in order with the right answer; a rerun calls no upstream and rewrites the same file (real processes)",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const sim = yield* Simulator.make({ port: 0, rpm: 6000, latencyMs: 20, seed: 42 })
        const input = path.join(dir, "items.jsonl")
        const db = path.join(dir, "sluice.db")
        const data = items(300)
        yield* writeJsonl(input, data)
        const args = ["run", input, "--db", db, "--base-url", sim.url, "--concurrency", "8"]

        const first = yield* cli(args)
        expect(first.stderr).not.toMatch(/unexpected failure/)
        expect(first.code).toBe(0)
        // The default output path: the input minus its extension, plus .results.jsonl.
        const output = path.join(dir, "items.results.jsonl")
        const lines = readJsonl(output)
        expect(lines).toHaveLength(300)
        expectCompletedPrefix(lines, data, 300)
        // The summary names the run, the counts and where the results are.
        expect(first.stderr).toContain(`run ${defaultRunId(input)} finished`)
        expect(first.stderr).toContain("300 completed, 0 skipped, 0 failed of 300")
        expect(first.stderr).toContain(output)
        // Each item reached the upstream once.
        const stats = yield* sim.stats
        expect(stats.accepted).toBe(300)

        // The same command again: nothing left to do, no upstream call, the same file.
        const bytes = fs.readFileSync(output)
        fs.writeFileSync(output, "stale\n")
        const second = yield* cli(args)
        expect(second.code).toBe(0)
        expect(yield* sim.stats).toEqual(stats)
        expect(fs.readFileSync(output).equals(bytes)).toBe(true)
        expect(second.stderr).toContain("300 completed, 0 skipped, 0 failed of 300")
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "--processor echo: outputs are the payloads; CSV keys come from the id column, else the line number (real processes)",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const db = path.join(dir, "sluice.db")

        const jsonl = path.join(dir, "echo.jsonl")
        const data = [{ id: "a", n: 1, nested: { x: [1, 2] } }, { n: 2 }, { id: 7, text: "ünïcødé ✓" }]
        yield* writeJsonl(jsonl, data)
        const echo = yield* cli([
          "run",
          jsonl,
          "--db",
          db,
          "--processor",
          "echo",
          "--out",
          path.join(dir, "echo.out.jsonl")
        ])
        expect(echo.code).toBe(0)
        expect(readJsonl(path.join(dir, "echo.out.jsonl"))).toEqual([
          { seq: 0, key: "a", status: "completed", output: data[0] },
          { seq: 1, key: "line:2", status: "completed", output: data[1] },
          { seq: 2, key: "7", status: "completed", output: data[2] }
        ])

        const withId = path.join(dir, "with-id.csv")
        fs.writeFileSync(withId, 'id,name,qty\nx1,apple,3\nx2,"pear, green",4\nx3,"multi\nline",5\n')
        const a = yield* cli(["run", withId, "--db", db, "--processor", "echo"])
        expect(a.code).toBe(0)
        expect(readJsonl(path.join(dir, "with-id.results.jsonl"))).toEqual([
          { seq: 0, key: "x1", status: "completed", output: { id: "x1", name: "apple", qty: "3" } },
          { seq: 1, key: "x2", status: "completed", output: { id: "x2", name: "pear, green", qty: "4" } },
          { seq: 2, key: "x3", status: "completed", output: { id: "x3", name: "multi\nline", qty: "5" } }
        ])

        const noId = path.join(dir, "no-id.csv")
        fs.writeFileSync(noId, "name,qty\napple,3\npear,4\n")
        const b = yield* cli(["run", noId, "--db", db, "--processor", "echo"])
        expect(b.code).toBe(0)
        // Keys are the rows' line numbers in the file (the header is line 1), in their own namespace.
        expect(readJsonl(path.join(dir, "no-id.results.jsonl"))).toEqual([
          { seq: 0, key: "line:2", status: "completed", output: { name: "apple", qty: "3" } },
          { seq: 1, key: "line:3", status: "completed", output: { name: "pear", qty: "4" } }
        ])
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "bad usage exits 2 with one line naming the problem: missing input, missing prompt file, --concurrency 0 (real processes)",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const db = path.join(dir, "sluice.db")
        const input = path.join(dir, "items.jsonl")
        yield* writeJsonl(input, items(3))

        const missing = path.join(dir, "no-such-items.jsonl")
        const r1 = yield* cli(["run", missing, "--db", db, "--processor", "echo"])
        expect(r1.code).toBe(2)
        expect(stderrLines(r1)).toHaveLength(1)
        expect(r1.stderr).toContain(missing)
        expect(r1.stdout).toBe("")

        const prompt = path.join(dir, "no-such-prompt.txt")
        const r2 = yield* cli(["run", input, "--db", db, "--prompt", prompt])
        expect(r2.code).toBe(2)
        expect(stderrLines(r2)).toHaveLength(1)
        expect(r2.stderr).toContain(prompt)

        const r3 = yield* cli(["run", input, "--db", db, "--processor", "echo", "--concurrency", "0"])
        expect(r3.code).toBe(2)
        expect(r3.stderr).toContain("--concurrency")

        // Nothing was started: no database, no output file.
        expect(fs.existsSync(db)).toBe(false)
        expect(fs.existsSync(path.join(dir, "items.results.jsonl"))).toBe(false)
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "a line that is not JSON and a CSV row with the wrong field count fail as Invalid with their line; every other item completes (real processes)",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const db = path.join(dir, "sluice.db")

        const jsonl = path.join(dir, "broken.jsonl")
        fs.writeFileSync(jsonl, '{"id":"a","v":1}\n{"id":"b","v":2}\n{not json\n\n{"id":"d","v":4}\n')
        const r1 = yield* cli(["run", jsonl, "--db", db, "--processor", "echo"])
        expect(r1.code).toBe(0)
        const l1 = readJsonl(path.join(dir, "broken.results.jsonl"))
        expect(l1.map((l) => [l.seq, l.key, l.status])).toEqual([
          [0, "a", "completed"],
          [1, "b", "completed"],
          [2, "line:3", "failed"],
          [3, "d", "completed"]
        ])
        expect(l1[2].error.tag).toBe("Invalid")
        expect(l1[2].error.message).toMatch(/line 3\b/)
        expect(l1[3].output).toEqual({ id: "d", v: 4 })

        const csv = path.join(dir, "rows.csv")
        fs.writeFileSync(csv, "id,name,qty\nx1,apple,3\nx2,pear\nx3,plum,5,extra\nx4,fig,6\n")
        const r2 = yield* cli(["run", csv, "--db", db, "--processor", "echo"])
        expect(r2.code).toBe(0)
        const l2 = readJsonl(path.join(dir, "rows.results.jsonl"))
        expect(l2.map((l) => [l.seq, l.status])).toEqual([
          [0, "completed"],
          [1, "failed"],
          [2, "failed"],
          [3, "completed"]
        ])
        expect(l2[0].output).toEqual({ id: "x1", name: "apple", qty: "3" })
        expect(l2[1].error.tag).toBe("Invalid")
        expect(l2[1].error.message).toMatch(/line 3\b/)
        expect(l2[2].error.tag).toBe("Invalid")
        expect(l2[2].error.message).toMatch(/line 4\b/)
        expect(l2[3].output).toEqual({ id: "x4", name: "fig", qty: "6" })
        expect(r2.stderr).toContain("2 completed, 0 skipped, 2 failed of 4")
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "an unreachable base URL: the run stops after the first items' --max-attempts, exit 1, one line naming the cause, every item pending (real processes)",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const port = yield* freePort
        const input = path.join(dir, "items.jsonl")
        const data = items(20)
        yield* writeJsonl(input, data)
        const r = yield* cli([
          "run",
          input,
          "--db",
          path.join(dir, "sluice.db"),
          "--base-url",
          `http://127.0.0.1:${port}/v1`,
          "--max-attempts",
          "2"
        ])
        expect(r.code).toBe(1)
        expect(readJsonl(path.join(dir, "items.results.jsonl"))).toEqual([])
        const causeLines = stderrLines(r).filter((l) => l.includes("ECONNREFUSED"))
        expect(causeLines).toHaveLength(1)
        expect(causeLines[0]).toContain("unreachable")
        expect(r.stderr).toContain("0 completed, 0 skipped, 0 failed, 20 pending of 20")
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "the API key never leaks: not in the output, stderr or the SQLite file, on 401s or on success (real processes)",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const marker = randomBytes(12).toString("hex")
        const secret = `sk-test-SECRET-${marker}`
        const env = { OPENAI_API_KEY: secret }
        const data = items(12)

        // Every call is refused: the run stops at the first 401s (those already in flight), exit 1, every
        // item still pending.
        const other = yield* Simulator.make({ port: 0, apiKey: "sk-sim-a-different-key" })
        const input = path.join(dir, "refused.jsonl")
        yield* writeJsonl(input, data)
        const db = path.join(dir, "refused.db")
        const refused = yield* cli(["run", input, "--db", db, "--base-url", other.url, "--max-attempts", "3"], { env })
        expect(refused.code).toBe(1)
        expect(refused.stderr).toContain("the upstream rejected the API key (401)")
        expect(readJsonl(path.join(dir, "refused.results.jsonl"))).toEqual([])
        expect((yield* other.stats).unauthorized).toBeLessThanOrEqual(8)
        const status = yield* cli(["status", "--db", db, "--run", defaultRunId(input)])
        expect(parseStatus(status.stdout).get(defaultRunId(input))).toMatchObject({ pending: 12, failed: 0 })

        // The same key accepted: proof that the key read from the environment is the one sent.
        const same = yield* Simulator.make({ port: 0, apiKey: secret })
        const input2 = path.join(dir, "accepted.jsonl")
        yield* writeJsonl(input2, data)
        const db2 = path.join(dir, "accepted.db")
        const accepted = yield* cli(["run", input2, "--db", db2, "--base-url", same.url], { env })
        expect(accepted.code).toBe(0)
        expectCompletedPrefix(readJsonl(path.join(dir, "accepted.results.jsonl")), data, 12)

        const leaks = (text: string) => text.includes(marker)
        for (const r of [refused, accepted]) {
          expect(leaks(r.stderr)).toBe(false)
          expect(leaks(r.stdout)).toBe(false)
        }
        for (const file of fs.readdirSync(dir)) {
          // Every file the runs left: results, the databases and their -wal / -shm.
          expect({ file, leaks: leaks(fs.readFileSync(path.join(dir, file)).toString("latin1")) }).toEqual({
            file,
            leaks: false
          })
        }
        expect(fs.existsSync(db)).toBe(true)
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "SIGINT mid-run stops it with an in-order prefix persisted and nothing left processing; rerunning completes each item exactly once (real processes)",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const sim = yield* Simulator.make({ port: 0, latencyMs: 200, latencySigma: 0, seed: 3 })
        const input = path.join(dir, "items.jsonl")
        const db = path.join(dir, "sluice.db")
        const output = path.join(dir, "out.jsonl")
        const data = items(300)
        yield* writeJsonl(input, data)
        const args = ["run", input, "--db", db, "--out", output, "--base-url", sim.url]

        const p = yield* spawnScoped([...args, "--concurrency", "4"])
        // Until the run ends, results go to a temporary file beside the output, renamed into place at the end.
        yield* waitUntil(() => lineCount(partial(output)) >= 8, 30_000, "the first results")
        p.child.kill("SIGINT")
        const stopped = yield* awaitExit(p, 20_000, "sluice run after SIGINT")

        // Not a crash: a normal exit, a message saying what happened and how to resume.
        expect(stopped.signal).toBeNull()
        // 130: the shell's convention for a run cut short by Ctrl-C, so a driving tool can tell it from a finished run.
        expect(stopped.code).toBe(130)
        expect(stopped.stderr).not.toMatch(/unexpected failure|\n\s+at /)
        expect(stopped.stderr).toMatch(/interrupted/)
        expect(stopped.stderr).toMatch(/same command again to resume/)

        const prefix = readJsonl(output)
        expect(prefix.length).toBeGreaterThanOrEqual(8)
        expect(prefix.length).toBeLessThan(300)
        expectCompletedPrefix(prefix, data, prefix.length)

        const status = yield* cli(["status", "--db", db, "--run", defaultRunId(input)])
        expect(status.code).toBe(0)
        const row = parseStatus(status.stdout).get(defaultRunId(input))
        // Everything finished is stored and written; in-flight items were drained, the rest handed back.
        expect(row).toEqual({
          pending: 300 - prefix.length,
          processing: 0,
          completed: prefix.length,
          skipped: 0,
          failed: 0
        })

        // Resume (with more concurrency, to keep the test short).
        const resumed = yield* cli([...args, "--concurrency", "32"])
        expect(resumed.code).toBe(0)
        const all = readJsonl(output)
        expect(all).toHaveLength(300)
        expectCompletedPrefix(all, data, 300)
        // Each item was answered upstream exactly once across both sessions.
        const sent = new Map<string, number>()
        for (const e of yield* sim.log) if (e.status === 200) sent.set(e.content, (sent.get(e.content) ?? 0) + 1)
        expect(sent.size).toBe(300)
        expect([...sent.values()].filter((n) => n !== 1)).toEqual([])
      }),
    { timeout: 90_000 }
  )
})
