/**
 * The old path, kept as the reference: read the CSV, call the loan function on each loan in order
 * on this thread, write one line per loan. `MAX_CONCURRENT=1` through sluice must give the same
 * bytes; so must any other value (order is sluice's guarantee).
 *
 *   tsx examples/loan-ingest/sequential.ts loans.csv sequential.jsonl
 *
 * A thrown error is reported the way the thread pool reports it (`ThreadPool.errorOf`: `Invalid`
 * unless the error says it is transient), so that failed loans compare too. Nothing is retried: the
 * old path never did.
 */
import { parse } from "csv-parse/sync"
import * as fs from "node:fs"
import { performance } from "node:perf_hooks"
import { pathToFileURL } from "node:url"
import { completedLine, failedLine } from "./output.js"
import { type LoanRow, processLoan } from "./processLoan.js"
import { ThreadPool } from "sluice/thread-pool"

export interface SequentialResult {
  readonly loans: number
  readonly succeeded: number
  readonly failed: number
  readonly makespanMs: number
}

/** Processes every loan of `csv` in order and writes the case's output file to `output`. */
export const runSequential = (csv: string, output: string): SequentialResult => {
  const startedAt = performance.now()
  // The same reading as sluice's CSV source: a header row (trimmed), BOM and empty lines ignored.
  const loans: Array<LoanRow> = parse(fs.readFileSync(csv), {
    bom: true,
    columns: (header: Array<string>) => header.map((h) => h.trim()),
    skip_empty_lines: true,
    trim: false
  })
  let text = ""
  let failed = 0
  for (const loan of loans) {
    const id = loan["id"] ?? ""
    try {
      text += completedLine(id, processLoan(loan))
    } catch (thrown) {
      const error = ThreadPool.errorOf(thrown)
      text += failedLine(id, error._tag, error.message)
      failed++
    }
  }
  fs.writeFileSync(output, text)
  return { loans: loans.length, succeeded: loans.length - failed, failed, makespanMs: performance.now() - startedAt }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [csv, output] = process.argv.slice(2)
  if (csv === undefined || output === undefined) {
    console.error("usage: tsx examples/loan-ingest/sequential.ts <loans.csv> <output.jsonl>")
    process.exit(2)
  }
  const r = runSequential(csv, output)
  console.log(
    `${r.loans} loans: ${r.succeeded} succeeded, ${r.failed} failed in ${Math.round(r.makespanMs)} ms → ${output}`
  )
}
