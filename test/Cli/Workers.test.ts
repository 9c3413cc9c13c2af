/**
 * Two `sluice worker` processes on one SQLite file share a run's work through leases: each item is
 * claimed by one of them and sent upstream once.
 *
 * Real processes and real time against an in-process simulator on 127.0.0.1; every wait is bounded and
 * children still running when the test ends are killed by the scope's finalizer.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as path from "node:path"
import { SourceRecord } from "../../src/Domain/Item.js"
import { answerFor } from "../../src/Simulator/Responder.js"
import * as Simulator from "../../src/Simulator/Simulator.js"
import * as SqliteStore from "../../src/Store/SqliteStore.js"
import { awaitExit, spawnScoped } from "../support/Cli.js"
import { tempDir } from "../support/Temp.js"

const N = 600

describe("sluice worker (real processes)", () => {
  it.scopedLive(
    "two workers on one SQLite file share 600 pending items: each sent upstream once, both did some (real processes)",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const db = path.join(dir, "shared.db")
        const sim = yield* Simulator.make({ port: 0, latencyMs: 40, latencySigma: 0.3, seed: 11 })
        const run = "shared-run"
        const payloads = Array.from({ length: N }, (_, i) => ({ id: `w${i}`, body: `message number ${i}` }))

        // The run is created and filled through the library; the store is closed before the workers start.
        yield* Effect.scoped(
          Effect.gen(function* () {
            const store = yield* SqliteStore.make({ filename: db })
            yield* store.openRun(run, { processor: "llm", model: "m", maxTokens: 64 })
            const recorded = yield* store.record(
              run,
              payloads.map((p, i) => SourceRecord.record(p.id, p, i, i + 1))
            )
            expect(recorded.inserted).toBe(N)
            yield* store.markFetched(run)
          })
        )

        const args = ["worker", "--db", db, "--base-url", sim.url, "--concurrency", "4"]
        const a = yield* spawnScoped(args)
        const b = yield* spawnScoped(args)
        const [ra, rb] = yield* Effect.all([awaitExit(a, 60_000, "worker a"), awaitExit(b, 60_000, "worker b")], {
          concurrency: 2
        })
        expect(ra.code, `worker a: ${ra.stderr}`).toBe(0)
        expect(rb.code, `worker b: ${rb.stderr}`).toBe(0)

        const finished = [ra, rb].map((r) => {
          const m = /finished (\d+) item\(s\)/.exec(r.stderr)
          expect(m, r.stderr).not.toBeNull()
          return Number(m![1])
        })
        expect(finished[0]).toBeGreaterThan(0)
        expect(finished[1]).toBeGreaterThan(0)
        expect(finished[0]! + finished[1]!).toBe(N)

        // Every item completed with its own answer.
        const rows = yield* Effect.scoped(
          Effect.gen(function* () {
            const store = yield* SqliteStore.make({ filename: db })
            expect(yield* store.counts(run)).toEqual({ pending: 0, processing: 0, completed: N, skipped: 0, failed: 0 })
            return yield* store.results(run, { afterSeq: -1, limit: N + 1 })
          })
        )
        expect(rows.map((r) => r.seq)).toEqual(payloads.map((_, i) => i))
        for (const r of rows) {
          expect(r.key).toBe(payloads[r.seq]!.id)
          expect(JSON.parse(r.outputJson!)).toEqual(JSON.parse(answerFor(JSON.stringify(payloads[r.seq]))))
        }

        // The upstream saw each item exactly once.
        const sent = new Map<string, number>()
        for (const e of yield* sim.log) if (e.status === 200) sent.set(e.content, (sent.get(e.content) ?? 0) + 1)
        expect(sent.size).toBe(N)
        expect([...sent.entries()].filter(([, n]) => n !== 1)).toEqual([])
        expect((yield* sim.stats).accepted).toBe(N)
      }),
    { timeout: 90_000 }
  )
})
