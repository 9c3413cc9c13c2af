/**
 * One run across the hosts: `sluice run` on `ctl` records the items and writes the ordered results;
 * one `sluice worker` per worker host shares the work; then the results and the simulator's log are
 * checked. What the scenarios have in common lives here; the faults are in the test file.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { expect } from "vitest"
import { defaultRunId } from "../../src/Cli/Commands/Run.js"
import { answerFor } from "../../src/Simulator/Responder.js"
import { readJsonl } from "../support/Temp.js"
import { sluice, until, type Cluster, type Proc } from "./Cluster.js"
import type { Host } from "./Netns.js"

export interface PhaseOptions {
  readonly name: string
  readonly items: number
  readonly hosts: ReadonlyArray<Host>
  /** Per worker. */
  readonly concurrency: number
  /** `--rpm` of every process: what each believes the upstream allows. */
  readonly rpm: number
  readonly leaseSeconds: number
  readonly env?: Record<string, string> | undefined
  /** Runs while the workers work (a fault); the phase waits for it. */
  readonly during?: ((workers: ReadonlyArray<Proc>, run: string) => Promise<void>) | undefined
  /** How long the whole phase may take. */
  readonly timeoutMs: number
}

export interface PhaseResult {
  readonly run: string
  readonly workers: ReadonlyArray<Proc>
  readonly recorder: Proc
  /** Answered (200) requests per item content, with their arrival times (the simulator's clock). */
  readonly sent: Map<string, Array<number>>
  /** Upstream calls beyond the first per item. */
  readonly repeated: number
  /** Items per second between the 10th and the 90th percentile of first arrivals. */
  readonly throughput: number
  /** From the first to the last first arrival, plus one latency: ms. */
  readonly spanMs: number
}

const exitOf = (p: Proc, ms: number, what: string) =>
  Promise.race([
    p.exited,
    new Promise<never>((_, reject) =>
      setTimeout(
        () => reject(new Error(`${what} did not exit within ${ms} ms; its stderr:\n${p.stderr().slice(-3000)}`)),
        ms
      )
    )
  ])

/** Runs one phase and checks what every scenario promises: each item once, in order, right. */
export const runPhase = async (cluster: Cluster, log: string, o: PhaseOptions): Promise<PhaseResult> => {
  const input = path.join(cluster.dir, `${o.name}.jsonl`)
  const output = path.join(cluster.dir, `${o.name}.results.jsonl`)
  const data = Array.from({ length: o.items }, (_, i) => ({ id: `${o.name}-${i}`, text: `${o.name} item ${i}` }))
  fs.writeFileSync(input, data.map((d) => JSON.stringify(d)).join("\n") + "\n")
  const run = defaultRunId(input)
  const common = [
    "--db",
    cluster.dbUrl,
    "--base-url",
    cluster.baseUrl,
    "--rpm",
    String(o.rpm),
    "--lease",
    String(o.leaseSeconds)
  ]
  const env = { SLUICE_LOG_LEVEL: "warning", ...o.env }
  const started = Date.now()
  // The recorder works too, one item at a time, so the workers do nearly all of it.
  const recorder = sluice(
    cluster.hosts.ctl,
    ["run", input, "--out", output, "--run", run, "--concurrency", "1", ...common],
    env
  )
  await until(
    async () => {
      if (recorder.child.exitCode !== null) throw new Error(`sluice run exited early: ${recorder.stderr()}`)
      // Before the first process has made the schema, the query fails: not recorded yet.
      const found = await cluster
        .psql(`SELECT count(*) FROM sluice.runs WHERE id = '${run}' AND fetched_at IS NOT NULL`)
        .catch(() => "0")
      return found.trim() === "1"
    },
    30_000,
    `run ${run} to be recorded`
  )
  const workers = o.hosts.map((host) =>
    sluice(host, ["worker", "--run", run, "--concurrency", String(o.concurrency), ...common], env)
  )
  try {
    if (o.during !== undefined) await o.during(workers, run)
    const left = Math.max(10_000, o.timeoutMs - (Date.now() - started))
    const recorded = await exitOf(recorder, left, `sluice run (${o.name})`)
    expect(recorded.code, recorder.stderr().slice(-3000)).toBe(0)
    for (const w of workers) {
      const exit = await exitOf(w, 30_000, `a worker on ${w.host.name} (${o.name})`)
      // A worker killed by the scenario ends by its signal; every other one ends cleanly.
      if (exit.signal !== "SIGKILL") expect(exit.code, w.stderr().slice(-3000)).toBe(0)
    }
  } catch (error) {
    // What each process said is the first thing to read when a phase fails.
    const said = [recorder, ...workers]
      .map((p) => `--- ${p.host.name} (pid ${p.child.pid}):\n${p.stderr().slice(-1500)}`)
      .join("\n")
    throw new Error(`${(error as Error).message}\n${said}`)
  } finally {
    // A failed phase must not leave its processes working into the next one.
    for (const p of [recorder, ...workers])
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGKILL")
  }

  // Every item once, in input order, with the answer the simulator gives for it.
  const lines = readJsonl(output)
  expect(lines.map((l) => l.seq)).toEqual(data.map((_, i) => i))
  for (const l of lines) {
    const item = data[l.seq]!
    expect(l).toEqual({
      seq: l.seq,
      key: item.id,
      status: "completed",
      output: JSON.parse(answerFor(JSON.stringify(item)))
    })
  }

  const mine = new Set(data.map((d) => JSON.stringify(d)))
  const sent = new Map<string, Array<number>>()
  for (const e of readJsonl(log)) {
    if (e.status !== 200 || !mine.has(e.content)) continue
    const at = sent.get(e.content)
    if (at === undefined) sent.set(e.content, [e.arrivedAt])
    else at.push(e.arrivedAt)
  }
  expect(sent.size).toBe(o.items)
  let repeated = 0
  for (const times of sent.values()) repeated += times.length - 1
  const firsts = [...sent.values()].map((t) => Math.min(...t)).sort((a, b) => a - b)
  const p10 = firsts[Math.floor(firsts.length * 0.1)]!
  const p90 = firsts[Math.floor(firsts.length * 0.9)]!
  const throughput = (Math.floor(firsts.length * 0.9) - Math.floor(firsts.length * 0.1)) / ((p90 - p10) / 1000)
  return { run, workers, recorder, sent, repeated, throughput, spanMs: firsts.at(-1)! - firsts[0]! }
}

/** How many times `text` occurs in `s`. */
export const occurrences = (s: string, text: string) => s.split(text).length - 1

/** Items of `run` in a status, as the database has them now. */
export const countOf = async (cluster: Cluster, run: string, where: string): Promise<number> =>
  Number(
    (
      await cluster.psql(
        `SELECT count(*) FROM sluice.items i JOIN sluice.runs r ON r.rid = i.rid WHERE r.id = '${run}' AND ${where}`
      )
    ).trim()
  )

/** The lease owner id of a sluice process (`host:pid:…`): the pid is the process's, whatever its namespace. */
export const ownerLike = (p: Proc) => `%:${p.child.pid}:%`

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
