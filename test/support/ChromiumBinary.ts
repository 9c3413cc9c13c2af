/**
 * Debian's Chromium for the browser tests, made present once by the global setup: the system's when
 * installed; else, as root on a machine with apt-get, the `chromium` package is installed (a minute or
 * two, once per machine). When neither works the setup says so in one line and the browser tests are
 * skipped, each saying the same line: a browser is the one server the suite cannot do without on a
 * workstation that is not root, and everything it checks is also checked over plain HTTP.
 *
 * `SLUICE_TEST_INSTALL=0` forbids installing anything (e.g. on a workstation run as root).
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs"

/** What the global setup provides: the executable, or why there is none. */
export type Provided = { readonly executable: string; readonly version: string } | { readonly missing: string }

declare module "vitest" {
  export interface ProvidedContext {
    chromium: Provided
  }
}

export const EXECUTABLE = "/usr/bin/chromium"
export const INSTALL = "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium"

const exec = (file: string, args: ReadonlyArray<string>, timeoutMs: number) =>
  new Promise<string>((resolve, reject) =>
    execFile(
      file,
      args,
      {
        timeout: timeoutMs,
        maxBuffer: 64 * 1024 * 1024,
        env: { ...process.env, DEBIAN_FRONTEND: "noninteractive", LC_ALL: "C" }
      },
      (error, stdout, stderr) => {
        if (error === null) return resolve(stdout)
        // apt's last words say what went wrong.
        const last =
          `${stdout}\n${stderr}`
            .trim()
            .split("\n")
            .filter((l) => l.trim().length > 0)
            .at(-1) ?? ""
        reject(new Error(`${file} ${args.at(-1)} failed (${error.code ?? error.signal}): ${last.trim()}`))
      }
    )
  )

const versionOf = async () => (await exec(EXECUTABLE, ["--version"], 30_000)).trim()

/** Why installing is not possible here, or undefined when it is. */
const cannotInstall = (): string | undefined => {
  if (process.env["SLUICE_TEST_INSTALL"] === "0") return "SLUICE_TEST_INSTALL=0 forbids installing it"
  if (process.getuid?.() !== 0) return "only root can install it"
  if (!fs.existsSync("/usr/bin/apt-get")) return "this system has no apt-get"
  return undefined
}

/** Finds or installs Chromium, telling `say` what it does in one line. Never throws. */
export const provision = async (say: (text: string, end?: boolean) => void): Promise<Provided> => {
  if (fs.existsSync(EXECUTABLE)) {
    const version = await versionOf().catch(() => "?")
    say(`${version}, the system's (${EXECUTABLE})`)
    return { executable: EXECUTABLE, version }
  }
  const why = cannotInstall()
  if (why !== undefined) {
    const missing = `Chromium is not installed and ${why}: the browser tests are skipped. Install it with: ${INSTALL}`
    say(missing)
    return { missing }
  }
  say("Chromium is not installed: installing chromium with apt-get (once, a minute or two) ... ", false)
  const started = Date.now()
  try {
    // Another test run may hold apt's lock: wait for it rather than fail.
    const lock = ["-o", "DPkg::Lock::Timeout=300"]
    await exec("/usr/bin/apt-get", [...lock, "-q", "update"], 300_000)
    await exec("/usr/bin/apt-get", [...lock, "-q", "-y", "install", "chromium"], 900_000)
    if (!fs.existsSync(EXECUTABLE)) throw new Error(`apt-get succeeded, yet ${EXECUTABLE} is not there`)
    const version = await versionOf().catch(() => "?")
    say(`done in ${((Date.now() - started) / 1000).toFixed(1)} s: ${version} (${EXECUTABLE})`)
    return { executable: EXECUTABLE, version }
  } catch (error) {
    const missing = `installing Chromium failed: ${(error as Error).message}. The browser tests are skipped. Install it with: ${INSTALL}`
    say(`failed: ${(error as Error).message}. The browser tests are skipped. Install it with: ${INSTALL}`)
    return { missing }
  }
}
