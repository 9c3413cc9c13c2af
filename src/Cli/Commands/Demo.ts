/**
 * `sluice demo`: the offer desk on a generated inbox of 1,000 mails, against the simulator running
 * in-process on a free loopback port (no network, no key). Every mail is classified by an LLM
 * ("offer_request" | "tracking" | "other"); offer requests get an offer drafted as JSON; the rest are
 * skipped. The simulator's limits make it visibly rate-limited (the ETA says "bound by RPM") and it
 * ends with a summary table: outcomes, calls, tokens, cost, makespan, the binding limit, the results.
 *
 * @since 0.1.0
 */
import { Command, Options } from "@effect/cli"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import type { RunConfig } from "../../Domain/RunConfig.js"
import { Admission } from "../../Governor/Admission.js"
import * as Pipeline from "../../Engine/Pipeline.js"
import { Pricing } from "../../Governor/Pricing.js"
import * as Simulator from "../../Simulator/Simulator.js"
import { Store } from "../../Store/Store.js"
import * as Tracing from "../../Telemetry/Tracing.js"
import { failure } from "../CliError.js"
import * as Compose from "../Compose.js"
import { mails } from "../DemoData.js"
import * as DemoModel from "../DemoModel.js"
import * as Flags from "../Flags.js"
import * as ProgressView from "../ProgressView.js"
import * as Setting from "../Setting.js"
import { count, table } from "../Summary.js"

/** 60 calls a second: a 1,000-mail inbox (about 1,470 calls) takes about 25 s, bound by requests. */
const RPM = 3_600
/** About four times the tokens those calls use, so requests, not tokens, bind. */
const TPM = 2_000_000
/**
 * sluice is told 5% less than the simulator enforces, the safety margin the flashcard team asked for:
 * admission and upstream run identical one-second buckets, and a call admitted on the last token of
 * one can reach the other a few milliseconds late, behind a busy event loop, next to one admitted
 * after it. The margin absorbs that jitter, so no call is answered 429.
 */
const MARGIN = 0.95
const LATENCY_MS = 400
const ERROR_RATE = 0.01
/**
 * Enough items in flight to keep 60 calls a second going at ~400 ms each, with admission queueing the
 * rest; and fewer than a full request bucket, so the first burst (while connections are still being
 * opened, and the upstream's bucket still full) cannot outrun the upstream's count.
 */
const CONCURRENCY = 48
const MODEL = "gpt-4o-mini"
const RUN = "demo"

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`
const usd = (n: number) => `$${n.toFixed(4)}`
const pct = (n: number) => `${Math.round(n * 100)}%`

/**
 * The run's settings: stored with the run, so `sluice worker --db <dir>/sluice.db` could resume it.
 *
 * @since 0.1.0
 */
export const runConfig = (input: string): RunConfig => ({
  source: input,
  processor: "llm",
  model: MODEL,
  system: DemoModel.DRAFT_PROMPT,
  maxTokens: 256,
  temperature: 0,
  json: true,
  classify: { system: DemoModel.CLASSIFY_PROMPT, process: ["offer_request"] }
})

/** @since 0.1.0 */
export const command = Command.make(
  "demo",
  {
    dir: Options.text("dir").pipe(
      Options.withDefault("./sluice-demo"),
      Options.withDescription(
        Setting.describe("Where the demo writes its inbox, database and results (replaced)", {
          default: "./sluice-demo"
        })
      )
    ),
    items: Setting.number(
      "items",
      { integer: true, min: 1 },
      { default: 1000, description: "How many mails in the inbox" }
    ),
    traceContent: Flags.traceContent
  },
  (o) =>
    Effect.gen(function* () {
      const dir = path.resolve(o.dir)
      const input = path.join(dir, "inbox.jsonl")
      const output = path.join(dir, "results.jsonl")
      const db = path.join(dir, "sluice.db")
      yield* Effect.try({
        try: () => {
          fs.rmSync(dir, { recursive: true, force: true })
          fs.mkdirSync(dir, { recursive: true })
          fs.writeFileSync(
            input,
            mails(o.items)
              .map((m) => JSON.stringify(m))
              .join("\n") + "\n"
          )
        },
        catch: (e) => failure(`sluice: cannot write the demo's files in ${dir}: ${(e as Error).message}`)
      })

      const model = DemoModel.make()
      const sim = yield* Simulator.make({
        port: 0,
        rpm: RPM,
        tpm: TPM,
        latencyMs: LATENCY_MS,
        latencySigma: 0.4,
        errorRate: ERROR_RATE,
        seed: 7,
        responder: model.responder
      })
      yield* Effect.sync(() =>
        process.stderr.write(
          `sluice demo: the offer desk on ${count(o.items)} mails, against a simulated ${MODEL} at ${sim.url}\n` +
            `  limits ${count(RPM)} RPM and ${count(TPM)} TPM (sluice keeps ${pct(1 - MARGIN)} below them), ~${LATENCY_MS} ms per call, ${pct(ERROR_RATE)} faults; no network, no key\n` +
            `  every mail is classified (offer_request | tracking | other); offer requests get an offer drafted as JSON\n`
        )
      )

      const config = runConfig(input)
      const upstreamUsage = Effect.map(sim.stats, (s) => ({
        requests: s.accepted + s.errors,
        tokens: s.promptTokens + s.completionTokens
      }))

      const text = yield* Effect.gen(function* () {
        const store = yield* Store
        const pricing = yield* Pricing
        const admission = yield* Admission
        const stopProgress = yield* ProgressView.start(RUN, { usage: upstreamUsage })
        const summary = yield* Pipeline.run({ run: RUN, config, concurrency: CONCURRENCY, output }).pipe(
          Tracing.withRunSpan(RUN)
        )
        yield* stopProgress
        const errors = summary.counts.failed > 0 ? yield* store.lastErrors(RUN, 5) : []
        const state = yield* admission.state
        const stats = yield* sim.stats
        const meter = model.meter()

        // Outcomes, with the skip reasons, read back from the results file the user is pointed at.
        const results = fs
          .readFileSync(output, "utf8")
          .split("\n")
          .filter((l) => l.length > 0)
          .map((l) => JSON.parse(l) as { status: string; reason?: string; output?: unknown })
        const reasons = new Map<string, number>()
        for (const r of results)
          if (r.status === "skipped") reasons.set(r.reason ?? "", (reasons.get(r.reason ?? "") ?? 0) + 1)
        // What the drafted offers are worth: a figure a sales desk would look at first.
        let worth = 0
        for (const r of results) {
          const total = r.status === "completed" ? (r.output as { total_eur?: unknown } | null)?.total_eur : undefined
          if (typeof total === "number") worth += total
        }

        const c = summary.counts
        const outcomeRows: Array<Array<string>> = [
          ["outcome", "mails", ""],
          ["completed", count(c.completed), `offer drafted (€${count(worth)} in all)`]
        ]
        for (const [reason, n] of [...reasons.entries()].sort((a, b) => b[1] - a[1]))
          outcomeRows.push(["skipped", count(n), reason])
        if (c.skipped === 0) outcomeRows.push(["skipped", "0", ""])
        outcomeRows.push(["failed", count(c.failed), ""])
        if (c.pending + c.processing > 0) outcomeRows.push(["pending", count(c.pending + c.processing), ""])
        outcomeRows.push(["total", count(c.pending + c.processing + c.completed + c.skipped + c.failed), ""])

        const cost = (t: DemoModel.Tally) => pricing.cost(MODEL, t)
        const total: DemoModel.Tally = {
          calls: meter.classify.calls + meter.draft.calls,
          promptTokens: meter.classify.promptTokens + meter.draft.promptTokens,
          completionTokens: meter.classify.completionTokens + meter.draft.completionTokens
        }
        const stageRow = (name: string, t: DemoModel.Tally) => [
          name,
          count(t.calls),
          count(t.promptTokens),
          count(t.completionTokens),
          usd(cost(t))
        ]
        const stageRows = [
          ["stage", "calls", "tokens in", "tokens out", "cost"],
          stageRow("classify", meter.classify),
          stageRow("draft", meter.draft),
          stageRow("total", total)
        ]

        // Which limit bound: the share of each limit the run used over its makespan.
        const minutes = summary.makespanMs / 60_000
        const requests = stats.accepted + stats.errors
        const tokens = stats.promptTokens + stats.completionTokens
        const rpmUsed = minutes > 0 ? requests / minutes / RPM : 0
        const tpmUsed = minutes > 0 ? tokens / minutes / TPM : 0
        const binding =
          Math.max(rpmUsed, tpmUsed) < 0.8
            ? `latency: neither limit was used to 80% (RPM ${pct(rpmUsed)}, TPM ${pct(tpmUsed)})`
            : rpmUsed >= tpmUsed
              ? `RPM: ${count(RPM)}/min, ${pct(rpmUsed)} used (sluice admits up to ${pct(MARGIN)}); TPM ${count(TPM)}/min, ${pct(tpmUsed)} used`
              : `TPM: ${count(TPM)}/min, ${pct(tpmUsed)} used (sluice admits up to ${pct(MARGIN)}); RPM ${count(RPM)}/min, ${pct(rpmUsed)} used`

        const lines = [
          "",
          `sluice demo: ${count(results.length)} mails through the offer desk in ${seconds(summary.makespanMs)}: ${count(c.completed)} offers drafted, ${count(c.skipped)} skipped, ${count(c.failed)} failed`,
          "",
          ...table(outcomeRows, { align: ["left", "right", "left"] }),
          "",
          ...table(stageRows),
          "",
          ...[
            [
              "makespan",
              `${seconds(summary.makespanMs)} for ${count(requests)} calls (${(requests / Math.max(0.001, summary.makespanMs / 1000)).toFixed(1)} calls/s)`
            ],
            ["bound by", binding],
            [
              "upstream",
              `${count(stats.rateLimited)} × 429, ${count(stats.errors)} × 500 retried (${count(summary.metrics.retries)} retries), calls waited ${seconds(state.totalWaitMs)} in admission in all`
            ],
            ["results", `${output} (${count(results.length)} lines, in input order)`]
          ].map(([k, v]) => `  ${k!.padEnd(10)}${v}`)
        ]
        for (const e of errors) lines.push(`  failed: ${e.key}: ${e.errorTag}: ${e.errorMessage.slice(0, 160)}`)
        if (summary.sourceError !== undefined) lines.push(`  reading the inbox stopped early: ${summary.sourceError}`)
        return lines.join("\n")
      }).pipe(
        Effect.scoped,
        Effect.provide(
          Compose.runLayer({
            db,
            input,
            run: RUN,
            config,
            upstream: { baseUrl: sim.url, timeoutMs: 30_000, rpm: RPM * MARGIN, tpm: TPM * MARGIN, cache: true }
          })
        ),
        Effect.catchTag("StoreError", (e) => Effect.fail(failure(`sluice: ${e.message}`)))
      )
      yield* Effect.sync(() => process.stdout.write(text + "\n"))
    }).pipe(Effect.scoped, Tracing.withTraceContent(o.traceContent))
).pipe(
  Command.withDescription(
    ProgressView.describedWithLegend(
      "The offer desk on a generated inbox of 1,000 mails, against an in-process simulator (no network, no key)"
    )
  )
)
