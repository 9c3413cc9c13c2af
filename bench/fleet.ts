/**
 * A fleet on one database against one upstream (issue 10, "one budget for the fleet"): `sluice run`
 * plus two `sluice worker`s, each told the upstream's whole limit (`--rpm 3000`), against
 * `sluice simulate --rpm 3000` (request-bound: no TPM limit; 300 ms median latency), on SQLite and
 * on PostgreSQL. Every process is the built CLI (`dist/bin.js`) in its own process, as a user runs it.
 *
 * The run starts first (it records the items); the workers start when the upstream sees its first
 * request, so they find work rather than an empty queue. Figures, per database:
 *   - makespan: from the first request reaching the upstream to the last item finished (the store's
 *     `finished_at`), and wall: from starting `sluice run` to the last process exiting;
 *   - efficiency: the bound (N / RPM) over the makespan; goal ≥ 0.95;
 *   - 429s: what the simulator answered 429, for the whole fleet; goal ≤ 3;
 *   - the share of items each process finished.
 * With `--baseline`, each database also runs once with `SLUICE_FLEET_BUDGET=off` (each process on its
 * own budget, as before the fleet budget) for comparison.
 *
 * Usage: tsx bench/fleet.ts [--quick] [--baseline] [--only sqlite|postgres]   (about 3 minutes; 5 with --baseline)
 *   --quick  N = 600 instead of 1,500
 */
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Reactivity from "@effect/experimental/Reactivity"
import { spawn, spawnSync, type ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { Effect } from "effect"
import * as Postgres from "../test/support/Postgres.js"
import { provision } from "../test/support/PostgresBinaries.js"

const ROOT = path.resolve(import.meta.dirname, "..")
const BIN = path.join(ROOT, "dist/bin.js")
const RPM = 3_000
const CONCURRENCY = 64
const LATENCY_MS = 300

const args = process.argv.slice(2)
const quick = args.includes("--quick")
const baseline = args.includes("--baseline")
const onlyAt = args.indexOf("--only")
const only = onlyAt >= 0 ? args[onlyAt + 1] : undefined
const N = quick ? 600 : 1_500
const BOUND_MS = (N / RPM) * 60_000

const loadavg = () => fs.readFileSync("/proc/loadavg", "utf8").trim().split(" ").slice(0, 3).join(" ")
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = net.createServer()
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })

interface Proc {
  readonly name: string
  readonly child: ChildProcess
  readonly exited: Promise<{ code: number | null; at: number; stderr: string }>
}

const start = (name: string, argv: ReadonlyArray<string>, env: Record<string, string> = {}): Proc => {
  const child = spawn(process.execPath, [BIN, ...argv], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, NO_COLOR: "1", OPENAI_API_KEY: "sk-bench-fleet", ...env }
  })
  let stderr = ""
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()))
  const exited = new Promise<{ code: number | null; at: number; stderr: string }>((resolve) =>
    child.once("exit", (code) => resolve({ code, at: Date.now(), stderr }))
  )
  return { name, child, exited }
}

const simStats = (port: number) =>
  fetch(`http://127.0.0.1:${port}/_sim/stats`).then((r) => r.json() as Promise<Record<string, number>>)

const up = (port: number) =>
  simStats(port).then(
    () => true,
    () => false
  )

interface Figures {
  readonly makespanMs: number
  readonly wallMs: number
  readonly rateLimited: number
  readonly received: number
  readonly completed: number
  /** Items finished by each process (run, worker 1, worker 2). */
  readonly shares: ReadonlyArray<number>
  /** The most requests the upstream admitted in any one second (its limit allows 50, plus the rate). */
  readonly peakPerSecond: number
  /** When 429s were seen (seconds after the first request; sampled every 250 ms). */
  readonly rateLimitedAt: ReadonlyArray<string>
}

/** Per-process item counts and the last finish time, read from the store after the fleet exited. */
type Reader = () => Promise<{ completed: number; lastFinishedAt: number; firstStartedAt: number }>

const sqliteReader =
  (file: string): Reader =>
  () =>
    Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const sql = yield* SqliteClient.make({ filename: file, readonly: true })
          const [row] = yield* sql<{ n: number; last: number; first: number }>`
            SELECT count(*) AS n, max(finished_at) AS last, min(started_at) AS first FROM items WHERE status = 'completed'`
          return { completed: row?.n ?? 0, lastFinishedAt: row?.last ?? 0, firstStartedAt: row?.first ?? 0 }
        })
      ).pipe(Effect.provide(Reactivity.layer))
    )

const pgReader =
  (server: Postgres.Postgres, database: string): Reader =>
  async () => {
    const out = await server.psql(
      database,
      "SELECT count(*), max(finished_at), min(started_at) FROM sluice.items WHERE status = 'completed'"
    )
    const [n, last, first] = out.trim().split("|").map(Number)
    return { completed: n ?? 0, lastFinishedAt: last ?? 0, firstStartedAt: first ?? 0 }
  }

const fleetRun = async (
  dir: string,
  db: string,
  read: Reader,
  env: Record<string, string>,
  label: string
): Promise<Figures> => {
  const port = await freePort()
  const simLog = path.join(dir, `${label}-sim.jsonl`)
  const sim = start("simulate", [
    "simulate",
    "--port",
    String(port),
    "--rpm",
    String(RPM),
    "--latency-ms",
    String(LATENCY_MS),
    "--seed",
    "1",
    "--log",
    simLog
  ])
  try {
    for (let i = 0; !(await up(port)); i++) {
      if (i > 300) throw new Error("the simulator did not start")
      await sleep(50)
    }
    const input = path.join(dir, `${label}-items.jsonl`)
    fs.writeFileSync(
      input,
      Array.from({ length: N }, (_, i) =>
        JSON.stringify({ id: `k${i}`, text: `item ${i}: ${"lorem ipsum ".repeat(30)}` })
      )
        .join("\n")
        .concat("\n")
    )
    const upstream = [
      "--base-url",
      `http://127.0.0.1:${port}/v1`,
      "--rpm",
      String(RPM),
      "--concurrency",
      String(CONCURRENCY)
    ]
    const started = Date.now()
    const run = start(
      "run",
      ["run", input, "--db", db, "--out", path.join(dir, `${label}-out.jsonl`), ...upstream],
      env
    )
    // The workers start once the run has recorded the items and called the upstream.
    while ((await simStats(port)).received === 0) {
      if (run.child.exitCode !== null) break
      await sleep(20)
    }
    const workers = [1, 2].map((i) => start(`worker ${i}`, ["worker", "--db", db, ...upstream], env))
    const rateLimitedAt: Array<string> = []
    let seen = 0
    let sampling = true
    const sampler = (async () => {
      while (sampling) {
        const n = (await simStats(port))["rateLimited"] ?? 0
        if (n > seen) rateLimitedAt.push(`${((Date.now() - started) / 1000).toFixed(1)} s ×${n - seen}`)
        seen = n
        await sleep(250)
      }
    })()
    const exits = await Promise.all([run, ...workers].map((p) => p.exited))
    sampling = false
    await sampler
    for (const [i, e] of exits.entries()) {
      if (e.code !== 0) throw new Error(`${[run, ...workers][i]!.name} exited ${e.code}: ${e.stderr.slice(-2000)}`)
    }
    const wallMs = Math.max(...exits.map((e) => e.at)) - started
    const stats = await simStats(port)
    const arrivals = fs
      .readFileSync(simLog, "utf8")
      .split("\n")
      .filter((l) => l.length > 0)
      .map((l) => (JSON.parse(l) as { arrivedAt: number }).arrivedAt)
      .sort((a, b) => a - b)
    const firstArrival = arrivals[0] ?? NaN
    let peakPerSecond = 0
    for (let i = 0, j = 0; j < arrivals.length; j++) {
      while (arrivals[j]! - arrivals[i]! >= 1000) i++
      peakPerSecond = Math.max(peakPerSecond, j - i + 1)
    }
    const store = await read()
    const byWorkers = exits.slice(1).map((e) => Number(/finished (\d+) item/.exec(e.stderr)?.[1] ?? NaN))
    const shares = [store.completed - byWorkers.reduce((a, b) => a + b, 0), ...byWorkers]
    return {
      makespanMs: store.lastFinishedAt - firstArrival,
      wallMs,
      rateLimited: stats["rateLimited"] ?? NaN,
      received: stats["received"] ?? NaN,
      completed: store.completed,
      shares,
      peakPerSecond,
      rateLimitedAt
    }
  } finally {
    sim.child.kill("SIGTERM")
    await sim.exited
  }
}

const report = (name: string, f: Figures) => {
  const efficiency = BOUND_MS / f.makespanMs
  console.log(
    `${name.padEnd(34)} makespan ${secs(f.makespanMs).padStart(8)}  efficiency ${efficiency.toFixed(3)} ${efficiency >= 0.95 ? "(goal ≥ 0.95 met)" : "(goal ≥ 0.95 MISSED)"}` +
      `  429s ${String(f.rateLimited).padStart(5)} ${f.rateLimited <= 3 ? "(goal ≤ 3 met)" : "(goal ≤ 3 MISSED)"}` +
      `  requests ${f.received}  completed ${f.completed}/${N}  wall ${secs(f.wallMs)}` +
      `  finished by run/worker/worker: ${f.shares.join("/")}  peak ${f.peakPerSecond} requests in one second` +
      (f.rateLimitedAt.length > 0 ? `  429s at ${f.rateLimitedAt.slice(0, 8).join(", ")}` : "")
  )
}

const main = async () => {
  if (!fs.existsSync(BIN)) {
    console.log("building dist/ (npm run build)…")
    const b = spawnSync("npm", ["run", "build"], { cwd: ROOT, stdio: "inherit" })
    if (b.status !== 0) process.exit(b.status ?? 1)
  }
  console.log(
    `fleet bench: sluice run + 2 sluice workers, each --rpm ${RPM} --concurrency ${CONCURRENCY}, against sluice simulate ` +
      `--rpm ${RPM} (no TPM limit, ${LATENCY_MS} ms median latency); N = ${N}, bound ${secs(BOUND_MS)}; load average ${loadavg()}`
  )
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-bench-fleet-"))
  const modes: ReadonlyArray<readonly [string, Record<string, string>]> = baseline
    ? [
        ["fleet budget", {}],
        ["each on its own (SLUICE_FLEET_BUDGET=off)", { SLUICE_FLEET_BUDGET: "off" }]
      ]
    : [["fleet budget", {}]]
  try {
    if (only === undefined || only === "sqlite") {
      for (const [mode, env] of modes) {
        const label = `sqlite-${env["SLUICE_FLEET_BUDGET"] ?? "on"}`
        const file = path.join(dir, `${label}.db`)
        report(`SQLite, ${mode}`, await fleetRun(dir, file, sqliteReader(file), env, label))
      }
    }
    if (only === undefined || only === "postgres") {
      const binaries = await provision()
      if ("missing" in binaries) throw new Error(binaries.missing)
      const server = await Postgres.start(binaries.bin)
      try {
        for (const [mode, env] of modes) {
          const label = `pg_${env["SLUICE_FLEET_BUDGET"] ?? "on"}`
          await server.createDatabase(label)
          report(`PostgreSQL, ${mode}`, await fleetRun(dir, server.url(label), pgReader(server, label), env, label))
        }
      } finally {
        await server.stop()
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
  console.log(`load average at the end ${loadavg()}`)
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
