/**
 * Case 3, loan ingest: the blocking loan function on real worker threads, in real time. Every test
 * here starts real threads and waits real milliseconds, says so in its name, and is bounded (a
 * dozen loans of 50–150 ms each).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import { generateLoans, toCsv } from "../../examples/loan-ingest/loans.js"
import { processLoan, valuationCallMs } from "../../examples/loan-ingest/processLoan.js"
import { ingest, layer, type LoanIngestOptions, run } from "../../examples/loan-ingest/program.js"
import { runSequential } from "../../examples/loan-ingest/sequential.js"
import * as ThreadPool from "../../src/Stages/ThreadPool.js"
import { readJsonl, tempDir } from "../support/Temp.js"

type Loans = ReturnType<typeof generateLoans>

/** Writes the loans as CSV and runs the old sequential path on them; returns the options for sluice. */
const prepare = (dir: string, loans: Loans, maxConcurrent: number, calls?: Array<ThreadPool.CallRecord>) => {
  const csv = path.join(dir, "loans.csv")
  fs.writeFileSync(csv, toCsv(loans))
  const sequentialFile = path.join(dir, "sequential.jsonl")
  runSequential(csv, sequentialFile)
  const options: LoanIngestOptions = {
    csv,
    database: path.join(dir, "sluice.db"),
    output: path.join(dir, "processed.jsonl"),
    maxConcurrent,
    onCall: calls === undefined ? undefined : (call) => Effect.sync(() => calls.push(call))
  }
  return { options, sequentialFile }
}

/** The most calls in flight at one instant, from their start and end times measured in the threads. */
const maxOverlap = (calls: ReadonlyArray<ThreadPool.CallRecord>): number => {
  const events = calls.flatMap(
    (c) =>
      [
        [c.startedAt, 1],
        [c.finishedAt, -1]
      ] as const
  )
  // An end before a start at the same instant: touching calls do not overlap.
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1])
  let now = 0
  let max = 0
  for (const [, d] of events) max = Math.max(max, (now += d))
  return max
}

/** Runs `body` with a 10 ms interval on this thread; returns its result and the timer's worst lateness. */
const withTicker = <A, E, R>(body: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const interval = 10
    let last = performance.now()
    let worst = 0
    const timer = setInterval(() => {
      const now = performance.now()
      worst = Math.max(worst, now - last - interval)
      last = now
    }, interval)
    const result = yield* body.pipe(Effect.ensuring(Effect.sync(() => clearInterval(timer))))
    return { result, latenessMs: worst }
  })

describe("loan ingest (case 3)", () => {
  // First in the file: the thread count is read before any other test has started (and stopped) threads.
  it.scopedLive(
    "the pool's threads stop with its scope, and it fails to start with a typed error when its module cannot load (real threads)",
    () =>
      Effect.gen(function* () {
        const ports = () => process.getActiveResourcesInfo().filter((r) => r === "MessagePort").length
        const before = ports()
        yield* Effect.scoped(
          Effect.gen(function* () {
            yield* Layer.build(
              ThreadPool.layer({ module: new URL("../../examples/loan-ingest/worker.ts", import.meta.url), size: 3 })
            )
            expect(ports()).toBe(before + 3)
          })
        )
        expect(ports()).toBe(before)

        const missing = yield* Layer.build(
          ThreadPool.layer({ module: new URL("./no-such-worker.ts", import.meta.url), size: 2 })
        ).pipe(Effect.scoped, Effect.flip)
        expect(missing).toMatchObject({ _tag: "ThreadPoolError", reason: "Start" })
        expect(missing.message).toContain("no-such-worker.ts")
      })
  )

  it.scopedLive(
    "MAX_CONCURRENT=1 writes the old sequential path's output byte for byte, one loan at a time (real threads, real time)",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const calls: Array<ThreadPool.CallRecord> = []
        const { options, sequentialFile } = prepare(dir, generateLoans({ count: 10, faulty: [4] }), 1, calls)

        const summary = yield* run(options)

        expect(summary).toMatchObject({ loans: 10, succeeded: 9, failed: 1 })
        expect(fs.readFileSync(options.output).equals(fs.readFileSync(sequentialFile))).toBe(true)
        // The old behaviour: in input order, never two at once, one thread.
        expect(calls.map((c) => c.item.seq)).toEqual([...calls.map((c) => c.item.seq)].sort((a, b) => a - b))
        expect(maxOverlap(calls)).toBe(1)
        expect(new Set(calls.map((c) => c.threadId)).size).toBe(1)
      })
  )

  it.scopedLive(
    "MAX_CONCURRENT=5 writes the same bytes, with 5 loans in flight at once on 5 threads (real threads, real time)",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const calls: Array<ThreadPool.CallRecord> = []
        const { options, sequentialFile } = prepare(dir, generateLoans({ count: 15, faulty: [6] }), 5, calls)

        const summary = yield* run(options)

        expect(summary).toMatchObject({ loans: 15, succeeded: 14, failed: 1 })
        expect(fs.readFileSync(options.output, "utf8")).toBe(fs.readFileSync(sequentialFile, "utf8"))
        expect(calls).toHaveLength(15)
        expect(maxOverlap(calls)).toBe(5)
        expect(new Set(calls.map((c) => c.threadId)).size).toBe(5)
      })
  )

  it.scopedLive(
    "timers fire on time while the threads block; the function on the main thread holds them for a whole loan (real threads, real time)",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        // Loans that block at least 120 ms each, so "far below one loan" leaves room on a busy machine.
        const slow = generateLoans({ count: 80, faulty: [] })
          .filter((l) => valuationCallMs(l) >= 120)
          .slice(0, 10)
        expect(slow).toHaveLength(10)
        const blockMs = Math.min(...slow.map(valuationCallMs))
        // Far below one loan: half its block. Unloaded, the worst lateness here is ~15 ms; on a 2-core
        // machine shared with other jobs the scheduler alone can add tens of milliseconds.
        const boundMs = blockMs / 2
        const { options } = prepare(dir, slow, 5)

        // A loan on the event loop delays the timer by its whole block, every time; other processes
        // on a shared machine delay it at random. So the best of up to three runs is the measure: one
        // run under the bound shows the loans never held the loop.
        const measured: Array<number> = []
        for (let i = 0; i < 3 && !(Math.min(...measured) < boundMs); i++) {
          const attempt = {
            ...options,
            database: path.join(dir, `sluice-${i}.db`),
            output: path.join(dir, `processed-${i}.jsonl`)
          }
          const pooled = yield* Effect.scoped(
            Effect.gen(function* () {
              // Threads started first: the measurement covers the loans being processed.
              const stages = yield* Layer.build(layer(attempt))
              return yield* withTicker(ingest(attempt).pipe(Effect.provide(stages)))
            })
          )
          expect(pooled.result.succeeded).toBe(10)
          measured.push(pooled.latenessMs)
        }

        // The control: the same function called directly on this thread, one loan per macrotask.
        const direct = yield* withTicker(
          Effect.forEach(
            slow.slice(0, 3),
            (loan) =>
              Effect.zipRight(
                Effect.sleep("30 millis"),
                Effect.sync(() => processLoan(loan))
              ),
            {
              discard: true
            }
          )
        )

        yield* Effect.logInfo(
          `timer lateness: ${measured.map((m) => m.toFixed(1)).join(", ")} ms with the pool, ${direct.latenessMs.toFixed(1)} ms on the main thread (a loan blocks ≥ ${blockMs} ms)`
        )
        expect(Math.min(...measured)).toBeLessThan(boundMs)
        // The interval waits out the whole call: its gap holds the block, so it is late by ≥ block − interval.
        expect(direct.latenessMs).toBeGreaterThanOrEqual(blockMs - 10)
      })
  )

  it.scopedLive(
    "a loan whose function throws is Failed with its tag and message, the others complete (real threads, real time)",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const loans = generateLoans({ count: 8, faulty: [2, 5] })
        const { options } = prepare(dir, loans, 5)

        const summary = yield* run(options)

        expect(summary).toMatchObject({ loans: 8, succeeded: 6, failed: 2 })
        const lines = readJsonl(options.output)
        expect(lines.map((l) => l.loan)).toEqual(loans.map((l) => l.id))
        for (const [i, line] of lines.entries()) {
          if (i === 2 || i === 5) {
            expect(line.status).toBe("failed")
            expect(line.error.tag).toBe("Invalid")
            expect(line.error.message).toMatch(
              new RegExp(`^LoanDataError: loan ${loans[i]!.id}: VIN .* is not 17 valid characters$`)
            )
          } else {
            expect(line.status).toBe("completed")
            expect(line.result.id).toBe(loans[i]!.id)
          }
        }
        // Invalid is not retried: one attempt each.
        const results = readJsonl(`${options.database}.results.jsonl`).filter((r) => r.status === "failed")
        expect(results.map((r) => r.error.attempts)).toEqual([1, 1])
      })
  )
})
