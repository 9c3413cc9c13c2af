/**
 * `sluice serve` as a process: SIGTERM mid-run drains and exits 0 with no lease left behind, and a
 * restart finishes the run with every item exactly once, upstream and in the results.
 *
 * Real processes and real HTTP on 127.0.0.1: the built CLI (test/support/Cli.ts) against an
 * in-process simulator. Every wait is bounded; a child still running when the test ends is killed.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as path from "node:path"
import { answerFor } from "../../src/Simulator/Responder.js"
import * as Simulator from "../../src/Simulator/Simulator.js"
import * as SqliteStore from "../../src/Store/SqliteStore.js"
import { awaitExit, spawnScoped } from "../support/Cli.js"
import { getJson } from "../support/Http.js"
import { tempDir } from "../support/Temp.js"
import { waitFor } from "../support/Wait.js"

const N = 120

/** The URL `sluice serve` prints once it listens. */
const listening = (p: { output: () => { stderr: string } }, ms: number) =>
  Effect.gen(function* () {
    const deadline = Date.now() + ms
    while (true) {
      const url = /listening on (http:\/\/\S+)/.exec(p.output().stderr)?.[1]
      if (url !== undefined) return url
      if (Date.now() > deadline) return yield* Effect.die(new Error(`serve did not start: ${p.output().stderr}`))
      yield* Effect.sleep("50 millis")
    }
  })

describe("sluice serve (real processes, real HTTP on 127.0.0.1)", () => {
  it.scopedLive(
    `SIGTERM mid-run: in-flight items finish, exit 0, no lease left; a restart completes the run with each of ${N} items exactly once (real processes, real HTTP on 127.0.0.1)`,
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const db = path.join(dir, "serve.db")
        // Slow enough that the run is surely mid-way when the signal comes: 120 × 150 ms / 4 ≈ 4.5 s.
        const sim = yield* Simulator.make({ port: 0, latencyMs: 150, latencySigma: 0, seed: 7 })
        const args = [
          "serve",
          "--db",
          db,
          "--port",
          "0",
          "--base-url",
          sim.url,
          "--rpm",
          "60000",
          "--concurrency",
          "4",
          "--drain-timeout",
          "5"
        ]
        const items = Array.from({ length: N }, (_, i) => ({ id: `s${i}`, text: `item number ${i}` }))

        const first = yield* spawnScoped(args)
        const base = yield* listening(first, 20_000)
        const created = yield* Effect.promise(() =>
          fetch(`${base}/v1/runs?run=term&processor=llm&model=sim&maxTokens=32`, {
            method: "POST",
            headers: { "content-type": "application/x-ndjson" },
            body: items.map((i) => JSON.stringify(i)).join("\n"),
            signal: AbortSignal.timeout(10_000)
          }).then((r) => r.status)
        )
        expect(created).toBe(202)
        yield* waitFor(getJson(`${base}/v1/runs/term`), (r) => r.counts.completed >= 12, 20_000, "12 completed items")

        const sentAt = Date.now()
        first.child.kill("SIGTERM")
        const stopped = yield* awaitExit(first, 15_000, "serve after SIGTERM")
        const stopMs = Date.now() - sentAt
        console.log(`sluice serve: SIGTERM to exit ${stopMs} ms (4 items in flight at 150 ms latency)`)
        expect(stopped.code).toBe(0)
        expect(stopped.signal).toBeNull()
        expect(stopped.stderr).toContain("stopping")
        expect(stopped.stderr).toContain("stopped")
        expect(stopped.stderr).not.toMatch(/unexpected failure|\n\s+at /)
        // Drained well within --drain-timeout: the items in flight needed one more answer each.
        expect(stopMs).toBeLessThan(5_000)

        // No lease left behind, nothing lost.
        const counts = yield* Effect.scoped(
          Effect.flatMap(SqliteStore.make({ filename: db }), (store) => store.counts("term"))
        ).pipe(Effect.orDie)
        expect(counts.processing).toBe(0)
        expect(counts.failed).toBe(0)
        expect(counts.completed + counts.pending).toBe(N)
        expect(counts.completed).toBeLessThan(N)
        const sentBeforeRestart = (yield* sim.log).length
        expect(sentBeforeRestart).toBe(counts.completed)

        // Restart: the workers pick the run up where it stopped.
        const second = yield* spawnScoped(args)
        const base2 = yield* listening(second, 20_000)
        const done = yield* waitFor(
          getJson(`${base2}/v1/runs/term`),
          (r) => r.done === true,
          30_000,
          "the run to finish"
        )
        expect(done.counts).toEqual({ pending: 0, processing: 0, completed: N, skipped: 0, failed: 0 })
        const results = yield* Effect.promise(() =>
          fetch(`${base2}/v1/runs/term/results`, { signal: AbortSignal.timeout(10_000) }).then((r) => r.text())
        )
        const lines = results
          .split("\n")
          .filter((l) => l.length > 0)
          .map((l) => JSON.parse(l))
        expect(lines).toEqual(
          items.map((item, i) => ({
            seq: i,
            key: item.id,
            status: "completed",
            output: JSON.parse(answerFor(JSON.stringify(item)))
          }))
        )
        // Each item went upstream exactly once over both processes: the drained ones were not redone.
        const sent = new Map<string, number>()
        for (const e of yield* sim.log) sent.set(e.content, (sent.get(e.content) ?? 0) + 1)
        expect(sent.size).toBe(N)
        expect([...sent.values()].filter((n) => n !== 1)).toEqual([])

        second.child.kill("SIGTERM")
        expect((yield* awaitExit(second, 15_000, "the second serve")).code).toBe(0)
      }),
    { timeout: 90_000 }
  )
})
