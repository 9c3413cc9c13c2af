/**
 * Case 3, loan ingest, as an Effect: the loans of a CSV go through sluice with the team's blocking
 * loan function running on a pool of worker threads, `MAX_CONCURRENT` at a time, and the case's
 * output file is written from sluice's ordered results.
 *
 * This is the example's composition root: it provides its own stage layers — the CSV source, the
 * thread-pool processor, the SQLite store and the pipeline's defaults — and runs `Pipeline.run`.
 * `MAX_CONCURRENT=1` is one thread and one item at a time: the old sequential behaviour, and the
 * same output file byte for byte.
 */
import { Config, Effect, Layer, Schema } from "effect"
import * as fs from "node:fs"
import { Pipeline } from "sluice"
import { CsvFile } from "sluice/files"
import { SqliteStore } from "sluice/sqlite"
import { ThreadPool } from "sluice/thread-pool"
import { completedLine, failedLine } from "./output.js"

/**
 * Loans processed at once, each on its own worker thread.
 */
export const MaxConcurrent = Config.integer("MAX_CONCURRENT").pipe(
  Config.withDefault(5),
  Config.validate({ message: "MAX_CONCURRENT must be 1 or more", validation: (n) => n >= 1 }),
  Config.withDescription("Loans processed at once, each on its own worker thread; 1 is the old sequential path.")
)

/** The worker-thread entry that serves the loan function. */
export const workerModule = new URL("./worker.ts", import.meta.url)

export interface LoanIngestOptions {
  /** The loans. */
  readonly csv: string
  /** The sluice store (SQLite). A store that already holds this run resumes it. */
  readonly database: string
  /** The case's output file: one line per loan, in input order. */
  readonly output: string
  readonly maxConcurrent: number
  /** Told where and when each loan ran (thread id, start and end, measured in the thread). */
  readonly onCall?: ((call: ThreadPool.CallRecord) => Effect.Effect<void>) | undefined
}

export interface LoanIngestSummary {
  readonly loans: number
  readonly succeeded: number
  readonly failed: number
  /** From the first record read to the last result written, thread start-up excluded. */
  readonly makespanMs: number
}

/** The case's output file could not be written. */
export class LoanOutputError extends Schema.TaggedError<LoanOutputError>()("LoanOutputError", {
  file: Schema.String,
  message: Schema.String
}) {}

const RUN = "loan-ingest"

/** sluice's own ordered results, beside the store. */
const resultsFile = (options: LoanIngestOptions) => `${options.database}.results.jsonl`

/** The stages of this case. */
export const layer = (options: LoanIngestOptions) =>
  Layer.mergeAll(
    CsvFile.layer(options.csv),
    ThreadPool.layer({ module: workerModule, size: options.maxConcurrent, onCall: options.onCall }),
    SqliteStore.layer({ filename: options.database }),
    Pipeline.layerDefaults
  )

interface ResultLine {
  readonly key: string
  readonly status: "completed" | "skipped" | "failed"
  readonly output: unknown
  readonly reason?: string
  readonly error?: { readonly tag: string; readonly message: string }
}

/** Rewrites sluice's ordered results (one JSON line per item, input order) in the case's format. */
const writeOutput = (results: string, output: string) =>
  Effect.try({
    try: () => {
      let text = ""
      for (const l of fs.readFileSync(results, "utf8").split("\n")) {
        if (l.length === 0) continue
        const r = JSON.parse(l) as ResultLine
        text +=
          r.status === "completed"
            ? completedLine(r.key, r.output)
            : r.status === "failed"
              ? failedLine(r.key, r.error?.tag ?? "Unknown", r.error?.message ?? "")
              : failedLine(r.key, "Skipped", r.reason ?? "")
      }
      fs.writeFileSync(output, text)
    },
    catch: (cause) =>
      new LoanOutputError({ file: output, message: cause instanceof Error ? cause.message : String(cause) })
  })

/** Runs the loans through the pipeline (given its stages) and writes the case's output file. */
export const ingest = (options: LoanIngestOptions) =>
  Effect.gen(function* () {
    const results = resultsFile(options)
    const summary = yield* Pipeline.run({ run: RUN, concurrency: options.maxConcurrent, output: results })
    yield* writeOutput(results, options.output)
    const c = summary.counts
    return {
      loans: c.pending + c.processing + c.completed + c.skipped + c.failed,
      succeeded: c.completed,
      failed: c.failed,
      makespanMs: summary.makespanMs
    } satisfies LoanIngestSummary
  })

/** The case end to end: start the threads, run, write the output, stop the threads. */
export const run = (options: LoanIngestOptions) => ingest(options).pipe(Effect.provide(layer(options)))
