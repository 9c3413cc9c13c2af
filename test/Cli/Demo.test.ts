/**
 * `sluice demo` end to end: the built executable (see `test/globalSetup.ts`) run as a user runs it,
 * with its in-process simulator. Real processes, real time (`it.scopedLive`): the demo is rate-limited
 * on purpose and takes about half a minute; the child is killed if it outlives its bound.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import * as path from "node:path"
import { kindOf, mail } from "../../src/Cli/DemoData.js"
import { Offer } from "../../src/Cli/DemoModel.js"
import { runCli } from "../support/Cli.js"
import { readJsonl, tempDir } from "../support/Temp.js"

const decodeOffer = Schema.decodeUnknownSync(Offer)

/** The number in a summary row that starts with `label` and ends with `suffix` (if given). */
const row = (stdout: string, label: string, suffix = "") => {
  const line = stdout.split("\n").find((l) => l.trimStart().startsWith(`${label} `) && l.trimEnd().endsWith(suffix))
  expect(line, `a "${label} … ${suffix}" row in:\n${stdout}`).toBeDefined()
  return Number(line!.trim().split(/\s+/)[1]!.replace(/,/g, ""))
}

describe("sluice demo (real process, real time)", () => {
  it.scopedLive(
    "1,000 mails: exit 0, outcomes add up, results in order, offer requests drafted, noise and tracking skipped, no 429 (real process, ~30 s)",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir("sluice-demo-")
        const out = path.join(dir, "demo")
        const started = Date.now()
        const result = yield* Effect.promise(() => runCli(["demo", "--dir", out], { timeoutMs: 110_000 }))
        const wallMs = Date.now() - started
        expect(result.code, result.stderr).toBe(0)

        // The summary table: per outcome, adding up to 1,000.
        const s = result.stdout
        const completed = row(s, "completed")
        const tracking = row(s, "skipped", "classified as tracking")
        const other = row(s, "skipped", "classified as other")
        expect(row(s, "failed")).toBe(0)
        expect(completed + tracking + other).toBe(1000)
        expect(row(s, "total")).toBe(1000)
        expect(s).toMatch(/^\s+classify\s+1,000\s/m)
        expect(s).toMatch(/^\s+makespan\s+[\d.]+ s for [\d,]+ calls/m)
        // On a quiet machine the demo is bound by its RPM; on a loaded one (load 10+ on 2 cores) it cannot
        // keep enough calls in flight and says so truthfully. Either way the line names what bound it.
        expect(s).toMatch(/^\s+bound by\s+(RPM: 3,600\/min|latency: neither limit was used to 80%)/m)
        expect(s).toMatch(/^\s+upstream\s+0 × 429,/m)
        expect(s).toContain(path.join(out, "results.jsonl"))
        // The progress went to stderr, the ETA naming the limit.
        expect(result.stderr).toMatch(/bound by (RPM|latency): ~\d+ (s|min)/)

        // The results file: 1,000 lines in input order, each mail's outcome matching what it is.
        const lines = readJsonl(path.join(out, "results.jsonl"))
        expect(lines).toHaveLength(1000)
        lines.forEach((l, i) => {
          expect([l.seq, l.key]).toEqual([i, mail(i).id])
          const kind = kindOf(i)
          if (kind === "offer_request") {
            expect(l.status).toBe("completed")
            const offer = decodeOffer(l.output)
            const m = mail(i)
            expect(m.body).toContain(`${offer.quantity} ${offer.product}`)
            expect(m.body).toContain(offer.customer)
            expect(offer.total_eur).toBeCloseTo(
              offer.quantity * offer.unit_price_eur * (1 - offer.discount_pct / 100),
              2
            )
          } else {
            expect(l).toMatchObject({ status: "skipped", reason: `classified as ${kind}` })
          }
        })
        expect(completed).toBe(lines.filter((_, i) => kindOf(i) === "offer_request").length)

        // Its own measure of the run, and the process's wall time, both well inside a minute.
        const makespan = Number(/in ([\d.]+) s:/.exec(s)?.[1])
        expect(makespan).toBeLessThan(60)
        console.log(`sluice demo: makespan ${makespan} s, wall ${(wallMs / 1000).toFixed(1)} s`)
      }),
    120_000
  )
})
