/**
 * Debian's Chromium for the browser tests, made present once by the global setup: the system's when
 * installed; else, as root on a machine with apt-get, the `chromium` package is installed (a minute or
 * two, once per machine). When neither works the setup says so in one line and the browser tests are
 * skipped, each saying the same line: a browser is the one server the suite cannot do without on a
 * workstation that is not root, and everything it checks is also checked over plain HTTP.
 *
 * `SLUICE_TEST_INSTALL=0` forbids installing anything (e.g. on a workstation run as root).
 */
import * as fs from "node:fs"
import { cannotInstall, exec, install } from "./Apt.js"

/** What the global setup provides: the executable, or why there is none. */
export type Provided = { readonly executable: string; readonly version: string } | { readonly missing: string }

declare module "vitest" {
  export interface ProvidedContext {
    chromium: Provided
  }
}

export const EXECUTABLE = "/usr/bin/chromium"
export const INSTALL = "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium"

const versionOf = async () => (await exec(EXECUTABLE, ["--version"], 30_000)).trim()

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
    await install("chromium", 900_000)
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
