/**
 * Engine overhead through the durable queue: `sluice run --processor echo` over N items (fetch,
 * record, claim, process, complete, ordered output), beside the ceiling measured in the same run: a
 * bare better-sqlite3 loop that claims 256 rows with one `UPDATE … RETURNING` and completes them in
 * one transaction, nothing else.
 *
 * Each size runs twice: as sluice starts by default, and with SLUICE_LOW_MEMORY=1. For scale, the
 * seeds' way runs on the same files too: p-limit, p-queue and Bottleneck over a no-op step, results
 * held in memory and written in order at the end, nothing durable (bench/queue/peer.ts).
 *
 * Usage: tsx bench/queue.ts [N…]   (default: 100000 1000000; medians of 3 runs at 100k)
 */
import Database from "better-sqlite3"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const BIN = path.resolve(import.meta.dirname, "../dist/bin.js")

const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const writeItems = (file: string, n: number) => {
  const fd = fs.openSync(file, "w")
  let buf = ""
  for (let i = 0; i < n; i++) {
    buf += `{"id":"k${i}","text":"item ${i} with a little text to carry"}\n`
    if (buf.length > 1 << 20) {
      fs.writeSync(fd, buf)
      buf = ""
    }
  }
  fs.writeSync(fd, buf)
  fs.closeSync(fd)
}

/** Peak resident set of a child, read from /proc while it runs (VmHWM is the high-water mark). */
const peakRss = (pid: number, into: { kb: number }) =>
  setInterval(() => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))
      if (m) into.kb = Math.max(into.kb, Number(m[1]))
    } catch {
      // the child has exited
    }
  }, 20)

interface SluiceRun {
  readonly wallMs: number
  readonly engineMs: number
  readonly rssMb: number
}

const runSluice = (dir: string, n: number, lowMemory: boolean): Promise<SluiceRun> =>
  new Promise((resolve, reject) => {
    const input = path.join(dir, `items-${n}.jsonl`)
    if (!fs.existsSync(input)) writeItems(input, n)
    const db = path.join(dir, `bench-${n}-${Date.now()}.db`)
    const out = path.join(dir, `out-${n}.jsonl`)
    const started = performance.now()
    const child = spawn(process.execPath, [BIN, "run", input, "--processor", "echo", "--db", db, "--out", out], {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, SLUICE_LOG_LEVEL: "error", SLUICE_LOW_MEMORY: lowMemory ? "1" : "0" }
    })
    const rss = { kb: 0 }
    const timer = peakRss(child.pid!, rss)
    let stderr = ""
    child.stderr.on("data", (d) => (stderr += d))
    child.on("exit", (code) => {
      clearInterval(timer)
      const wallMs = performance.now() - started
      for (const f of [db, `${db}-wal`, `${db}-shm`]) fs.rmSync(f, { force: true })
      const m = /finished in ([\d.]+) s: (\d+) completed/.exec(stderr)
      if (code !== 0 || m === null || Number(m[2]) !== n)
        return reject(new Error(`sluice run failed (${code}): ${stderr}`))
      const lines = fs.readFileSync(out, "utf8").split("\n").length - 1
      if (lines !== n) return reject(new Error(`expected ${n} output lines, found ${lines}`))
      resolve({ wallMs, engineMs: Number(m[1]) * 1000, rssMb: rss.kb / 1024 })
    })
  })

const PEER = path.resolve(import.meta.dirname, "queue/peer.ts")

/** One peer over the same file, in its own process (its RSS includes tsx's loader, about 20 MB). */
const runPeer = (dir: string, n: number, lib: string): Promise<SluiceRun> =>
  new Promise((resolve, reject) => {
    const input = path.join(dir, `items-${n}.jsonl`)
    if (!fs.existsSync(input)) writeItems(input, n)
    const out = path.join(dir, `peer-${n}.jsonl`)
    const started = performance.now()
    const child = spawn(process.execPath, ["--import", "tsx", PEER, lib, input, out], {
      stdio: ["ignore", "pipe", "pipe"]
    })
    const rss = { kb: 0 }
    const timer = peakRss(child.pid!, rss)
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => (stdout += d))
    child.stderr.on("data", (d) => (stderr += d))
    child.on("exit", (code) => {
      clearInterval(timer)
      const wallMs = performance.now() - started
      const m = /\{"items":(\d+),"ms":([\d.]+)\}/.exec(stdout)
      if (code !== 0 || m === null || Number(m[1]) !== n) return reject(new Error(`${lib} failed (${code}): ${stderr}`))
      resolve({ wallMs, engineMs: Number(m[2]), rssMb: rss.kb / 1024 })
    })
  })

/** The ceiling: a bare claim/complete loop, measured here, now, on the same disk. */
const ceiling = (dir: string, n: number) => {
  const file = path.join(dir, `ceiling-${Date.now()}.db`)
  const db = new Database(file)
  db.pragma("journal_mode = WAL")
  db.pragma("synchronous = NORMAL")
  db.exec(
    "CREATE TABLE jobs (id INTEGER PRIMARY KEY, payload TEXT, status INTEGER NOT NULL DEFAULT 0, result TEXT); CREATE INDEX jobs_pending ON jobs (id) WHERE status = 0"
  )
  const insert = db.prepare("INSERT INTO jobs (payload) VALUES (?)")
  db.transaction(() => {
    for (let i = 0; i < n; i++) insert.run(`{"id":"k${i}"}`)
  })()
  const claim = db.prepare(
    "UPDATE jobs SET status = 1 WHERE id IN (SELECT id FROM jobs WHERE status = 0 ORDER BY id LIMIT 256) RETURNING id, payload"
  )
  const complete = db.prepare("UPDATE jobs SET status = 2, result = ? WHERE id = ?")
  const done = db.transaction((rows: Array<{ id: number; payload: string }>) => {
    for (const r of rows) complete.run(r.payload, r.id)
  })
  const started = performance.now()
  let moved = 0
  for (;;) {
    const rows = claim.all() as Array<{ id: number; payload: string }>
    if (rows.length === 0) break
    done(rows)
    moved += rows.length
  }
  const ms = performance.now() - started
  db.close()
  for (const f of [file, `${file}-wal`, `${file}-shm`]) fs.rmSync(f, { force: true })
  return (moved / ms) * 1000
}

const main = async () => {
  if (!fs.existsSync(BIN)) throw new Error("build first: npm run build")
  const sizes = process.argv
    .slice(2)
    .map(Number)
    .filter((n) => n > 0)
  const ns = sizes.length > 0 ? sizes : [100_000, 1_000_000]
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-bench-queue-"))
  try {
    const ceil = median([ceiling(dir, 100_000), ceiling(dir, 100_000), ceiling(dir, 100_000)])
    console.log(
      `ceiling: bare better-sqlite3 claim(256)/complete loop: ${Math.round(ceil).toLocaleString("en")} rows/s (median of 3, 100k rows)`
    )
    for (const lowMemory of [false, true]) {
      for (const n of ns) {
        const runs: Array<SluiceRun> = []
        for (let i = 0; i < (n <= 100_000 ? 3 : 1); i++) runs.push(await runSluice(dir, n, lowMemory))
        report(`sluice run --processor echo${lowMemory ? " (SLUICE_LOW_MEMORY=1)" : ""}`, n, runs, ceil, true)
      }
    }
    // Bottleneck moves about 400 jobs a second here whatever the queue's length (10k, 30k and 100k
    // alike), so it runs on 10,000 items: 100k would take four minutes, 1M most of an hour.
    const peers: ReadonlyArray<[string, ReadonlyArray<number>]> = [
      ["p-limit", ns],
      ["p-queue", ns],
      ["bottleneck", [10_000]]
    ]
    for (const [lib, sizes] of peers) {
      for (const n of sizes) {
        const runs: Array<SluiceRun> = []
        for (let i = 0; i < (n <= 100_000 ? 3 : 1); i++) runs.push(await runPeer(dir, n, lib))
        report(`${lib} (in memory, not durable)`, n, runs, ceil, false)
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

const report = (name: string, n: number, runs: ReadonlyArray<SluiceRun>, ceil: number, goals: boolean) => {
  const engine = median(runs.map((r) => (n / r.engineMs) * 1000))
  const wall = median(runs.map((r) => (n / r.wallMs) * 1000))
  const rss = Math.max(...runs.map((r) => r.rssMb))
  console.log(
    `${name}, ${n.toLocaleString("en")} items (${runs.length === 1 ? "1 run" : `median of ${runs.length}`}): ` +
      `${Math.round(engine).toLocaleString("en")} items/s ${goals ? "in the engine" : "in the script"} (${Math.round(wall).toLocaleString("en")}/s wall incl. process start), ` +
      `${(engine / ceil).toFixed(2)} × ceiling${goals ? "; goal ≥ 50,000/s" : ""}. Peak RSS ${rss.toFixed(0)} MB (max of runs)${goals ? "; goal ≤ 160 MB" : ""}.`
  )
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
