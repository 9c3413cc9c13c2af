/**
 * `sluice status [--db f] [--run id] [--watch]`: counts per status per run, retries, the workers
 * alive with their last heartbeat, and the last errors; with `--watch`, redrawn every second, with rates and ETAs, until the runs are done or Ctrl-C.
 *
 * @since 0.1.0
 */
import { Command, Options } from "@effect/cli"
import { Clock, Effect, Option } from "effect"
import { createLogUpdate } from "log-update"
import type { RunCounts } from "../../Domain/Run.js"
import * as Eta from "../../Engine/Eta.js"
import * as Liveness from "../../Engine/Liveness.js"
import * as FleetBudget from "../../Governor/FleetBudget.js"
import { Store } from "../../Store/Store.js"
import { failure, interruption } from "../CliError.js"
import * as ExistingStore from "../ExistingStore.js"
import * as Flags from "../Flags.js"
import * as Setting from "../Setting.js"

const pad = (s: string | number, n: number) => String(s).padStart(n)

/**
 * What `--watch` remembers between draws: recent samples of finished items per run.
 *
 * @since 0.1.0
 */
export type Rates = Map<string, Array<Eta.Sample>>

const WINDOW_MS = 10_000

/**
 * The status report as text, and whether every run shown has nothing left to do. Given `rates`
 * (watching), each run also gets its recent rate and ETA.
 *
 * @since 0.1.0
 */
export const snapshot = (run: string | undefined, rates?: Rates) =>
  Effect.gen(function* () {
    const store = yield* Store
    const now = yield* Clock.currentTimeMillis
    const runs = (yield* store.listRuns).filter((r) => run === undefined || r.id === run)
    if (run !== undefined && runs.length === 0) return yield* failure(`sluice: no run "${run}" in ${store.location}`)
    const lines: Array<string> = [
      `${"run".padEnd(36)} ${pad("pending", 8)} ${pad("processing", 10)} ${pad("completed", 9)} ${pad("skipped", 8)} ${pad("failed", 7)} ${pad("retries", 8)} ${pad("429s", 6)}${rates === undefined ? "" : `  ${"rate".padStart(7)}  eta`}`
    ]
    let done = true
    for (const r of runs) {
      const c = yield* store.counts(r.id)
      const m = yield* store.metrics(r.id)
      const left = c.pending + c.processing
      if (left > 0 || r.fetchedAt === null) done = false
      lines.push(
        `${r.id.padEnd(36)} ${pad(c.pending, 8)} ${pad(c.processing, 10)} ${pad(c.completed, 9)} ${pad(c.skipped, 8)} ${pad(c.failed, 7)} ${pad(m.retries, 8)} ${pad(m.rateLimitHits, 6)}${rates === undefined ? "" : `  ${watchColumns(rates, r.id, c, now, r.fetchedAt !== null)}`}${r.fetchedAt === null ? "  (source still being read)" : ""}`
      )
    }
    if (runs.length === 0) lines.push("(no runs)")
    // The fleet's use of each upstream's limits, while anyone draws on them or did in the last minute.
    const fleet = FleetBudget.usage(yield* store.fleetRead, now).filter(
      (u) => u.holdersAlive > 0 || u.requestsPerMinute > 0 || u.tokensPerMinute > 0 || u.pausedForMs > 0
    )
    if (fleet.length > 0)
      lines.push(
        "",
        "fleet budget (every process on this database):",
        ...fleet.map((u) => `  ${FleetBudget.describe(u)}`)
      )
    lines.push("", ...Liveness.describe(yield* store.workers, now, rates === undefined ? "age" : "clock"))
    const errors = yield* store.lastErrors(run, 5)
    if (errors.length > 0) {
      lines.push("", "last errors:")
      for (const e of errors) {
        lines.push(
          `  ${e.run} #${e.seq} key ${e.key}: ${e.errorTag} after ${e.attempts} attempt(s): ${e.errorMessage.slice(0, 200)}`
        )
      }
    }
    return { text: lines.join("\n"), done }
  })

/** Rate and ETA of one run from the samples seen while watching (another process does the work). */
const watchColumns = (rates: Rates, run: string, c: RunCounts, now: number, recorded: boolean): string => {
  const finished = c.completed + c.skipped + c.failed
  const samples = Eta.addSample(rates.get(run) ?? [], { atMs: now, finished }, WINDOW_MS)
  rates.set(run, samples)
  const window = Eta.windowed(samples)
  const left = c.pending + c.processing
  if (left === 0) return `${"".padStart(7)}  ${recorded ? "done" : ""}`
  const perSecond = window.elapsedMs > 0 ? (window.finished * 1000) / window.elapsedMs : 0
  const eta = Eta.estimate({ remaining: left, finished: window.finished, elapsedMs: window.elapsedMs })
  return `${`${perSecond.toFixed(perSecond < 10 ? 1 : 0)}/s`.padStart(7)}  ${recorded && eta.etaMs !== undefined ? Eta.formatDuration(eta.etaMs) : "…"}`
}

/**
 * The status report as text.
 *
 * @since 0.1.0
 */
export const report = (run: string | undefined) => Effect.map(snapshot(run), (s) => s.text)

/**
 * Redraws the status every second until every run shown has nothing pending or processing (and its
 * source is fully read), or until interrupted. On a terminal the report is redrawn in place by
 * `log-update`, which erases what the last frame really took on screen, wrapped lines included (a
 * line wider than the terminal takes two rows or more, and erasing one row per line left stale
 * frames behind); off one, it is printed again only when it changed.
 *
 * @since 0.1.0
 */
export const watch = (run: string | undefined, out: NodeJS.WriteStream = process.stdout) =>
  Effect.gen(function* () {
    const tty = out.isTTY === true
    const rates: Rates = new Map()
    // The cursor stays visible: hiding it is not worth a terminal left without one after a kill -9.
    const frame = tty ? createLogUpdate(out, { showCursor: true }) : undefined
    let previous = ""
    while (true) {
      const s = yield* snapshot(run, rates)
      const time = new Date(yield* Clock.currentTimeMillis).toLocaleTimeString()
      const body = `${s.text}\n\n${s.done ? "all done" : "watching; Ctrl-C to stop"} (${time})`
      if (frame !== undefined) {
        yield* Effect.sync(() => frame(body))
      } else if (s.text !== previous || s.done) {
        yield* Effect.sync(() => out.write(`${body}\n\n`))
        previous = s.text
      }
      if (s.done) return
      yield* Effect.sleep("1 second")
    }
  })

/** @since 0.1.0 */
export const command = Command.make(
  "status",
  {
    db: Flags.db,
    run: Flags.runId,
    watch: Options.boolean("watch").pipe(
      Options.withAlias("w"),
      Options.withDescription(
        Setting.describe("Redraw every second, with rates and ETAs, until the run is done or Ctrl-C", {
          default: "off"
        })
      )
    )
  },
  (o) =>
    Effect.gen(function* () {
      const run = Option.getOrUndefined(o.run)
      if (o.watch) {
        // Ctrl-C is how one stops watching: not a failure.
        interruption.isSuccess = true
        return yield* watch(run)
      }
      const text = yield* report(run)
      yield* Effect.sync(() => process.stdout.write(text + "\n"))
    }).pipe(
      Effect.provide(ExistingStore.layer(o.db)),
      Effect.catchTag("StoreError", (e) => Effect.fail(failure(`sluice: ${e.message}`)))
    )
).pipe(
  Command.withDescription("Show the queue: counts per status per run, retries and the last errors; --watch follows it")
)
