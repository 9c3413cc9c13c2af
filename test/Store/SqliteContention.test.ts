/**
 * SQLite under write contention: eight writer processes (`ContentionWriter.ts`), each with its own
 * connection, open one database file at the same moment and loop record → claim → heartbeat → complete.
 * Twice: on a new file (the migrations race), then on that file closed and reopened by eight at once
 * (the open-time checks race). None may crash (SQLITE_BUSY is waited out, never a defect), and the
 * file must add up afterwards: every key recorded once, every claimed item completed exactly once.
 *
 * Real processes and real time; bounded.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as SqliteStore from "../../src/Store/SqliteStore.js"
import { tempDir } from "../support/Temp.js"

const WRITERS = 8
const ROUNDS = 5
/** Per round, as in ContentionWriter.ts: keys shared by all writers, and keys of one writer. */
const SHARED = 10
const OWN = 10
const SCRIPT = path.join(import.meta.dirname, "ContentionWriter.ts")

interface Exited {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

interface Totals {
  readonly inserted: number
  readonly claimed: number
  readonly completed: number
}

const writer = (db: string, wave: number, index: number, go: string) => {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", SCRIPT, db, String(wave), String(index), String(ROUNDS), go],
    { stdio: ["ignore", "pipe", "pipe"] }
  )
  let stdout = ""
  let stderr = ""
  let onReady: () => void = () => {}
  const ready = new Promise<void>((resolve) => (onReady = resolve))
  child.stdout.on("data", (d) => {
    stdout += d
    if (stdout.startsWith("ready\n")) onReady()
  })
  child.stderr.on("data", (d) => (stderr += d))
  const exited = new Promise<Exited>((resolve) => child.on("exit", (code) => resolve({ code, stdout, stderr })))
  return { child, ready, exited }
}

/** One wave: WRITERS processes, released together once all have loaded; what they did, summed. */
const wave = (dir: string, db: string, n: number) =>
  Effect.gen(function* () {
    const go = path.join(dir, `go${n}`)
    const writers = yield* Effect.acquireRelease(
      Effect.sync(() => Array.from({ length: WRITERS }, (_, i) => writer(db, n, i, go))),
      (ws) => Effect.sync(() => ws.forEach((w) => w.child.exitCode === null && w.child.kill("SIGKILL")))
    )
    yield* Effect.promise(() =>
      Promise.race([Promise.all(writers.map((w) => w.ready)), ...writers.map((w) => w.exited)])
    )
    fs.writeFileSync(go, "")
    const results = yield* Effect.promise(() => Promise.all(writers.map((w) => w.exited))).pipe(
      Effect.timeoutFail({ duration: "120 seconds", onTimeout: () => new Error(`wave ${n}: writers still running`) }),
      Effect.orDie
    )
    for (const [i, r] of results.entries()) expect(r.code, `wave ${n}, writer ${i}: ${r.stderr}`).toBe(0)
    return results
      .map((r) => JSON.parse(r.stdout.split("\n")[1]!) as Totals)
      .reduce((a, b) => ({
        inserted: a.inserted + b.inserted,
        claimed: a.claimed + b.claimed,
        completed: a.completed + b.completed
      }))
  })

describe("SQLite store under write contention (real processes)", () => {
  it.scopedLive(
    `${WRITERS} writer processes open one file at once and loop record/claim/complete, on a new file and again on it reopened: none crashes, nothing is lost or done twice`,
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const db = path.join(dir, "contention.db")
        const keysPerWave = ROUNDS * SHARED + WRITERS * ROUNDS * OWN
        let completed = 0
        for (const n of [1, 2]) {
          const totals = yield* wave(dir, db, n)
          expect(totals.inserted).toBe(keysPerWave)
          expect(totals.completed).toBe(totals.claimed)
          completed += totals.completed
          // Every writer has closed the file: the next wave opens it afresh, all at once.
          expect(fs.existsSync(`${db}-wal`)).toBe(false)
        }
        const counts = yield* Effect.scoped(
          Effect.flatMap(SqliteStore.make({ filename: db }), (store) => store.counts("contention"))
        )
        expect(counts).toEqual({
          pending: 2 * keysPerWave - completed,
          processing: 0,
          completed,
          skipped: 0,
          failed: 0
        })
      }),
    300_000
  )
})
