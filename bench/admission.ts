/**
 * LLM-aware admission against the simulator, beside p-limit, p-queue, Bottleneck and plain
 * Promise.all on the same workloads in the same run (the issue "LLM-aware admission…: the
 * upstream's whole budget, and not one 429").
 *
 * Each workload gets its own simulator process (lognormal latency, 300 ms median, σ 0.5; 1% of
 * answers 500); it is reset before every contender, so each sees full buckets and the same draws.
 * Every contender sends the same requests (system prompt + the item as the user message,
 * `max_tokens` 64) through the openai SDK, at concurrency 64, under a hard timeout of 3× the bound.
 * Before measuring, every contender runs once on a small warm-up, so no row pays for JIT or for
 * the simulator's own cold start.
 *
 * Usage: tsx bench/admission.ts [--quick] [--only request,token,latency,request-seconds]
 *   --quick   N = 600 instead of 3,000: a smoke run (about 3 minutes). With so few items the
 *             start-up and the tail weigh five times more, so its efficiencies are not the goals'.
 */
import * as fs from "node:fs"
import { bottleneckRun, type Context, pLimitRun, pQueueRun, promiseAll, type Result } from "./admission/contenders.js"
import { type SimProcess, startSimulator } from "./admission/simProcess.js"
import { sluiceRun } from "./admission/sluice.js"
import {
  boundOf,
  CONCURRENCY,
  idealLatencyMakespanMs,
  type Kind,
  makeItems,
  MAX_TOKENS,
  tokensOf,
  type Workload,
  workloads
} from "./admission/workload.js"

interface Contender {
  readonly name: string
  /** Limits configured: no 429 is allowed. */
  readonly sluice?: "configured" | "headers"
  readonly run: (ctx: Context) => Promise<Result & { readonly admission429s?: number }>
}

const contenders: ReadonlyArray<Contender> = [
  { name: "sluice (limits configured)", sluice: "configured", run: (ctx) => sluiceRun(ctx, { limitsKnown: true }) },
  { name: "sluice (limits from headers)", sluice: "headers", run: (ctx) => sluiceRun(ctx, { limitsKnown: false }) },
  { name: "p-limit", run: pLimitRun },
  { name: "p-queue", run: pQueueRun },
  { name: "Bottleneck", run: bottleneckRun },
  { name: "Promise.all", run: promiseAll }
]

const args = process.argv.slice(2)
const quick = args.includes("--quick")
const onlyAt = args.indexOf("--only")
const only = onlyAt >= 0 ? new Set((args[onlyAt + 1] ?? "").split(",") as Array<Kind>) : undefined
const N = quick ? 600 : 3_000
const WARM_UP_ITEMS = 128

const loadavg = () => fs.readFileSync("/proc/loadavg", "utf8").trim().split(" ").slice(0, 3).join(" ")
const pad = (s: string, n: number) => (s.length >= n ? s : s + " ".repeat(n - s.length))
const lpad = (s: string, n: number) => (s.length >= n ? s : " ".repeat(n - s.length) + s)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`

/** Every contender once on a few items, unmeasured: JIT, connections, the simulator's cold start. */
const warmUp = async (sim: SimProcess, w: Workload, items: ReadonlyArray<string>, all: boolean) => {
  for (const c of all ? contenders : contenders.slice(0, 1)) {
    await sim.reset()
    await c.run({ url: sim.url, items: items.slice(0, WARM_UP_ITEMS), rpm: w.rpm, tpm: w.tpm, timeoutMs: 10_000 })
  }
}

const main = async () => {
  const items = makeItems(N)
  const tokens = tokensOf(items)
  const chars = items.reduce((s, t) => s + t.length, 0)
  console.log(
    `admission bench: N = ${N} items (${Math.round(chars / N)} chars on average), concurrency ${CONCURRENCY}, ` +
      `max_tokens ${MAX_TOKENS}; load average at start ${loadavg()}`
  )
  console.log(
    `tokens as the simulator counts them, one successful call per item: prompt ${tokens.prompt.toLocaleString("en")} + ` +
      `completion ${tokens.completion.toLocaleString("en")} = ${(tokens.prompt + tokens.completion).toLocaleString("en")} ` +
      `(${((tokens.prompt + tokens.completion) / N).toFixed(1)}/item); charged at admission before the unused ` +
      `allowance is refunded (prompt + max_tokens): ${tokens.reserved.toLocaleString("en")}`
  )
  const verdicts: Array<string> = []
  let first = true
  for (const w of workloads) {
    if (only !== undefined && !only.has(w.kind)) continue
    const bound = boundOf(w, N, tokens)
    const timeoutMs = Math.max(15_000, 3 * bound.ms)
    const sim = await startSimulator(w.sim)
    try {
      await warmUp(sim, w, items, first)
      first = false
      console.log(`\n## ${w.title}`)
      console.log(`bound ${secs(bound.ms)} = ${bound.formula}; hard timeout ${(timeoutMs / 1000).toFixed(0)} s`)
      if (w.kind === "latency") {
        const ideal = idealLatencyMakespanMs(N)
        console.log(
          `a perfect client (64 slots always busy, no overhead, 500s retried at once) on the simulator's own draws: ` +
            `${secs(ideal)}, efficiency ${(bound.ms / ideal).toFixed(3)}: the tail and the 1% 500s`
        )
      }
      const header =
        `${pad("contender", 29)} ${lpad("completed/N", 12)} ${lpad("429s", 6)} ${lpad("500s", 5)} ${lpad("requests", 8)} ` +
        `${lpad("tokens", 9)} ${lpad("1st req", 7)} ${lpad("makespan", 9)} ${lpad("eff", 5)}  ${pad("load", 5)}  note`
      console.log(header)
      console.log("-".repeat(header.length + 20))
      for (const c of contenders) {
        await sim.reset()
        const r = await c.run({ url: sim.url, items, rpm: w.rpm, tpm: w.tpm, timeoutMs })
        const s = await sim.stats()
        const log = await sim.log()
        const firstArrival = log.reduce((m, e) => Math.min(m, e.arrivedAt), Number.POSITIVE_INFINITY)
        const load = loadavg().split(" ")[0]!
        const all = r.completed === N
        const eff = bound.ms / r.makespanMs
        const notes: Array<string> = []
        if (r.timedOut) notes.push(`timed out: ${N - r.completed - r.failed} unfinished`)
        if (r.failed > 0) notes.push(`${r.failed} failed`)
        if (r.note !== undefined) notes.push(r.note)
        if (c.sluice !== undefined) {
          const no429 = c.sluice === "headers" || s.rateLimited === 0
          const met = all && eff >= w.goal && no429
          const why = [
            ...(all ? [] : [`${N - r.completed} not completed`]),
            ...(eff >= w.goal ? [] : [`eff < ${w.goal}`]),
            ...(no429 ? [] : [`${s.rateLimited} × 429`])
          ]
          const verdict = met ? "goal met" : `goal missed (${why.join(", ")})`
          notes.push(verdict)
          verdicts.push(`${w.kind} / ${c.name}: ${verdict}; eff ${eff.toFixed(3)}, ${s.rateLimited} × 429`)
        }
        console.log(
          `${pad(c.name, 29)} ${lpad(`${r.completed}/${N}`, 12)} ${lpad(String(s.rateLimited), 6)} ${lpad(String(s.errors), 5)} ` +
            `${lpad(String(s.received), 8)} ${lpad(String(s.promptTokens + s.completionTokens), 9)} ` +
            `${lpad(Number.isFinite(firstArrival) ? `${((firstArrival - r.startedAtEpochMs) / 1000).toFixed(2)}` : "—", 7)} ` +
            `${lpad(secs(r.makespanMs), 9)} ${lpad(all ? eff.toFixed(3) : "—", 5)}  ${pad(load, 5)}  ${notes.join("; ")}`
        )
        // Let aborted requests and their sockets settle before the next contender's reset.
        await sleep(1_000)
      }
    } finally {
      await sim.stop()
    }
  }
  console.log(
    "\neff = bound / makespan, shown only when every item completed. 429s, 500s, requests (received) and tokens " +
      "(prompt + completion, retries included) are the simulator's counts for that contender; 1st req = seconds from " +
      "the contender's start to the simulator admitting its first request; load = 1-minute load average after the row."
  )
  console.log(`load average at end ${loadavg()}`)
  for (const v of verdicts) console.log(v)
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
