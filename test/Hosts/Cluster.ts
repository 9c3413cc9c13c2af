/**
 * The machines of the multi-host tests, on the namespaces of `Netns.ts`:
 * - `db`: PostgreSQL on its loopback, reached only through a proxy on 10.213.1.10:5432 that delays
 *   every chunk by 1 ms each way (2 ms round trip), as a database in the next rack would;
 * - `api`: `sluice simulate` on its loopback, exposed on 10.213.2.10:80;
 * - `ctl`: where `sluice run` records the run and writes the ordered results;
 * - `w1`…`w3`: `sluice worker` hosts, with a leg on each network.
 * Files (inputs, outputs, the simulator's log, the database's directory) are shared: namespaces
 * separate the network, not the file system. The test reads the database through its Unix socket.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { BIN, childEnv } from "../support/Cli.js"
import { findBin, query } from "../support/Postgres.js"
import * as Netns from "./Netns.js"

const ROOT = path.resolve(import.meta.dirname, "../..")
const PROXY = path.join(import.meta.dirname, "DelayProxy.ts")
const PG_PORT = 5433
export const DB_DELAY_MS = 1

/** A process on a host. */
export interface Proc {
  readonly host: Netns.Host
  readonly child: ChildProcess
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  readonly stdout: () => string
  readonly stderr: () => string
}

/** Starts `file args` inside a host's namespace. */
export const spawnIn = (
  host: Netns.Host,
  file: string,
  args: ReadonlyArray<string>,
  env: Record<string, string> = {}
): Proc => {
  // `ip netns exec` execs the command itself: the child's pid is the command's.
  const child = spawn("ip", ["netns", "exec", host.ns, file, ...args], {
    cwd: ROOT,
    env: childEnv(env),
    stdio: ["ignore", "pipe", "pipe"]
  })
  let stdout = ""
  let stderr = ""
  child.stdout!.on("data", (d) => (stdout += d))
  child.stderr!.on("data", (d) => (stderr += d))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal }))
  )
  return { host, child, exited, stdout: () => stdout, stderr: () => stderr }
}

/** `sluice …` on a host. */
export const sluice = (host: Netns.Host, args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  spawnIn(host, process.execPath, [BIN, ...args], env)

/** Polls `check` every `everyMs` until it holds; fails naming `what` after `ms`. */
export const until = async (check: () => Promise<boolean> | boolean, ms: number, what: string, everyMs = 250) => {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

/** Waits for a process to print `text` on stdout. */
const ready = (p: Proc, text: string, what: string) =>
  until(
    () => {
      if (p.child.exitCode !== null) throw new Error(`${what} exited: ${p.stderr()}`)
      return p.stdout().includes(text)
    },
    20_000,
    what,
    50
  )

const postgresUser = (): { uid: number; gid: number } => {
  const line = fs
    .readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith("postgres:") || l.startsWith("nobody:"))
  if (line === undefined) throw new Error("neither a postgres nor a nobody account to run PostgreSQL as")
  const f = line.split(":")
  return { uid: Number(f[2]), gid: Number(f[3]) }
}

const runAs = (
  user: { uid: number; gid: number },
  file: string,
  args: ReadonlyArray<string>,
  cwd: string
): Promise<string> =>
  new Promise((resolve, reject) =>
    execFile(
      file,
      args,
      { cwd, uid: user.uid, gid: user.gid, env: { ...process.env, HOME: cwd, LC_ALL: "C" }, timeout: 60_000 },
      (error, stdout, stderr) =>
        error === null ? resolve(stdout) : reject(new Error(`${path.basename(file)}: ${stderr || error.message}`))
    )
  )

export interface Cluster {
  readonly topology: Netns.Topology
  readonly hosts: Record<"db" | "api" | "ctl" | "w1" | "w2" | "w3", Netns.Host>
  /** A directory shared by every host, removed at the end. */
  readonly dir: string
  /** What every sluice process is given as `--db`: through the delaying proxy. */
  readonly dbUrl: string
  /** The upstream, as the hosts reach it. */
  readonly baseUrl: string
  /** Runs SQL on the `sluice` database through its socket; unaligned rows. */
  readonly psql: (sql: string) => Promise<string>
  readonly stopDb: () => Promise<void>
  readonly startDb: () => Promise<void>
  /** (Re)starts the simulator with these flags, its log in `log`. */
  readonly simulate: (flags: ReadonlyArray<string>, log: string) => Promise<void>
  /** GETs a URL from inside a host; the body. */
  readonly fetchIn: (host: Netns.Host, url: string) => Promise<string>
  readonly remove: () => Promise<void>
}

/** Builds every host and starts the database and its proxy. Removes what it made if it fails. */
export const start = async (): Promise<Cluster> => {
  await Netns.sweep()
  // And the directories of runs that were killed before they could remove them (their pid is gone).
  for (const name of fs.readdirSync(os.tmpdir())) {
    const pid = Number(/^sluice-hosts-(\d+)-/.exec(name)?.[1])
    if (Number.isFinite(pid) && pid !== process.pid && !Netns.alive(pid))
      fs.rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true })
  }
  // The binaries every Postgres test uses: the system's, else npm's (test/globalSetup.ts provisions them).
  const bin = await findBin()
  const user = postgresUser()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `sluice-hosts-${process.pid}-`))
  fs.chmodSync(dir, 0o755)
  const topology = await Netns.create([
    { name: "db", octet: 10, db: true, api: false },
    { name: "api", octet: 10, db: false, api: true },
    { name: "ctl", octet: 20, db: true, api: true },
    { name: "w1", octet: 31, db: true, api: true },
    { name: "w2", octet: 32, db: true, api: true },
    { name: "w3", octet: 33, db: true, api: true }
  ])
  const hosts = topology.hosts as Cluster["hosts"]
  let simulator: Array<Proc> = []
  let proxy: Proc | undefined
  let halt = async () => {}
  const remove = async () => {
    await halt().catch(() => undefined)
    await topology.remove()
    fs.rmSync(dir, { recursive: true, force: true })
  }
  try {
    const pgDir = path.join(dir, "pg")
    fs.mkdirSync(pgDir)
    fs.chownSync(pgDir, user.uid, user.gid)
    const data = path.join(pgDir, "data")
    const password = `pw-${crypto.randomBytes(12).toString("hex")}`
    const pwfile = path.join(pgDir, "pwfile")
    fs.writeFileSync(pwfile, `${password}\n`, { mode: 0o600 })
    fs.chownSync(pwfile, user.uid, user.gid)
    await runAs(
      user,
      path.join(bin, "initdb"),
      ["-D", data, "-U", "postgres", "--pwfile", pwfile, "--auth-local=trust", "--auth-host=scram-sha-256"].concat([
        "-E",
        "UTF8",
        "--locale=C",
        "--no-sync"
      ]),
      pgDir
    )
    const settings = [
      `-k ${pgDir}`,
      "-h 127.0.0.1",
      `-p ${PG_PORT}`,
      "-c fsync=off",
      "-c full_page_writes=off",
      "-c synchronous_commit=off",
      "-c max_connections=300"
    ].join(" ")
    // pg_ctl must start the server inside the database host, as the postgres user: setpriv drops root
    // after `ip netns exec` has entered the namespace.
    const pgCtl = (...args: Array<string>) =>
      Netns.sh(
        "ip",
        [
          "netns",
          "exec",
          hosts.db.ns,
          "setpriv",
          `--reuid=${user.uid}`,
          `--regid=${user.gid}`,
          "--clear-groups",
          path.join(bin, "pg_ctl"),
          ...args
        ],
        60_000
      )
    const startDb = async () => {
      await pgCtl("-D", data, "-l", path.join(pgDir, "log"), "-w", "-t", "30", "-o", settings, "start")
    }
    const stopDb = async () => {
      await pgCtl("-D", data, "-m", "fast", "-w", "stop")
    }
    halt = () => pgCtl("-D", data, "-m", "immediate", "-w", "stop").then(() => undefined)
    await startDb()
    // Through the server's socket in its directory (sockets are files: no network namespace between), with
    // a client rather than psql, which npm's PostgreSQL binaries do not include.
    const psqlOn = (database: string, sql: string) =>
      query(`postgresql://postgres@localhost:${PG_PORT}/${database}?host=${encodeURIComponent(pgDir)}`, sql)
    await psqlOn("postgres", "CREATE DATABASE sluice")

    proxy = spawnIn(hosts.db, process.execPath, [
      "--import",
      "tsx",
      PROXY,
      `${hosts.db.dbAddress}:5432`,
      `127.0.0.1:${PG_PORT}`,
      String(DB_DELAY_MS)
    ])
    await ready(proxy, "ready", "the database proxy")

    const simulate = async (flags: ReadonlyArray<string>, log: string) => {
      for (const p of simulator) {
        p.child.kill("SIGKILL")
        await p.exited
      }
      const sim = sluice(hosts.api, ["simulate", "--port", "8080", "--log", log, ...flags])
      const forward = spawnIn(hosts.api, process.execPath, [
        "--import",
        "tsx",
        PROXY,
        `${hosts.api.apiAddress}:80`,
        "127.0.0.1:8080",
        "0"
      ])
      simulator = [sim, forward]
      await ready(forward, "ready", "the simulator's forwarder")
      await until(
        () =>
          fetchIn(hosts.api, "http://127.0.0.1:8080/_sim/stats").then(
            () => true,
            () => false
          ),
        20_000,
        "the simulator"
      )
    }
    const fetchIn = (host: Netns.Host, url: string) =>
      Netns.sh("ip", [
        "netns",
        "exec",
        host.ns,
        process.execPath,
        "-e",
        `fetch(${JSON.stringify(url)}).then(async (r) => { if (!r.ok) process.exit(1); process.stdout.write(await r.text()) }, () => process.exit(1))`
      ])

    return {
      topology,
      hosts,
      dir,
      dbUrl: `postgres://postgres:${password}@${hosts.db.dbAddress}:5432/sluice`,
      baseUrl: `http://${hosts.api.apiAddress}/v1`,
      psql: (sql) => psqlOn("sluice", sql),
      stopDb,
      startDb,
      simulate,
      fetchIn,
      remove
    }
  } catch (error) {
    await remove()
    throw error
  }
}
