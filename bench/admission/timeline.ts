/**
 * Where a request-bound run loses time: arrivals at the simulator per 500 ms, for sluice and p-queue,
 * from the simulator's own log. Usage: tsx bench/admission/timeline.ts [request|token] [N] (DIALECT=…)
 */
import { pQueueRun } from "./contenders.js"
import { startSimulator } from "./simProcess.js"
import { sluiceRun } from "./sluice.js"
import type { DialectName } from "../../src/Simulator/Dialect.js"
import { boundOf, makeItems, tokensOf, workloadsFor } from "./workload.js"

const kind = process.argv[2] ?? "request"
const N = Number(process.argv[3] ?? 1000)
const w = workloadsFor((process.env["DIALECT"] ?? "openai") as DialectName).find((x) => x.kind === kind)!
const items = makeItems(N)
const bound = boundOf(w, N, tokensOf(items))
const sim = await startSimulator(w.sim)
for (const name of ["sluice", "p-queue", "sluice"]) {
  await sim.reset()
  const ctx = { url: sim.url, items, rpm: w.rpm, tpm: w.tpm, timeoutMs: 60_000 }
  const r = name === "sluice" ? await sluiceRun(ctx, { limitsKnown: true }) : await pQueueRun(ctx)
  const log = await sim.log()
  const t0 = r.startedAtEpochMs
  const bins = new Map<number, number>()
  let last = 0
  for (const e of log) {
    const b = Math.floor((e.arrivedAt - t0) / 500)
    bins.set(b, (bins.get(b) ?? 0) + 1)
    last = Math.max(last, e.arrivedAt - t0)
  }
  const first = Math.min(...log.map((e) => e.arrivedAt - t0))
  // Faulted calls and how long each item waited to be asked again.
  const byItem = new Map<string, Array<{ at: number; status: number }>>()
  for (const e of log)
    byItem.set(e.content, [...(byItem.get(e.content) ?? []), { at: e.arrivedAt - t0, status: e.status }])
  const retries = [...byItem.values()]
    .filter((xs) => xs.length > 1)
    .map((xs) => `${(xs[0]!.at / 1000).toFixed(2)}→${(xs[xs.length - 1]!.at / 1000).toFixed(2)}`)
  const row = [...bins.entries()].sort((a, b) => a[0] - b[0]).map(([, n]) => n)
  console.log(
    `${name}: makespan ${(r.makespanMs / 1000).toFixed(2)} s eff ${(bound.ms / r.makespanMs).toFixed(3)}; first arrival +${first} ms, last +${last} ms, ${log.length} arrivals; per 500 ms: ${row.join(" ")}; retried (first→last arrival, s): ${retries.join(" ")}`
  )
}
await sim.stop()
