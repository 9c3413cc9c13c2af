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
import * as Reactivity from "@effect/experimental/Reactivity"
import { PgClient } from "@effect/sql-pg"
import { Effect, Redacted } from "effect"
import { runAs } from "./PostgresBinaries.js"

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
  /**
   * Runs SQL as the superuser; returns what `psql -At` prints for it: each row's values joined by `|`, one
   * line per row, for every statement that returns rows. (The npm binaries have no `psql`, so a client.)
   */
  readonly psql: (database: string, sql: string) => Promise<string>
  readonly stop: () => Promise<void>
}

/** The binaries the global setup chose (`test/support/PostgresBinaries.ts`), or why there are none. */
export const findBin = async (): Promise<string> => {
  // Imported here, not at the top: vitest cannot be imported outside a test run, and the benchmarks
  // (bench/fleet.ts) start servers too, passing the binaries they provisioned themselves.
  const { inject } = await import("vitest")
  const provided = inject("postgres")
  if (provided === undefined)
    throw new Error("no PostgreSQL binaries provided: run the tests through vitest's global setup")
  if ("missing" in provided) throw new Error(provided.missing)
  return provided.bin
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

/** psql's unaligned text of a value. */
const cell = (v: unknown): string =>
  v === null || v === undefined
    ? ""
    : typeof v === "boolean"
      ? v
        ? "t"
        : "f"
      : v instanceof Date
        ? v.toISOString()
        : typeof v === "object"
          ? JSON.stringify(v)
          : String(v)

/** One connection for one query string (which may hold several statements): `psql -At`'s output. */
export const query = (url: string, sql: string) =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const client = yield* PgClient.make({ url: Redacted.make(url), maxConnections: 1 })
        const result: ReadonlyArray<unknown> = yield* client.unsafe(sql)
        // Several statements give one array of rows each; one statement gives its rows.
        const sets = (result.length > 0 && Array.isArray(result[0]) ? result : [result]) as ReadonlyArray<
          ReadonlyArray<Record<string, unknown>>
        >
        return sets.flatMap((rows) => rows.map((row) => `${Object.values(row).map(cell).join("|")}\n`)).join("")
      }).pipe(Effect.provide(Reactivity.layer))
    )
  )

/** Starts a fresh server; call `stop` when done. Takes about two seconds. */
export const start = async (binaries?: string): Promise<Postgres> => {
  const bin = binaries ?? (await findBin())
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
    const url = (database: string) =>
      `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`
    return {
      host: "127.0.0.1",
      port,
      user: "postgres",
      password,
      version,
      url,
      createDatabase: async (name) => {
        await query(url("postgres"), `CREATE DATABASE "${name.replace(/"/g, '""')}"`)
      },
      psql: (database, sql) => query(url(database), sql),
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
