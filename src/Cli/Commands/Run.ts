/**
 * `sluice run <input.jsonl|input.csv>`: a file through the pipeline, resumably, into ordered JSONL.
 *
 * @since 0.1.0
 */
import { Args, Command, Options } from "@effect/cli"
import { Effect, Option } from "effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import type { RunConfig } from "../../Domain/RunConfig.js"
import * as Pipeline from "../../Engine/Pipeline.js"
import { Store } from "../../Store/Store.js"
import { failure, usage } from "../CliError.js"
import * as Compose from "../Compose.js"
import * as Flags from "../Flags.js"
import * as UpstreamUrl from "../../Llm/UpstreamUrl.js"
import * as OutputPath from "../OutputPath.js"
import * as ProgressView from "../ProgressView.js"
import * as Setting from "../Setting.js"
import * as Tracing from "../../Telemetry/Tracing.js"
import * as Summary from "../Summary.js"

/**
 * The run id of an input file: its name and a hash of its absolute path, so the same command
 * resumes the same run.
 *
 * @since 0.1.0
 */
export const defaultRunId = (input: string): string => {
  const abs = path.resolve(input)
  return `${path.basename(abs).replace(/[^\w.-]+/g, "_")}-${createHash("sha256").update(abs).digest("hex").slice(0, 8)}`
}

/**
 * `items.jsonl` → `items.results.jsonl`.
 *
 * @since 0.1.0
 */
export const defaultOutput = (input: string): string => {
  const ext = path.extname(input)
  return `${ext.length > 0 ? input.slice(0, -ext.length) : input}.results.jsonl`
}

/** @since 0.1.0 */
export const readable = (file: string, what: string) =>
  Effect.try({
    try: () => {
      const st = fs.statSync(file)
      if (st.isDirectory()) throw new Error("it is a directory")
      fs.accessSync(file, fs.constants.R_OK)
    },
    catch: (e) =>
      usage(
        `sluice: cannot read ${what} ${file}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as Error).message}`
      )
  })

/** @since 0.1.0 */
export const readPrices = (file: Option.Option<string>) =>
  Option.match(file, {
    onNone: () => Effect.succeed(undefined),
    onSome: (f) =>
      Effect.zipRight(
        readable(f, "price table"),
        Effect.try({
          try: (): unknown => JSON.parse(fs.readFileSync(f, "utf8")),
          catch: (e) => usage(`sluice: the price table ${f} is not JSON: ${(e as Error).message}`)
        })
      )
  })

/** @since 0.1.0 */
export const readPrompt = (file: Option.Option<string>) =>
  Option.match(file, {
    onNone: () => Effect.succeed(undefined),
    onSome: (f) =>
      Effect.zipRight(
        readable(f, "prompt file"),
        Effect.sync(() => fs.readFileSync(f, "utf8").trim())
      )
  })

/**
 * A run reads its input once; an input edited after that (a broken line fixed, lines added) is read
 * again on rerun, or the rerun would say "finished" over content it never saw. True when it changed.
 */
const changedSinceRead = (store: Store["Type"], run: string, input: string) =>
  Effect.gen(function* () {
    const info = yield* store.getRun(run)
    if (Option.isNone(info) || info.value.fetchedAt === null) return false
    const modified = fs.statSync(input).mtimeMs
    if (modified <= info.value.fetchedAt) return false
    yield* Effect.sync(() =>
      process.stderr.write(
        `sluice: warning: ${input} changed after run ${run} read it (${new Date(info.value.fetchedAt!).toISOString()}); reading it again: new lines and lines that could not be read before are recorded, lines already recorded keep what was read (to process all of it anew, give it another --run)\n`
      )
    )
    return true
  })

const options = {
  input: Args.text({ name: "input.jsonl|input.csv" }).pipe(
    Args.withDescription("Items to process: JSONL or CSV with a header")
  ),
  out: Options.text("out").pipe(
    Options.optional,
    Options.withDescription(Setting.describe("Results JSONL", { default: "<input>.results.jsonl" }))
  ),
  db: Flags.db,
  baseUrl: Flags.baseUrl,
  model: Flags.model,
  prompt: Flags.prompt,
  concurrency: Flags.concurrency,
  rpm: Flags.rpm,
  tpm: Flags.tpm,
  inputTpm: Flags.inputTpm,
  outputTpm: Flags.outputTpm,
  maxAttempts: Flags.maxAttempts,
  processor: Flags.processor,
  maxTokens: Flags.maxTokens,
  attemptTimeout: Flags.attemptTimeout,
  noCache: Flags.noCache,
  budget: Flags.budget,
  run: Options.text("run").pipe(
    Options.optional,
    Options.withDescription(Setting.describe("Run id", { default: "from the input path" }))
  ),
  drainTimeout: Flags.drainTimeout,
  prices: Flags.prices,
  lease: Flags.lease,
  traceContent: Flags.traceContent
}

/** @since 0.1.0 */
export const command = Command.make("run", options, (o) =>
  Effect.gen(function* () {
    yield* readable(o.input, "input")
    const badUrl = UpstreamUrl.problem(o.baseUrl)
    if (badUrl !== undefined) return yield* usage(`sluice: ${badUrl}`)
    const system = yield* readPrompt(o.prompt)
    const prices = yield* readPrices(o.prices)
    const output = Option.getOrElse(o.out, () => defaultOutput(o.input))
    yield* OutputPath.check(output, { input: o.input, db: o.db })
    const run = Option.getOrElse(o.run, () => defaultRunId(o.input))
    const config: RunConfig = {
      source: path.resolve(o.input),
      processor: o.processor,
      model: o.model,
      system,
      ...(Option.isSome(o.maxTokens) ? { maxTokens: o.maxTokens.value } : {})
    }
    const upstream = Flags.upstreamOf(o, prices)
    const program = Effect.gen(function* () {
      const store = yield* Store
      const reread = yield* changedSinceRead(store, run, o.input)
      const stopProgress = yield* ProgressView.start(run)
      const summary = yield* Pipeline.run({
        run,
        reread,
        config,
        concurrency: o.concurrency,
        output,
        attempt: Flags.attemptOf(o),
        drainTimeout: `${o.drainTimeout} seconds`,
        leaseMs: o.lease * 1000
      }).pipe(
        Effect.onInterrupt(() =>
          Effect.sync(() =>
            process.stderr.write(
              `\nsluice: interrupted; finished items are stored in ${Compose.describeDb(o.db)} and written to ${output}. Run the same command again to resume.\n`
            )
          )
        ),
        Tracing.withRunSpan(run)
      )
      // The bar's last redraw lands before the summary, not after it.
      yield* stopProgress
      const errors = summary.counts.failed > 0 ? yield* store.lastErrors(run, 10_000) : []
      yield* Effect.sync(() => process.stderr.write(Summary.render(summary, { output, errors }) + "\n"))
      if (summary.stoppedBy === "upstream") {
        return yield* failure(
          `sluice: ${summary.stopMessage ?? "the upstream cannot be used"}; the items stay pending: fix it and run the same command again`
        )
      }
      if (summary.sourceError !== undefined) return yield* failure(`sluice: could not read all of ${o.input}`)
    })
    yield* program.pipe(
      Effect.scoped,
      Tracing.withTraceContent(o.traceContent),
      Effect.provide(
        Compose.needsModel(config)
          ? Compose.runLayer({ db: o.db, input: o.input, run, config, upstream })
          : Compose.runLayerNoModel({ db: o.db, input: o.input })
      ),
      Effect.catchTag("StoreError", (e) => Effect.fail(failure(`sluice: ${e.message}`)))
    )
  })
).pipe(
  Command.withDescription(
    ProgressView.describedWithLegend(
      "Process a JSONL or CSV file through fetch → classify → process → persist; rerun to resume"
    )
  )
)
