/**
 * Case 3, loan ingest: the speedup of running the blocking loan function on worker threads, on the
 * same loans, in the same run — the old sequential loop, then sluice with MAX_CONCURRENT=1 and 5.
 *
 * Makespan is sluice's own (first record read → last result written); starting the threads is
 * measured apart, since a service pays it once. Every sluice run gets a fresh store. On 2 cores, 5 at
 * once can only win because the loan function is blocked on (simulated) synchronous I/O for
 * 50–150 ms against ~4 ms of CPU; a CPU-bound function would gain at most the number of cores.
 *
 * Usage: tsx bench/loans.ts [--loans N] [--runs R]   (default: 40 loans, medians of 3 runs)
 */
import { Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { monitorEventLoopDelay, performance } from "node:perf_hooks"
import { pathToFileURL } from "node:url"
import { writeLoansCsv } from "../examples/loan-ingest/loans.js"
import { ingest, layer } from "../examples/loan-ingest/program.js"
import { runSequential } from "../examples/loan-ingest/sequential.js"

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

export interface LoansBenchRow {
  readonly name: string
  readonly makespanMs: number
  readonly startupMs: number
  /** The main thread's worst event-loop delay while loans ran. */
  readonly maxLoopDelayMs: number
  readonly identical: boolean
}

const sluiceRun = (dir: string, csv: string, maxConcurrent: number, i: number, reference: Buffer) =>
  Effect.scoped(
    Effect.gen(function* () {
      const options = {
        csv,
        database: path.join(dir, `sluice-${maxConcurrent}-${i}.db`),
        output: path.join(dir, `processed-${maxConcurrent}-${i}.jsonl`),
        maxConcurrent
      }
      const t0 = performance.now()
      const stages = yield* Layer.build(layer(options))
      const startupMs = performance.now() - t0
      const delay = monitorEventLoopDelay({ resolution: 10 })
      delay.enable()
      const summary = yield* ingest(options).pipe(Effect.provide(stages))
      delay.disable()
      return {
        makespanMs: summary.makespanMs,
        startupMs,
        maxLoopDelayMs: delay.max / 1e6,
        identical: fs.readFileSync(options.output).equals(reference)
      }
    })
  )

/** Runs the benchmark; returns one row per contender (medians over `runs`). */
export const runLoansBench = async (options: { loans?: number; runs?: number } = {}): Promise<Array<LoansBenchRow>> => {
  const loans = options.loans ?? 40
  const runs = options.runs ?? 3
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-bench-loans-"))
  try {
    const csv = path.join(dir, "loans.csv")
    writeLoansCsv(csv, { count: loans })
    const sequentialFile = path.join(dir, "sequential.jsonl")
    const sequential: Array<number> = []
    for (let i = 0; i < runs; i++) sequential.push(runSequential(csv, sequentialFile).makespanMs)
    const reference = fs.readFileSync(sequentialFile)
    const rows: Array<LoansBenchRow> = [
      {
        name: "sequential loop (old path)",
        makespanMs: median(sequential),
        startupMs: 0,
        maxLoopDelayMs: NaN,
        identical: true
      }
    ]
    for (const maxConcurrent of [1, 5]) {
      const results = []
      for (let i = 0; i < runs; i++)
        results.push(await Effect.runPromise(sluiceRun(dir, csv, maxConcurrent, i, reference)))
      rows.push({
        name: `sluice MAX_CONCURRENT=${maxConcurrent}`,
        makespanMs: median(results.map((r) => r.makespanMs)),
        startupMs: median(results.map((r) => r.startupMs)),
        maxLoopDelayMs: median(results.map((r) => r.maxLoopDelayMs)),
        identical: results.every((r) => r.identical)
      })
    }
    return rows
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2)
  const arg = (name: string) => {
    const at = args.indexOf(name)
    return at >= 0 ? Number(args[at + 1]) : undefined
  }
  const loans = arg("--loans") ?? 40
  const runs = arg("--runs") ?? 3
  const rows = await runLoansBench({ loans, runs })
  const ms = (n: number) => (Number.isNaN(n) ? "—" : `${Math.round(n).toLocaleString("en-US")} ms`)
  console.log(
    `loan ingest: ${loans} loans, medians of ${runs} runs, ${os.cpus().length} cores, load ${os.loadavg()[0]!.toFixed(1)}`
  )
  console.log(
    `${"".padEnd(28)} ${"makespan".padStart(10)} ${"start-up".padStart(10)} ${"loop delay".padStart(11)}  output`
  )
  for (const r of rows) {
    console.log(
      `${r.name.padEnd(28)} ${ms(r.makespanMs).padStart(10)} ${ms(r.startupMs).padStart(10)} ${ms(r.maxLoopDelayMs).padStart(11)}  ${r.identical ? "identical" : "DIFFERS"}`
    )
  }
  const [sequential, one, five] = rows
  console.log(`speedup MAX_CONCURRENT=5 vs 1:          ${(one!.makespanMs / five!.makespanMs).toFixed(2)}×`)
  console.log(
    `speedup MAX_CONCURRENT=5 vs sequential: ${(sequential!.makespanMs / five!.makespanMs).toFixed(2)}×  (${(sequential!.makespanMs / (five!.makespanMs + five!.startupMs)).toFixed(2)}× counting thread start-up)`
  )
  console.log(
    `MAX_CONCURRENT=1 vs sequential:         ${(sequential!.makespanMs / one!.makespanMs).toFixed(2)}×  (the engine's overhead per loan: ${ms((one!.makespanMs - sequential!.makespanMs) / loans)})`
  )
  if (rows.some((r) => !r.identical)) process.exitCode = 1
}
