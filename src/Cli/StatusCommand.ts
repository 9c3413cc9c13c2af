/**
 * `sluice status [--db f] [--run id]`: counts per status per run, retries, and the last errors.
 *
 * @since 0.1.0
 */
import { Command } from "@effect/cli"
import { Effect, Option } from "effect"
import { Store } from "../Store/Store.js"
import { failure } from "./CliError.js"
import * as Compose from "./Compose.js"
import * as Flags from "./Flags.js"

const pad = (s: string | number, n: number) => String(s).padStart(n)

/**
 * The status report as text.
 *
 * @since 0.1.0
 */
export const report = (run: string | undefined) =>
  Effect.gen(function* () {
    const store = yield* Store
    const runs = (yield* store.listRuns).filter((r) => run === undefined || r.id === run)
    if (run !== undefined && runs.length === 0) return yield* failure(`sluice: no run "${run}" in ${store.location}`)
    const lines: Array<string> = [
      `${"run".padEnd(36)} ${pad("pending", 8)} ${pad("processing", 10)} ${pad("completed", 9)} ${pad("skipped", 8)} ${pad("failed", 7)} ${pad("retries", 8)} ${pad("429s", 6)}`
    ]
    for (const r of runs) {
      const c = yield* store.counts(r.id)
      const m = yield* store.metrics(r.id)
      lines.push(
        `${r.id.padEnd(36)} ${pad(c.pending, 8)} ${pad(c.processing, 10)} ${pad(c.completed, 9)} ${pad(c.skipped, 8)} ${pad(c.failed, 7)} ${pad(m.retries, 8)} ${pad(m.rateLimitHits, 6)}${r.fetchedAt === null ? "  (source still being read)" : ""}`
      )
    }
    if (runs.length === 0) lines.push("(no runs)")
    const errors = yield* store.lastErrors(run, 5)
    if (errors.length > 0) {
      lines.push("", "last errors:")
      for (const e of errors) {
        lines.push(`  ${e.run} #${e.seq} key ${e.key}: ${e.errorTag} after ${e.attempts} attempt(s): ${e.errorMessage.slice(0, 200)}`)
      }
    }
    return lines.join("\n")
  })

/** @since 0.1.0 */
export const command = Command.make(
  "status",
  { db: Flags.db, run: Flags.runId },
  (o) =>
    report(Option.getOrUndefined(o.run)).pipe(
      Effect.flatMap((text) => Effect.sync(() => process.stdout.write(text + "\n"))),
      Effect.provide(Compose.store(o.db)),
      Effect.catchTag("StoreError", (e) => Effect.fail(failure(`sluice: ${e.message}`)))
    )
).pipe(Command.withDescription("Show the queue: counts per status per run, retries and the last errors"))

