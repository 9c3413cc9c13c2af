/**
 * Case 3, loan ingest, end to end with embedded defaults:
 *
 *   npm run example:loans                      # 40 loans, MAX_CONCURRENT=5
 *   MAX_CONCURRENT=1 npm run example:loans     # the old sequential behaviour, through sluice
 *   LOANS=200 LOAN_INGEST_DIR=/tmp/loans npm run example:loans
 *
 * It writes a loan CSV, runs the old sequential path on it, runs the same loans through sluice with
 * the loan function on `MAX_CONCURRENT` worker threads, checks that both output files are the same
 * bytes, and prints the makespans, the speedup and how late the event loop ran meanwhile.
 *
 * On a 2-core machine five loans at once can only be faster because the loan function spends almost
 * all its time blocked on (simulated) synchronous I/O — 50–150 ms parked per loan against ~4 ms of
 * CPU. A CPU-bound function would gain at most the number of cores.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Config, Console, Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { monitorEventLoopDelay, performance } from "node:perf_hooks"
import { writeLoansCsv } from "./loans.js"
import { ingest, layer, MaxConcurrent, type LoanIngestOptions } from "./program.js"
import { runSequential } from "./sequential.js"

const ms = (n: number) => `${Math.round(n).toLocaleString("en-US")} ms`

const main = Effect.gen(function* () {
  const maxConcurrent = yield* MaxConcurrent
  const count = yield* Config.integer("LOANS").pipe(Config.withDefault(40))
  const dir = path.resolve(yield* Config.string("LOAN_INGEST_DIR").pipe(Config.withDefault("loan-ingest-out")))
  fs.mkdirSync(dir, { recursive: true })

  const csv = path.join(dir, "loans.csv")
  writeLoansCsv(csv, { count })
  const options: LoanIngestOptions = {
    csv,
    // A fresh store: this demo runs the same loans every time, and a kept store would (rightly)
    // find every loan already done and process nothing.
    database: path.join(dir, "sluice.db"),
    output: path.join(dir, "processed.jsonl"),
    maxConcurrent
  }
  for (const f of fs.readdirSync(dir)) if (f.startsWith("sluice.db")) fs.rmSync(path.join(dir, f))

  yield* Console.log(
    `loan ingest: ${count} loans, MAX_CONCURRENT=${maxConcurrent} → ${path.relative(process.cwd(), dir) || "."}/`
  )
  const sequentialFile = path.join(dir, "sequential.jsonl")
  const sequential = runSequential(csv, sequentialFile)
  yield* Console.log(
    `  old sequential path  ${ms(sequential.makespanMs).padStart(9)}   ${sequential.succeeded} succeeded, ${sequential.failed} failed`
  )

  const run = yield* Effect.scoped(
    Effect.gen(function* () {
      const t0 = performance.now()
      const stages = yield* Layer.build(layer(options))
      const startupMs = performance.now() - t0
      const delay = monitorEventLoopDelay({ resolution: 10 })
      delay.enable()
      const summary = yield* ingest(options).pipe(Effect.provide(stages))
      delay.disable()
      return { summary, startupMs, maxDelayMs: delay.max / 1e6 }
    })
  )
  const s = run.summary
  yield* Console.log(
    `  sluice               ${ms(s.makespanMs).padStart(9)}   ${s.succeeded} succeeded, ${s.failed} failed   (+ ${ms(run.startupMs)} starting ${maxConcurrent} thread${maxConcurrent === 1 ? "" : "s"}, once)`
  )
  yield* Console.log(
    `  speedup              ${(sequential.makespanMs / s.makespanMs).toFixed(2)}×   (${(sequential.makespanMs / (s.makespanMs + run.startupMs)).toFixed(2)}× counting thread start-up)`
  )
  yield* Console.log(
    `  event loop           max delay ${ms(run.maxDelayMs)} while loans ran (one loan blocks its thread 50–150 ms)`
  )
  const identical = fs.readFileSync(options.output).equals(fs.readFileSync(sequentialFile))
  yield* Console.log(
    `  output               ${path.basename(options.output)} ${identical ? "is byte-identical to" : "DIFFERS from"} ${path.basename(sequentialFile)}`
  )
  if (!identical) return yield* Effect.dieMessage("the pipeline's output differs from the old sequential path's")
})

NodeRuntime.runMain(main)
