/**
 * The crash test of the durable queue: `sluice run` is SIGKILLed at random moments and restarted with
 * the same command; in the end every item is in the output exactly once, in order, and the upstream
 * saw no item twice except those in flight at a kill.
 *
 * Real processes and real time: the simulator runs as its own `sluice simulate` process so that its
 * request log (written synchronously before each answer) survives every kill of the client. Every wait
 * is bounded; children still running when the test ends are killed by the scope's finalizers.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { defaultRunId } from "../../src/Cli/Commands/Run.js"
import { total } from "../../src/Domain/Run.js"
import { answerFor } from "../../src/Simulator/Responder.js"
import * as SqliteStore from "../../src/Store/SqliteStore.js"
import type { Store } from "../../src/Store/Store.js"
import { awaitExit, runCli, spawnScoped } from "../support/Cli.js"
import { waitUntil } from "../support/Wait.js"
import { readJsonl, tempDir, writeJsonl } from "../support/Temp.js"
import { freePort } from "../support/Net.js"

const N = 2000
const CONCURRENCY = 8
const KILLS = 3

const isUp = (port: number) =>
  Effect.promise(() =>
    fetch(`http://127.0.0.1:${port}/_sim/stats`, { signal: AbortSignal.timeout(1000) }).then(
      (r) => r.ok,
      () => false
    )
  )

const randomInt = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo + 1))

describe("sluice run under SIGKILL (real processes)", () => {
  it.scopedLive(
    `2,000 items, ${KILLS} SIGKILLs at random moments and restarts: each item once in order, no duplicate upstream call beyond those in flight at a kill (real processes)`,
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const port = yield* freePort
        const log = path.join(dir, "sim.log")
        const sim = yield* spawnScoped([
          "simulate",
          "--port",
          String(port),
          "--rpm",
          "60000",
          "--latency-ms",
          "30",
          "--log",
          log
        ])
        yield* waitUntil(isUp(port), 15_000, "the simulator")

        const input = path.join(dir, "items.jsonl")
        const db = path.join(dir, "sluice.db")
        const output = path.join(dir, "items.results.jsonl")
        const partials = () =>
          fs.readdirSync(dir).filter((f) => f.startsWith(".items.results.jsonl.") && f.endsWith(".tmp"))
        const data = Array.from({ length: N }, (_, i) => ({ id: `k${i}`, text: `item ${i} ${"x".repeat(i % 17)}` }))
        yield* writeJsonl(input, data)
        const run = defaultRunId(input)
        const args = [
          "run",
          input,
          "--db",
          db,
          "--base-url",
          `http://127.0.0.1:${port}/v1`,
          "--concurrency",
          String(CONCURRENCY)
        ]

        /** When each kill was sent, and when the killed process was gone. */
        const kills: Array<{ sentAt: number; exitedAt: number }> = []
        let store: Store["Type"] | undefined
        let completedBefore = 0
        for (let k = 0; k < KILLS; k++) {
          const p = yield* spawnScoped(args)
          // The output's temporary file appears once the run is open, so the schema exists: then read the store.
          if (store === undefined) {
            yield* waitUntil(
              Effect.sync(() => partials().length > 0),
              20_000,
              "the run to open"
            )
            store = yield* SqliteStore.make({ filename: db })
          }
          const s = store
          // Progress since the last restart, then a random extra moment.
          const target = completedBefore + randomInt(100, 300)
          yield* waitUntil(
            Effect.map(s.counts(run), (c) => c.completed >= target && total(c) === N),
            30_000,
            `${target} completed items`
          )
          yield* Effect.sleep(Duration.millis(randomInt(0, 150)))
          const sentAt = Date.now()
          p.child.kill("SIGKILL")
          const killed = yield* awaitExit(p, 10_000, "the killed run")
          kills.push({ sentAt, exitedAt: Date.now() })
          expect(killed.signal).toBe("SIGKILL")
          const counts = yield* s.counts(run)
          completedBefore = counts.completed

          if (k === 0) {
            // Before restarting: status shows the killed run as it really is.
            const status = yield* Effect.promise(() =>
              runCli(["status", "--db", db, "--run", run], { timeoutMs: 20_000 })
            )
            expect(status.code).toBe(0)
            const row = status.stdout.split("\n").find((l) => l.startsWith(run + " "))
            expect(row).toBeDefined()
            const [pending, processing, completed, skipped, failed] = row!.trim().split(/\s+/).slice(1, 6).map(Number)
            expect({ pending, processing, completed, skipped, failed }).toEqual(counts)
            expect(completed).toBeGreaterThan(0)
            expect(pending! + processing!).toBeGreaterThan(0)
            expect(pending! + processing! + completed! + skipped! + failed!).toBe(N)
            expect(status.stdout).not.toContain("source still being read")
            // The output is written to a temporary file renamed into place at the end, so a killed run
            // leaves no half-written output; what the temporary file holds is finished in the store.
            expect(fs.existsSync(output)).toBe(false)
            expect(partials().length).toBe(1)
            expect(readJsonl(path.join(dir, partials()[0]!)).length).toBeLessThanOrEqual(completed!)
          }
        }

        // The last restart runs to the end; items leased by a killed process come back when their
        // lease (30 s) expires.
        const last = yield* spawnScoped(args)
        const finished = yield* awaitExit(last, 100_000, "the final run")
        expect(finished.code).toBe(0)
        expect(finished.stderr).toContain(`${N} completed, 0 skipped, 0 failed of ${N}`)

        // The killed runs' temporary files are gone: the last run removed them.
        expect(partials()).toEqual([])
        const lines = readJsonl(output)
        expect(lines.map((l) => l.seq)).toEqual(data.map((_, i) => i))
        for (const l of lines) {
          const item = data[l.seq]!
          expect(l).toEqual({
            seq: l.seq,
            key: item.id,
            status: "completed",
            output: JSON.parse(answerFor(JSON.stringify(item)))
          })
        }

        // The simulator's log: every answered (200) request, by content, in the simulator's own clock.
        sim.child.kill("SIGTERM")
        yield* awaitExit(sim, 10_000, "the simulator")
        const sent = new Map<string, Array<number>>()
        for (const e of readJsonl(log)) {
          if (e.status !== 200) continue
          const at = sent.get(e.content)
          if (at === undefined) sent.set(e.content, [e.arrivedAt])
          else at.push(e.arrivedAt)
        }
        for (const item of data) expect(sent.has(JSON.stringify(item))).toBe(true)
        expect(sent.size).toBe(N)
        // A second send is explained by a kill only if the first was sent before that process died and
        // the second after: at most one extra per item per kill, and at most `concurrency` per kill.
        const perKill = kills.map(() => 0)
        const unexplained: Array<string> = []
        for (const [content, times] of sent) {
          times.sort((a, b) => a - b)
          for (let i = 1; i < times.length; i++) {
            const k = kills.findIndex((kill) => times[i - 1]! <= kill.exitedAt && times[i]! >= kill.sentAt)
            if (k === -1) unexplained.push(content)
            else perKill[k]!++
          }
        }
        expect(unexplained).toEqual([])
        expect(Math.max(...perKill), `duplicate upstream calls per kill: ${perKill.join(", ")}`).toBeLessThanOrEqual(
          CONCURRENCY
        )
      }),
    { timeout: 150_000 }
  )
})
