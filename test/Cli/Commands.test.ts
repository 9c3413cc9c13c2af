/**
 * `sluice status`, `retry`, `export`, and what every command does with a `--db` that is not a sluice
 * database: the built executable, driven as another tool would drive it.
 *
 * Real processes and real time (`it.scopedLive`) against an in-process simulator on 127.0.0.1; every
 * child is bounded by a timeout.
 */
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Reactivity from "@effect/experimental/Reactivity"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { defaultRunId } from "../../src/Cli/Commands/Run.js"
import { answerFor } from "../../src/Simulator/Responder.js"
import * as Simulator from "../../src/Simulator/Simulator.js"
import { type CliResult, runCli } from "../support/Cli.js"
import { readJsonl, tempDir, writeJsonl } from "../support/Temp.js"

const cli = (args: ReadonlyArray<string>) => Effect.promise(() => runCli(args, { timeoutMs: 60_000 }))

const stderrLines = (r: CliResult) => r.stderr.split("\n").filter((l) => l.trim().length > 0)

/** `sluice status` rows, by run id. */
const parseStatus = (stdout: string) => {
  const rows = new Map<
    string,
    { pending: number; processing: number; completed: number; skipped: number; failed: number }
  >()
  for (const line of stdout.split("\n").slice(1)) {
    const m = /^(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+\d+\s+\d+/.exec(line)
    if (m !== null)
      rows.set(m[1]!, { pending: +m[2]!, processing: +m[3]!, completed: +m[4]!, skipped: +m[5]!, failed: +m[6]! })
  }
  return rows
}

const lastErrors = (stdout: string) => {
  const at = stdout.indexOf("last errors:")
  return at === -1
    ? []
    : stdout
        .slice(at)
        .split("\n")
        .slice(1)
        .filter((l) => l.trim().length > 0)
}

describe("sluice status / retry / export (real processes)", () => {
  it.scopedLive(
    "status lists runs with counts and last errors; retry --failed re-queues them and a rerun processes them; export matches the run's output (real processes)",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const db = path.join(dir, "sluice.db")

        // Run A: echo, one line that is not JSON.
        const inputA = path.join(dir, "a.jsonl")
        fs.writeFileSync(inputA, '{"id":"a1"}\n{"id":"a2"}\n{oops\n{"id":"a4"}\n')
        const runA = defaultRunId(inputA)
        expect((yield* cli(["run", inputA, "--db", db, "--processor", "echo"])).code).toBe(0)

        // Run B: an upstream that answers every call with a 500, one attempt each: every item fails.
        const inputB = path.join(dir, "b.jsonl")
        const data = Array.from({ length: 6 }, (_, i) => ({ id: `b${i}`, text: `text of b${i}` }))
        yield* writeJsonl(inputB, data)
        const runB = defaultRunId(inputB)
        const outB = path.join(dir, "b.out.jsonl")
        const failing = yield* Simulator.make({ port: 0, latencyMs: 1, errorRate: 1 })
        const dead = failing.url
        const failedRun = yield* cli([
          "run",
          inputB,
          "--db",
          db,
          "--out",
          outB,
          "--base-url",
          dead,
          "--max-attempts",
          "1"
        ])
        expect(failedRun.code).toBe(0)
        expect(readJsonl(outB).map((l) => l.status)).toEqual(data.map(() => "failed"))

        // status: every run with its counts, and the last errors with tag, attempts, key and cause.
        const all = yield* cli(["status", "--db", db])
        expect(all.code).toBe(0)
        const rows = parseStatus(all.stdout)
        expect(rows.get(runA)).toEqual({ pending: 0, processing: 0, completed: 3, skipped: 0, failed: 1 })
        expect(rows.get(runB)).toEqual({ pending: 0, processing: 0, completed: 0, skipped: 0, failed: 6 })
        const errorsAll = lastErrors(all.stdout)
        expect(errorsAll.length).toBeGreaterThan(0)
        expect(
          errorsAll.some(
            (l) => l.includes(runB) && /key b\d/.test(l) && /Transient after 1 attempt/.test(l) && l.includes("500")
          )
        ).toBe(true)

        const onlyA = yield* cli(["status", "--db", db, "--run", runA])
        expect(onlyA.code).toBe(0)
        expect([...parseStatus(onlyA.stdout).keys()]).toEqual([runA])
        const errorsA = lastErrors(onlyA.stdout)
        expect(errorsA).toHaveLength(1)
        expect(errorsA[0]).toMatch(/key line:3\b.*Invalid.*line 3\b/)

        // retry --failed: run B's items go back to pending; A's unreadable line stays failed.
        const retryB = yield* cli(["retry", "--db", db, "--run", runB, "--failed"])
        expect(retryB.code).toBe(0)
        expect(retryB.stderr).toMatch(/re-queued 6 failed item/)
        const retryA = yield* cli(["retry", "--db", db, "--run", runA, "--failed"])
        expect(retryA.code).toBe(0)
        expect(retryA.stderr).toMatch(/re-queued 0 failed item/)
        const afterRetry = parseStatus((yield* cli(["status", "--db", db])).stdout)
        expect(afterRetry.get(runB)).toEqual({ pending: 6, processing: 0, completed: 0, skipped: 0, failed: 0 })
        expect(afterRetry.get(runA)).toEqual({ pending: 0, processing: 0, completed: 3, skipped: 0, failed: 1 })

        // The same `sluice run` against a working upstream processes the re-queued items.
        const sim = yield* Simulator.make({ port: 0, latencyMs: 5 })
        const rerun = yield* cli(["run", inputB, "--db", db, "--out", outB, "--base-url", sim.url])
        expect(rerun.code).toBe(0)
        expect(readJsonl(outB)).toEqual(
          data.map((d, i) => ({
            seq: i,
            key: d.id,
            status: "completed",
            output: JSON.parse(answerFor(JSON.stringify(d)))
          }))
        )
        expect((yield* sim.stats).accepted).toBe(6)

        // export: the run's ordered results, byte for byte what the run wrote.
        const exported = path.join(dir, "b.export.jsonl")
        const ex = yield* cli(["export", "--db", db, "--run", runB, "--out", exported])
        expect(ex.code).toBe(0)
        expect(fs.readFileSync(exported, "utf8")).toBe(fs.readFileSync(outB, "utf8"))
        const exportedA = path.join(dir, "a.export.jsonl")
        expect((yield* cli(["export", "--db", db, "--run", runA, "--out", exportedA])).code).toBe(0)
        expect(fs.readFileSync(exportedA, "utf8")).toBe(fs.readFileSync(path.join(dir, "a.results.jsonl"), "utf8"))

        // An unknown run: exit 1 naming it, and nothing written.
        const nowhere = path.join(dir, "nowhere.jsonl")
        const unknown = yield* cli(["export", "--db", db, "--run", "no-such-run", "--out", nowhere])
        expect(unknown.code).toBe(1)
        expect(stderrLines(unknown)).toHaveLength(1)
        expect(unknown.stderr).toContain("no-such-run")
        expect(fs.existsSync(nowhere)).toBe(false)
        const unknownStatus = yield* cli(["status", "--db", db, "--run", "no-such-run"])
        expect(unknownStatus.code).toBe(1)
        expect(unknownStatus.stderr).toContain("no-such-run")
      }),
    { timeout: 90_000 }
  )

  it.scopedLive(
    "--db naming a file that is not a sluice database: every command exits 1 with one line naming it and leaves it unchanged (real processes)",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const input = path.join(dir, "items.jsonl")
        yield* writeJsonl(input, [{ id: "x" }])

        const text = path.join(dir, "notes.txt")
        fs.writeFileSync(text, "my precious notes, not a database\n")
        // A SQLite database of some other program (rollback journal, so it is one file).
        const other = path.join(dir, "other.sqlite")
        yield* Effect.scoped(
          Effect.gen(function* () {
            const sql = yield* SqliteClient.make({ filename: other, disableWAL: true })
            yield* sql`CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)`
            yield* sql`INSERT INTO users (name) VALUES ('ada')`
          }).pipe(Effect.provide(Reactivity.layer), Effect.orDie)
        )

        const commands = (db: string): ReadonlyArray<ReadonlyArray<string>> => [
          ["status", "--db", db],
          ["export", "--db", db, "--run", "r", "--out", path.join(dir, "export.jsonl")],
          ["retry", "--db", db, "--failed"],
          ["worker", "--db", db],
          ["run", input, "--db", db, "--processor", "echo"]
        ]
        for (const db of [text, other]) {
          const before = fs.readFileSync(db)
          for (const args of db === text
            ? commands(db)
            : commands(db).filter((a) => a[0] === "status" || a[0] === "run")) {
            const r = yield* cli(args)
            expect({ args, code: r.code }).toEqual({ args, code: 1 })
            expect({ args, lines: stderrLines(r).length }).toEqual({ args, lines: 1 })
            expect(r.stderr).toContain(db)
            expect(fs.readFileSync(db).equals(before)).toBe(true)
            expect(fs.existsSync(`${db}-wal`) || fs.existsSync(`${db}-shm`) || fs.existsSync(`${db}-journal`)).toBe(
              false
            )
          }
        }
        expect(fs.existsSync(path.join(dir, "export.jsonl"))).toBe(false)
        expect(fs.existsSync(path.join(dir, "items.results.jsonl"))).toBe(false)
      }),
    { timeout: 90_000 }
  )
})
