/**
 * sluice across machines: hosts are network namespaces joined by veth pairs on private bridges (see
 * `Netns.ts`, `Cluster.ts`), PostgreSQL 2 ms away on its own host, the simulator on another, and
 * `sluice worker`s on two or three more. Real processes, real time, real TCP across the veths.
 *
 * Needs root (for `ip netns`) and PostgreSQL. Without root it reports one line and does not run
 * (`SLUICE_HOSTS=skip` says the same as root); as root, a machine that cannot make the namespaces fails.
 */
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Cluster from "./Cluster.js"
import * as Netns from "./Netns.js"
import { occurrences, runPhase } from "./Scenario.js"

const why = Netns.unsupported()
if (why !== undefined) process.stderr.write(`test/Hosts: the multi-host scenarios did not run: ${why}\n`)

const LOST = "lost the database"
const BACK = "is back after"

describe.skipIf(why !== undefined)("sluice on several hosts (network namespaces, real processes)", () => {
  let cluster: Cluster.Cluster | undefined
  const c = () => {
    if (cluster === undefined) throw new Error("the hosts were not built (see the first error)")
    return cluster
  }
  beforeAll(async () => {
    cluster = await Cluster.start()
  }, 120_000)
  afterAll(async () => {
    await cluster?.remove()
  }, 60_000)

  it("scale: the same latency-bound run on 1, 2 and 3 worker hosts goes near-linearly faster", async () => {
    const cl = c()
    const log = path.join(cl.dir, "scale.sim.jsonl")
    // 2 s per call: the hosts wait on the upstream, not on the two cores.
    await cl.simulate(["--latency-ms", "2000", "--latency-sigma", "0.05"], log)
    const hosts = [cl.hosts.w1, cl.hosts.w2, cl.hosts.w3]
    const rates: Array<number> = []
    for (const n of [1, 2, 3]) {
      const phase = await runPhase(cl, log, {
        name: `scale${n}`,
        items: 960,
        hosts: hosts.slice(0, n),
        concurrency: 40,
        rpm: 1_000_000,
        leaseSeconds: 30,
        timeoutMs: 120_000
      })
      expect(phase.repeated).toBe(0)
      rates.push(phase.throughput)
    }
    process.stderr.write(
      `scale: ${rates.map((r, i) => `${i + 1} host(s) ${r.toFixed(1)} items/s (${(r / rates[0]!).toFixed(2)}×)`).join(", ")}\n`
    )
    expect(rates[1]!).toBeGreaterThanOrEqual(0.85 * 2 * rates[0]!)
    expect(rates[2]!).toBeGreaterThanOrEqual(0.85 * 3 * rates[0]!)
  }, 300_000)
})

export { LOST, BACK, occurrences }
