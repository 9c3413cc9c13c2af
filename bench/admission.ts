/**
 * LLM-aware admission on every upstream dialect the simulator speaks (`src/Simulator/Dialect.ts`),
 * beside p-limit, p-queue and Bottleneck on the same workloads in the same run (issue 10).
 *
 * For each dialect (openai, compat, anthropic, azure, local) and each workload (request-, token- and
 * latency-bound), one simulator process (lognormal latency, 300 ms median, σ 0.5; 1% of answers 500;
 * answers of 24–40 tokens) is reset before every contender, so each sees full buckets and the same
 * draws. Every contender sends the same requests (system prompt + the item) through the openai SDK at
 * concurrency 64, under a hard timeout of 2× the bound + 5 s.
 *
 * - sluice runs with its defaults apart from the limits and the concurrency: `--rpm`/`--tpm` given,
 *   `max_tokens` NOT given (it learns it), the response cache in its store file.
 * - The peers are hand-tuned: `max_tokens` 64 (above the longest answer, 40), and p-queue and
 *   Bottleneck paced at the rate the limits allow for that allowance: min(RPM, TPM / (prompt + 64))
 *   (Anthropic: min(RPM, ITPM / prompt, OTPM / 64)). p-limit bounds only concurrency.
 *
 * Then discovery: the local dialect (no rate headers), sluice with no limits configured, 6,000 RPM:
 * the time until a 5-second window admits 0.9 of the limit (goal: within 60 s).
 *
 * Usage: tsx bench/admission.ts [--n 3000] [--only request,token,latency,discovery] [--dialects openai,compat]
 */
import * as fs from "node:fs"
import { bottleneckRun, type Context, pLimitRun, pQueueRun, type Result } from "./admission/contenders.js"
import { type SimProcess, startSimulator } from "./admission/simProcess.js"
import { sluiceRun } from "./admission/sluice.js"
import {
  boundOf,
  CONCURRENCY,
  DIALECTS,
  discovery,
  makeItems,
  MAX_TOKENS,
  type Tokens,
  tokensOf,
  type Workload,
  workloadsFor
} from "./admission/workload.js"

interface Contender {
  readonly name: string
  readonly sluice: boolean
  readonly run: (ctx: Context) => Promise<Result & { readonly admission429s?: number }>
}

const contenders: ReadonlyArray<Contender> = [
  { name: "sluice", sluice: true, run: (ctx) => sluiceRun(ctx, { limitsKnown: true }) },
  { name: "p-limit", sluice: false, run: pLimitRun },
  { name: "p-queue", sluice: false, run: pQueueRun },
  { name: "Bottleneck", sluice: false, run: bottleneckRun }
]

const args = process.argv.slice(2)
const arg = (name: string) => {
  const at = args.indexOf(name)
  return at >= 0 ? args[at + 1] : undefined
}
const N = Number(arg("--n") ?? 3_000)
const only = arg("--only") === undefined ? undefined : new Set(arg("--only")!.split(","))
const dialects =
  arg("--dialects") === undefined ? DIALECTS : DIALECTS.filter((d) => arg("--dialects")!.split(",").includes(d))
const WARM_UP_ITEMS = 64

const loadavg = () => fs.readFileSync("/proc/loadavg", "utf8").trim().split(" ").slice(0, 3).join(" ")
const pad = (s: string, n: number) => (s.length >= n ? s : s + " ".repeat(n - s.length))
const lpad = (s: string, n: number) => (s.length >= n ? s : " ".repeat(n - s.length) + s)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`

/** The rate a hand-tuner sets p-queue and Bottleneck to: what the limits allow at max_tokens 64. */
const peerRpm = (w: Workload, tokens: Tokens, n: number): number => {
  const prompt = tokens.prompt / n
  if (w.otpm !== undefined) return Math.floor(Math.min(w.rpm, w.tpm / prompt, w.otpm / MAX_TOKENS))
  return Math.floor(Math.min(w.rpm, w.tpm / (prompt + MAX_TOKENS)))
}

const summary: Array<string> = []

const runWorkload = async (w: Workload, items: ReadonlyArray<string>, tokens: Tokens, warm: boolean) => {
  const bound = boundOf(w, items.length, tokens)
  const timeoutMs = 2 * bound.ms + 5_000
  const sim: SimProcess = await startSimulator(w.sim)
  try {
    if (warm) {
      for (const c of contenders) {
        await sim.reset()
        await c.run({
          url: sim.url,
          items: items.slice(0, WARM_UP_ITEMS),
          rpm: w.rpm,
          tpm: w.tpm,
          otpm: w.otpm,
          timeoutMs: 10_000
        })
      }
    }
    const tuned = peerRpm(w, tokens, items.length)
    console.log(`\n## ${w.title}`)
    console.log(
      `bound ${secs(bound.ms)} = ${bound.formula}; peers paced at ${tuned.toLocaleString("en")} RPM; timeout ${(timeoutMs / 1000).toFixed(0)} s`
    )
    const header =
      `${pad("contender", 11)} ${lpad("done/N", 10)} ${lpad("429s", 6)} ${lpad("500s", 5)} ${lpad("requests", 8)} ` +
      `${lpad("tokens", 9)} ${lpad("makespan", 9)} ${lpad("eff", 5)}  ${pad("load", 5)}  note`
    console.log(header)
    console.log("-".repeat(header.length + 20))
    const rows: Array<{ name: string; eff: number | undefined; makespanMs: number; r429: number }> = []
    for (const c of contenders) {
      await sim.reset()
      const ctx: Context = { url: sim.url, items, rpm: c.sluice ? w.rpm : tuned, tpm: w.tpm, otpm: w.otpm, timeoutMs }
      const r = await c.run(ctx)
      const s = await sim.stats()
      const all = r.completed === items.length
      const eff = all ? bound.ms / r.makespanMs : undefined
      rows.push({ name: c.name, eff, makespanMs: r.makespanMs, r429: s.rateLimited })
      const notes: Array<string> = []
      if (r.timedOut) notes.push(`timed out: ${items.length - r.completed - r.failed} unfinished`)
      if (r.failed > 0) notes.push(`${r.failed} failed`)
      if (r.note !== undefined) notes.push(r.note)
      console.log(
        `${pad(c.name, 11)} ${lpad(`${r.completed}/${items.length}`, 10)} ${lpad(String(s.rateLimited), 6)} ${lpad(String(s.errors), 5)} ` +
          `${lpad(String(s.received), 8)} ${lpad(String(s.promptTokens + s.completionTokens), 9)} ` +
          `${lpad(secs(r.makespanMs), 9)} ${lpad(eff === undefined ? "—" : eff.toFixed(3), 5)}  ${pad(loadavg().split(" ")[0]!, 5)}  ${notes.join("; ")}`
      )
      // Let aborted requests and their sockets settle before the next contender's reset.
      await sleep(500)
    }
    const me = rows[0]!
    const peers = rows.slice(1)
    const why: Array<string> = []
    if (me.eff === undefined || me.eff < w.goal) why.push(`eff ${me.eff?.toFixed(3) ?? "—"} < ${w.goal}`)
    if (w.max429 !== undefined && me.r429 > w.max429) why.push(`${me.r429} × 429 > ${w.max429}`)
    if (w.kind === "latency") {
      const pl = rows.find((x) => x.name === "p-limit")!
      if (pl.eff !== undefined && (me.eff ?? 0) <= pl.eff) why.push("not ahead of p-limit")
    }
    if (w.kind === "token") {
      const best = Math.min(...peers.filter((p) => p.eff !== undefined).map((p) => p.makespanMs))
      if (me.makespanMs > best) why.push(`later than the best peer (${secs(best)})`)
    }
    summary.push(
      `${pad(`${w.dialect} / ${w.kind}`, 20)} eff ${me.eff?.toFixed(3) ?? "—"} (goal ${w.goal}), ${me.r429} × 429: ` +
        (why.length === 0 ? "goal met" : `goal missed (${why.join(", ")})`)
    )
  } finally {
    await sim.stop()
  }
}

/** Discovery: sluice with no limits on a headerless upstream; when does a 5 s window reach 0.9 of the limit? */
const runDiscovery = async (items: ReadonlyArray<string>) => {
  const w = discovery
  const sim = await startSimulator(w.sim)
  try {
    console.log(`\n## ${w.title}; N = ${items.length}`)
    const r = await sluiceRun({ url: sim.url, items, rpm: 0, tpm: 0, timeoutMs: 120_000 }, { limitsKnown: false })
    const s = await sim.stats()
    const log = await sim.log()
    const t0 = Math.min(...log.map((e) => e.arrivedAt))
    const times = log.map((e) => e.arrivedAt - t0).sort((a, b) => a - b)
    const target = (0.9 * w.rpm * 5) / 60
    let reached: number | undefined
    for (let i = 0, j = 0; j < times.length; j++) {
      while (times[j]! - times[i]! > 5_000) i++
      if (j - i + 1 >= target) {
        reached = times[j]!
        break
      }
    }
    const perSecond = (from: number, to: number) =>
      (times.filter((t) => t >= from && t < to).length / (to - from)) * 1000 * 60
    console.log(
      `completed ${r.completed}/${items.length} in ${secs(r.makespanMs)}; ${s.rateLimited} × 429; ` +
        `0.9 of ${w.rpm} RPM over a 5 s window first reached at ${reached === undefined ? "never" : secs(reached)}; ` +
        `admitted rate 0–10 s ${perSecond(0, 10_000).toFixed(0)} RPM, 10–30 s ${perSecond(10_000, 30_000).toFixed(0)} RPM, ` +
        `30 s–end ${perSecond(30_000, times[times.length - 1]!).toFixed(0)} RPM; ${r.note ?? ""}`
    )
    summary.push(
      `${pad("discovery", 20)} 0.9 of the limit at ${reached === undefined ? "never" : secs(reached)} (goal ≤ 60 s), ${s.rateLimited} × 429: ` +
        (reached !== undefined && reached <= 60_000 ? "goal met" : "goal missed")
    )
  } finally {
    await sim.stop()
  }
}

const main = async () => {
  const items = makeItems(N)
  const tokens = tokensOf(items)
  console.log(
    `admission bench: N = ${N}, concurrency ${CONCURRENCY}, peers' max_tokens ${MAX_TOKENS}, sluice's learned; ` +
      `prompt ${(tokens.prompt / N).toFixed(1)} + answer ${(tokens.completion / N).toFixed(1)} tokens per item on average ` +
      `(longest answer ${tokens.longest}); load average at start ${loadavg()}`
  )
  let warm = true
  for (const d of dialects) {
    for (const w of workloadsFor(d)) {
      if (only !== undefined && !only.has(w.kind)) continue
      await runWorkload(w, items, tokens, warm)
      warm = false
    }
  }
  if (only === undefined || only.has("discovery")) await runDiscovery(makeItems(Math.max(N, 4_000)))
  console.log(
    "\neff = bound / makespan, shown only when every item completed. 429s, 500s, requests and tokens (prompt + " +
      "completion, retries included) are the simulator's counts for that contender; load = 1-minute load average after the row."
  )
  console.log(`load average at end ${loadavg()}\n`)
  for (const line of summary) console.log(line)
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
