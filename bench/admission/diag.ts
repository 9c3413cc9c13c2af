/**
 * Diagnostics for one sluice run on one workload: where the 64 slots are (in the process stage, at
 * the simulator, waiting for admission), claim and commit batches, when 429s came, CPU used.
 *
 * Usage: tsx bench/admission/diag.ts <request|token|latency> [N] [repeats] (DIALECT=openai|compat|… picks the dialect)
 *   ERR=0 overrides the simulator's error rate; WARM=1 runs 128 items first, unmeasured; HEADERS=1
 *   leaves the limits to be learned from the headers; NO_OTPM=1 does not tell sluice a separate output limit
 *   (Anthropic), as a user who gives only --rpm and --tpm would not.
 */
import { Effect } from "effect"
import * as fs from "node:fs"
import type { Admission } from "../../src/Governor/Admission.js"
import { startSimulator } from "./simProcess.js"
import { sluiceRun } from "./sluice.js"
import type { DialectName } from "../../src/Simulator/Dialect.js"
import { boundOf, makeItems, tokensOf, workloadsFor } from "./workload.js"

const kind = process.argv[2] ?? "latency"
const N = Number(process.argv[3] ?? 3000)
const repeats = Number(process.argv[4] ?? 1)
const w = workloadsFor((process.env["DIALECT"] ?? "openai") as DialectName).find((x) => x.kind === kind)
if (w === undefined) throw new Error(`unknown workload ${kind}`)
const items = makeItems(N)
const bound = boundOf(w, N, tokensOf(items))
const err = process.env["ERR"]
const sim = await startSimulator({ ...w.sim, ...(err !== undefined ? { errorRate: Number(err) } : {}) })
const mean = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)

if (process.env["WARM"] === "1") {
  await sim.reset()
  await sluiceRun(
    { url: sim.url, items: items.slice(0, 128), rpm: w.rpm, tpm: w.tpm, timeoutMs: 10_000 },
    { limitsKnown: true }
  )
}
for (let rep = 0; rep < repeats; rep++) {
  await sim.reset()
  let inProcess = 0
  let admission: Admission["Type"] | undefined
  let waiting = 0
  const samples: Array<{ at: number; inProcess: number; atSimulator: number; waiting: number }> = []
  const claims: Array<number> = []
  const commits: Array<{ size: number; ms: number }> = []
  const at429: Array<string> = []
  let seen429 = 0
  let firstAt: number | undefined
  const t0 = performance.now()
  const sampler = setInterval(() => {
    const at = performance.now()
    const p = inProcess
    if (admission !== undefined)
      void Effect.runPromise(admission.state).then((st) => {
        waiting = st.waiting
        if (process.env["TRACE"] === "1")
          console.error(
            `+${((at - t0) / 1000).toFixed(2)} s rpm ${st.rpm} level ${st.requestLevel?.toFixed(1)}/${st.requestCapacity?.toFixed(1)} ` +
              `tokens ${st.tokenLevel?.toFixed(0)}/${st.tokenCapacity?.toFixed(0)} waiting ${st.waiting} paused ${(st.pausedUntilMs - Date.now()).toFixed(0)} ` +
              `window ${st.windowMs} refunds ${st.refunds} 429s ${st.rateLimitHits} inProcess ${p}`
          )
      })
    void sim.stats().then((s) => {
      samples.push({ at, inProcess: p, atSimulator: s.inFlight, waiting })
      if (firstAt === undefined && s.received > 0) firstAt = at
      if (s.rateLimited > seen429)
        at429.push(`${s.rateLimited - seen429} at +${((at - (firstAt ?? at)) / 1000).toFixed(2)} s`)
      seen429 = s.rateLimited
    })
  }, 50)
  const cpu0 = process.cpuUsage()
  const r = await sluiceRun(
    {
      url: sim.url,
      items,
      rpm: w.rpm,
      tpm: w.tpm,
      otpm: process.env["NO_OTPM"] === "1" ? undefined : w.otpm,
      timeoutMs: 120_000
    },
    {
      limitsKnown: process.env["HEADERS"] !== "1",
      onAdmission: (a) => (admission = a),
      wrapProcessor: (p) => ({
        process: (item, route) =>
          Effect.suspend(() => {
            inProcess++
            return p.process(item, route)
          }).pipe(
            Effect.tapError((e) =>
              Effect.sync(() => {
                if (process.env["TRACE"] === "1") console.error(`error ${e._tag}: ${e.message.slice(0, 200)}`)
              })
            ),
            Effect.ensuring(Effect.sync(() => inProcess--))
          )
      }),
      wrapStore: (s) => ({
        ...s,
        claim: (o) => Effect.tap(s.claim(o), (xs) => Effect.sync(() => claims.push(xs.length))),
        complete: (cs) => {
          const started = performance.now()
          return Effect.tap(s.complete(cs), () =>
            Effect.sync(() => commits.push({ size: cs.length, ms: performance.now() - started }))
          )
        }
      })
    }
  )
  clearInterval(sampler)
  const cpu = process.cpuUsage(cpu0)
  const s = await sim.stats()
  // The middle 80% of the run: start-up and tail excluded.
  const mid = samples.slice(Math.floor(samples.length * 0.1), Math.floor(samples.length * 0.9))
  console.log(
    JSON.stringify({
      kind,
      n: N,
      completed: r.completed,
      makespanS: +(r.makespanMs / 1000).toFixed(2),
      eff: +(bound.ms / r.makespanMs).toFixed(3),
      slotsInProcessStage: +mean(mid.map((x) => x.inProcess)).toFixed(1),
      slotsAtSimulator: +mean(mid.map((x) => x.atSimulator)).toFixed(1),
      waitingForAdmission: +mean(mid.map((x) => x.waiting)).toFixed(1),
      firstRequestSinceCallS: firstAt === undefined ? null : +((firstAt - t0) / 1000).toFixed(2),
      cpuMsPerItem: +((cpu.user + cpu.system) / 1000 / N).toFixed(2),
      meanClaim: +mean(claims).toFixed(1),
      meanCommit: +mean(commits.map((c) => c.size)).toFixed(1),
      commitMs: +mean(commits.map((c) => c.ms)).toFixed(2),
      received: s.received,
      r429: s.rateLimited,
      at429,
      load: fs.readFileSync("/proc/loadavg", "utf8").trim()
    })
  )
}
await sim.stop()
