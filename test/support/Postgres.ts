/**
 * A throwaway PostgreSQL server for tests: `initdb` into a temporary directory, `pg_ctl start` on a free
 * loopback port, one database per test file, `pg_ctl stop -m fast` and the directory removed at the end.
 *
 * Postgres refuses to run as root, so under root the server runs as the `postgres` user (or `nobody`)
 * and owns its directory. Host connections need a password (SCRAM), so tests exercise the password path
 * a real deployment takes. Durability is off (`fsync=off`): the data dies with the test anyway.
 */
import { execFile } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"

/** What the CI script runs; the tests fail with it when no server binaries are found. */
export const INSTALL = "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql"

/** A running server. */
export interface Postgres {
  readonly host: string
  readonly port: number
  readonly user: string
  readonly password: string
  /** e.g. "PostgreSQL 15.18". */
  readonly version: string
  /** `postgres://postgres:<password>@127.0.0.1:<port>/<database>`. */
  readonly url: (database: string) => string
  readonly createDatabase: (name: string) => Promise<void>
  /** Runs SQL as the superuser through `psql`; returns its unaligned output. */
  readonly psql: (database: string, sql: string) => Promise<string>
  readonly stop: () => Promise<void>
}

const versionOf = (dir: string) => dir.split(path.sep).at(-2)!.split(".").map(Number)

/** The directory holding `initdb` and `pg_ctl`: `SLUICE_PG_BIN`, else the newest Debian install, else the PATH. */
const findBin = (): string => {
  const given = process.env["SLUICE_PG_BIN"]
  if (given !== undefined && given.length > 0) {
    if (fs.existsSync(path.join(given, "initdb")) && fs.existsSync(path.join(given, "pg_ctl"))) return given
    throw new Error(
      `PostgreSQL is not installed: SLUICE_PG_BIN=${given} has no initdb and pg_ctl. Install them with:\n  ${INSTALL}`
    )
  }
  const root = "/usr/lib/postgresql"
  const candidates = fs.existsSync(root)
    ? fs
        .readdirSync(root)
        .map((v) => path.join(root, v, "bin"))
        .filter((d) => fs.existsSync(path.join(d, "initdb")) && fs.existsSync(path.join(d, "pg_ctl")))
        .sort((a, b) => {
          const [x, y] = [versionOf(a), versionOf(b)]
          return (y[0] ?? 0) - (x[0] ?? 0) || (y[1] ?? 0) - (x[1] ?? 0)
        })
    : []
  if (candidates[0] !== undefined) return candidates[0]
  for (const d of (process.env["PATH"] ?? "").split(path.delimiter)) {
    if (d.length > 0 && fs.existsSync(path.join(d, "initdb")) && fs.existsSync(path.join(d, "pg_ctl"))) return d
  }
  throw new Error(
    `PostgreSQL is not installed: these tests start a throwaway server and need its binaries (initdb, pg_ctl) ` +
      `under ${root}/<version>/bin or on PATH. Install them with:\n  ${INSTALL}`
  )
}

/** Postgres will not run as root: pick an unprivileged account to run it as. */
const runAs = (): { uid: number; gid: number } | undefined => {
  if (process.getuid?.() !== 0) return undefined
  const passwd = fs.readFileSync("/etc/passwd", "utf8").split("\n")
  for (const name of ["postgres", "nobody"]) {
    const fields = passwd.find((l) => l.startsWith(`${name}:`))?.split(":")
    if (fields !== undefined) return { uid: Number(fields[2]), gid: Number(fields[3]) }
  }
  throw new Error("running as root, and there is neither a postgres nor a nobody account to run PostgreSQL as")
}

const run = (
  file: string,
  args: ReadonlyArray<string>,
  options: {
    readonly user?: { uid: number; gid: number } | undefined
    readonly cwd: string
    readonly env?: NodeJS.ProcessEnv
  }
) =>
  new Promise<string>((resolve, reject) => {
    execFile(
      file,
      args,
      {
        cwd: options.cwd,
        // HOME too: under another uid, root's home is unreadable.
        env: { ...process.env, LC_ALL: "C", HOME: options.cwd, ...options.env },
        timeout: 60_000,
        ...(options.user === undefined ? {} : { uid: options.user.uid, gid: options.user.gid })
      },
      (error, stdout, stderr) =>
        error === null
          ? resolve(stdout)
          : reject(new Error(`${path.basename(file)} ${args.join(" ")} failed: ${error.message}\n${stderr}${stdout}`))
    )
  })

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() =>
        typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))
      )
    })
  })

/** Starts a fresh server; call `stop` when done. Takes about two seconds. */
export const start = async (): Promise<Postgres> => {
  const bin = findBin()
  const user = runAs()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-pg-"))
  const data = path.join(dir, "data")
  const password = `pw-${crypto.randomBytes(12).toString("hex")}`
  const pwfile = path.join(dir, "pwfile")
  fs.writeFileSync(pwfile, `${password}\n`, { mode: 0o600 })
  if (user !== undefined) {
    fs.chownSync(dir, user.uid, user.gid)
    fs.chownSync(pwfile, user.uid, user.gid)
  }
  const as = { user, cwd: dir }
  let postmaster: number | undefined
  const kill = () => {
    // Should the test process end without `stop`, the server must not outlive it, nor its files.
    if (postmaster !== undefined) {
      try {
        process.kill(postmaster, "SIGQUIT")
      } catch {
        // already gone
      }
    }
    fs.rmSync(dir, { recursive: true, force: true })
  }
  try {
    await run(
      path.join(bin, "initdb"),
      [
        "-D",
        data,
        "-U",
        "postgres",
        "--pwfile",
        pwfile,
        "--auth-local=trust",
        "--auth-host=scram-sha-256",
        "-E",
        "UTF8",
        "--locale=C",
        "--no-sync",
        "--no-instructions"
      ],
      as
    )
    fs.rmSync(pwfile)
    let port = 0
    for (let attempt = 1; ; attempt++) {
      port = await freePort()
      const settings = [
        `-k ${dir}`,
        "-h 127.0.0.1",
        `-p ${port}`,
        "-c fsync=off",
        "-c full_page_writes=off",
        "-c max_connections=200"
      ]
      try {
        await run(
          path.join(bin, "pg_ctl"),
          ["-D", data, "-l", path.join(dir, "log"), "-w", "-t", "30", "-o", settings.join(" "), "start"],
          as
        )
        break
      } catch (error) {
        // Another process may have taken the port between our probe and the server's bind.
        if (attempt >= 3)
          throw new Error(`${(error as Error).message}\n${fs.readFileSync(path.join(dir, "log"), "utf8").slice(-2000)}`)
      }
    }
    postmaster = Number(fs.readFileSync(path.join(data, "postmaster.pid"), "utf8").split("\n")[0])
    process.once("exit", kill)
    const version = (await run(path.join(bin, "pg_ctl"), ["--version"], as))
      .replace(/^pg_ctl \(PostgreSQL\) /, "PostgreSQL ")
      .trim()
    // Over the socket, where the superuser needs no password.
    const local = ["-h", dir, "-p", String(port), "-U", "postgres"]
    return {
      host: "127.0.0.1",
      port,
      user: "postgres",
      password,
      version,
      url: (database) => `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`,
      createDatabase: async (name) => {
        await run(path.join(bin, "createdb"), [...local, name], as)
      },
      psql: (database, sql) =>
        run(path.join(bin, "psql"), [...local, "-X", "-d", database, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql], as),
      stop: async () => {
        try {
          await run(path.join(bin, "pg_ctl"), ["-D", data, "-m", "fast", "-w", "stop"], as)
        } finally {
          process.removeListener("exit", kill)
          fs.rmSync(dir, { recursive: true, force: true })
        }
      }
    }
  } catch (error) {
    kill()
    throw error
  }
}
