/**
 * sluice across machines: hosts are network namespaces joined by veth pairs on private bridges (see
 * `Netns.ts`, `Cluster.ts`), PostgreSQL 2 ms away on its own host, the simulator on another, and
 * `sluice worker`s on two or three more. Real processes, real time, real TCP across the veths.
 *
 * Runs under `npm test` where the machine allows it: Linux, root, and `ip netns` working (see
 * `Netns.unsupported`); elsewhere it says why in one line and does not run. It needs PostgreSQL's server
 * binaries: the same as every Postgres test uses (the system's, else npm's, from the global setup).
 * Everything it makes (namespaces, their processes, the database's directory) is removed at the end, and
 * whatever a killed run left behind is swept at the next start.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Cluster from "./Cluster.js"
import * as Netns from "./Netns.js"
import { until } from "./Cluster.js"
import { countOf, occurrences, ownerLike, runPhase, sleep } from "./Scenario.js"

const loadavg = () => fs.readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")

/** The machine's CPU times so far (all cores): idle (with iowait) and total, in clock ticks. */
const cpuTimes = () => {
  const f = fs.readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number)
  return { idle: f[3]! + f[4]!, total: f.reduce((a, b) => a + b, 0) }
}
const idleShare = (a: ReturnType<typeof cpuTimes>, b: ReturnType<typeof cpuTimes>) =>
  (b.idle - a.idle) / Math.max(1, b.total - a.total)

const why = Netns.unsupported()
if (why !== undefined) process.stderr.write(`test/Hosts: the multi-host scenarios did not run: ${why}\n`)

/** What a worker says, once each, when the database goes and when it is back. */
const LOST = "lost the database"
const BACK = "is back after"

/**
 * The scenarios but the shared limit are about the database, not the upstream's limit: each process
 * admits on its own (effectively unlimited) budget, so the fleet budget's own pace is not measured here.
 */
const OWN_BUDGETS = { SLUICE_FLEET_BUDGET: "off" }

/** Sized so the whole file runs in about six minutes on two idle cores. */
const SCALE = { items: 240, concurrency: 8, latencyMs: 2_000 }

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
    await cl.simulate(["--latency-ms", String(SCALE.latencyMs), "--latency-sigma", "0.3"], log)
    const hosts = [cl.hosts.w1, cl.hosts.w2, cl.hosts.w3]
    const rates: Array<number> = []
    /** Transactions the database committed per second of each phase: what the workers ask of it. */
    const asked: Array<number> = []
    const commits = async () =>
      Number((await cl.psql("SELECT xact_commit FROM pg_stat_database WHERE datname = 'sluice'")).trim())
    for (const n of [1, 2, 3]) {
      const before = { commits: await commits(), at: Date.now() }
      const phase = await runPhase(cl, log, {
        name: `scale${n}`,
        items: SCALE.items,
        hosts: hosts.slice(0, n),
        concurrency: SCALE.concurrency,
        rpm: 1_000_000,
        env: OWN_BUDGETS,
        leaseSeconds: 30,
        timeoutMs: 150_000
      })
      expect(phase.repeated).toBe(0)
      // Items per second between the 10th and the 90th percentile of first calls: the fleet at work,
      // without the seconds its processes take to start (several, on a loaded machine).
      rates.push(phase.throughput)
      // PostgreSQL publishes its counters about once a second.
      await sleep(1_500)
      asked.push(((await commits()) - before.commits) / ((Date.now() - before.at) / 1000))
    }
    process.stderr.write(
      `scale (${SCALE.items} items, ${SCALE.latencyMs} ms per call, concurrency ${SCALE.concurrency} per host): ${rates
        .map((r, i) => `${i + 1} host(s) ${r.toFixed(1)} items/s (${(r / rates[0]!).toFixed(2)}×)`)
        .join(", ")}; the database committed ${asked.map((a) => a.toFixed(0)).join(", ")} transactions/s\n`
    )
    expect(rates[1]!).toBeGreaterThanOrEqual(0.85 * 2 * rates[0]!)
    expect(rates[2]!).toBeGreaterThanOrEqual(0.85 * 3 * rates[0]!)
  }, 400_000)

  it("shared limit: 3 hosts each told the full 3,000 RPM share it: at most 3 429s, every item once", async () => {
    const cl = c()
    const log = path.join(cl.dir, "shared.sim.jsonl")
    const rpm = 3_000
    await cl.simulate(["--rpm", String(rpm), "--latency-ms", "200", "--latency-sigma", "0.2"], log)
    /** When all three workers were at work (each held a lease): node's start on a loaded machine is not admission's. */
    let allAt = 0
    const cpuBefore = cpuTimes()
    const phase = await runPhase(cl, log, {
      name: "shared",
      items: 1_500,
      hosts: [cl.hosts.w1, cl.hosts.w2, cl.hosts.w3],
      concurrency: 16,
      rpm,
      leaseSeconds: 30,
      timeoutMs: 150_000,
      during: async (workers, run) => {
        const seen = new Set<number>()
        await until(
          async () => {
            for (const w of workers)
              if (!seen.has(w.child.pid!) && (await countOf(cl, run, `lease_owner LIKE '${ownerLike(w)}'`)) > 0)
                seen.add(w.child.pid!)
            return seen.size === workers.length
          },
          60_000,
          "every worker to take a lease",
          100
        )
        allAt = Date.now()
      }
    })
    const stats = JSON.parse(await cl.fetchIn(cl.hosts.api, "http://127.0.0.1:8080/_sim/stats")) as {
      rateLimited: number
    }
    // Efficiency: the requests the upstream answered from then on, over what 3,000 a minute allows in that span.
    const after = [...phase.sent.values()]
      .flat()
      .filter((t) => t >= allAt)
      .sort((a, b) => a - b)
    const spanMs = after.at(-1)! - after[0]!
    const efficiency = (after.length - 1) / ((spanMs / 60_000) * rpm)
    // How long items waited for budget: near a second each when the budget sets the pace (48 callers
    // for 50 a second), near nothing when something else does (the cores, on a loaded machine).
    const [waitMs, timed] = (
      await cl.psql(`SELECT admission_wait_ms, items_timed FROM sluice.runs WHERE id = '${phase.run}'`)
    )
      .trim()
      .split("|")
      .map(Number)
    const meanWaitMs = waitMs! / Math.max(1, timed!)
    // What the fleet budget handed out over the phase (its two minute windows), against what was sent:
    // the difference is slices that expired unspent.
    const handedOut = Number(
      (await cl.psql("SELECT coalesce(sum(window_requests + prev_requests), 0) FROM sluice.fleet_budget")).trim()
    )
    const idle = idleShare(cpuBefore, cpuTimes())
    process.stderr.write(
      `shared limit: ${stats.rateLimited} 429s, efficiency ${efficiency.toFixed(3)} (${after.length} requests in ${(spanMs / 1000).toFixed(1)} s once all 3 workers were at work), admission wait ${meanWaitMs.toFixed(0)} ms per item, the budget handed out ${handedOut.toFixed(0)} requests, ${phase.repeated} repeated call(s); the cores idle ${(idle * 100).toFixed(0)}% of the phase, load average ${loadavg()}\n`
    )
    expect(after.length).toBeGreaterThan(1_000)
    expect(phase.repeated).toBe(0)
    expect(stats.rateLimited).toBeLessThanOrEqual(3)
    // The efficiency is printed, not asserted: speed is measured in benchmarks (bench/fleet.ts, BENCHMARKS.md),
    // and the goal (≥ 0.95 of the shared limit) is not met yet (0.73–0.81 here with the cores 12–20% idle,
    // 0.92 for PostgreSQL in bench/fleet.ts on a quiet machine). What is asserted holds on any machine.
  }, 200_000)

  it("lost host: kill -9 of every sluice process on one host; the others take its leases over and finish", async () => {
    const cl = c()
    const log = path.join(cl.dir, "lost.sim.jsonl")
    const concurrency = 8
    // 2 s per call: enough work left, on a loaded machine, for `sluice status` to start and answer before the kill.
    await cl.simulate(["--latency-ms", "2000", "--latency-sigma", "0.2"], log)
    let killed: ReadonlyArray<number> = []
    const phase = await runPhase(cl, log, {
      name: "lost",
      items: 480,
      hosts: [cl.hosts.w1, cl.hosts.w2, cl.hosts.w3],
      concurrency,
      rpm: 1_000_000,
      env: OWN_BUDGETS,
      leaseSeconds: 10,
      timeoutMs: 150_000,
      during: async (workers, run) => {
        await until(async () => (await countOf(cl, run, "status = 'completed'")) >= 60, 90_000, "60 items done")
        // Before the loss, status (from another host) lists the four processes at work with their heartbeat.
        const status = Cluster.sluice(cl.hosts.ctl, ["status", "--db", cl.dbUrl])
        expect((await status.exited).code, status.stderr()).toBe(0)
        expect(status.stdout()).toContain("workers alive: 4")
        for (const w of workers)
          expect(status.stdout()).toMatch(
            new RegExp(`:${w.child.pid}:\\S+\\s+${concurrency}\\s+\\d+\\s+(just now|\\d+ s ago)`)
          )
        killed = await Netns.pidsOf(cl.hosts.w3)
        await Netns.sh("ip", ["netns", "exec", cl.hosts.w3.ns, "kill", "-9", ...killed.map(String)])
      }
    })
    expect(killed.length).toBeGreaterThan(0)
    expect((await phase.workers[2]!.exited).signal).toBe("SIGKILL")
    process.stderr.write(`lost host: ${phase.repeated} repeated call(s) (its concurrency: ${concurrency})\n`)
    expect(phase.repeated).toBeLessThanOrEqual(concurrency)
  }, 200_000)

  it("partition: a host cut off from the database for 20 s loses its leases, its late results are refused, it rejoins", async () => {
    const cl = c()
    const log = path.join(cl.dir, "partition.sim.jsonl")
    const concurrency = 6
    await cl.simulate(["--latency-ms", "1000", "--latency-sigma", "0.2"], log)
    let rejoined = false
    let takenOver = 0
    const phase = await runPhase(cl, log, {
      name: "partition",
      items: 700,
      hosts: [cl.hosts.w1, cl.hosts.w2, cl.hosts.w3],
      concurrency,
      rpm: 1_000_000,
      leaseSeconds: 8,
      // A call unanswered for 3 s means the database is out of reach.
      env: { ...OWN_BUDGETS, SLUICE_DB_TIMEOUT: "3" },
      timeoutMs: 200_000,
      during: async (workers, run) => {
        const cut = workers[1]!
        await until(async () => (await countOf(cl, run, "status = 'completed'")) >= 100, 90_000, "100 items done")
        const held = await countOf(cl, run, `status = 'processing' AND lease_owner LIKE '${ownerLike(cut)}'`)
        expect(held).toBeGreaterThan(0)
        await Netns.setDbLink(cl.topology, cl.hosts.w2, false)
        try {
          await sleep(20_000)
          // Its leases lapsed (it could not renew them) and the other hosts took its items over.
          const now = Date.now()
          expect(
            await countOf(
              cl,
              run,
              `status = 'processing' AND lease_owner LIKE '${ownerLike(cut)}' AND lease_expires > ${now}`
            )
          ).toBe(0)
          takenOver = await countOf(cl, run, "deliveries > 1")
          expect(cut.child.exitCode).toBeNull()
        } finally {
          await Netns.setDbLink(cl.topology, cl.hosts.w2, true)
        }
        // Back on the network, the same process claims again: it rejoined without a restart.
        await until(
          async () => (await countOf(cl, run, `lease_owner LIKE '${ownerLike(cut)}'`)) > 0,
          60_000,
          "the cut-off worker to claim again"
        )
        rejoined = true
      }
    })
    const cut = phase.workers[1]!
    expect(rejoined).toBe(true)
    expect(takenOver).toBeGreaterThan(0)
    // It said once that it lost the database, and once that it was back; its late results were refused.
    expect(occurrences(cut.stderr(), LOST), cut.stderr()).toBe(1)
    expect(occurrences(cut.stderr(), BACK), cut.stderr()).toBe(1)
    expect(cut.stderr()).toContain("not stored: their leases had expired")
    process.stderr.write(
      `partition: ${takenOver} item(s) taken over, ${phase.repeated} repeated call(s) (its concurrency: ${concurrency})\n`
    )
    // Repeats are the items it had in hand when cut off: those in the stages and the few claimed ahead.
    expect(phase.repeated).toBeLessThanOrEqual(2 * concurrency)
  }, 300_000)

  it("database restart: PostgreSQL restarts mid-run; workers reconnect with backoff, nothing is lost, none exits", async () => {
    const cl = c()
    const log = path.join(cl.dir, "restart.sim.jsonl")
    const concurrency = 8
    await cl.simulate(["--latency-ms", "1000", "--latency-sigma", "0.2"], log)
    const phase = await runPhase(cl, log, {
      name: "restart",
      items: 480,
      hosts: [cl.hosts.w1, cl.hosts.w2, cl.hosts.w3],
      concurrency,
      rpm: 1_000_000,
      env: OWN_BUDGETS,
      leaseSeconds: 30,
      timeoutMs: 200_000,
      during: async (workers, run) => {
        await until(async () => (await countOf(cl, run, "status = 'completed'")) >= 120, 90_000, "120 items done")
        await cl.stopDb()
        await sleep(5_000)
        for (const w of workers) expect(w.child.exitCode).toBeNull()
        await cl.startDb()
      }
    })
    // runPhase saw every process exit 0 and every item once; each worker said each change once.
    for (const w of phase.workers) {
      expect(occurrences(w.stderr(), LOST), w.stderr()).toBe(1)
      expect(occurrences(w.stderr(), BACK), w.stderr()).toBe(1)
    }
    process.stderr.write(`database restart: ${phase.repeated} repeated call(s)\n`)
    expect(phase.repeated).toBeLessThanOrEqual(3 * concurrency)
  }, 300_000)
})
