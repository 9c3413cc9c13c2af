/**
 * Debian's Chromium for the browser tests, driven by `playwright-core` (never `playwright install`,
 * which downloads a browser build and cannot here). Provisioned the way the suite provisions its other
 * servers: as root, installed with apt (one line says so); otherwise the tests fail with one line
 * saying how to install it.
 */
import { execSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { chromium, type BrowserContext } from "playwright-core"

export const EXECUTABLE = "/usr/bin/chromium"
export const INSTALL = "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium"

/** The flags the tests run Chromium with: headless, no sandbox (root), and nothing that calls out. */
export const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync"
]

/** Makes sure Chromium is there: installs it with apt as root, else throws one line saying how. */
export const ensure = (): void => {
  if (fs.existsSync(EXECUTABLE)) return
  if (process.getuid?.() !== 0) {
    throw new Error(
      `Chromium is not installed (${EXECUTABLE}); the browser tests need it. Install it as root: ${INSTALL}`
    )
  }
  process.stderr.write(`browser tests: installing Chromium: ${INSTALL}\n`)
  execSync(INSTALL, { stdio: ["ignore", "ignore", "inherit"], timeout: 15 * 60_000, shell: "/bin/bash" })
  if (!fs.existsSync(EXECUTABLE)) throw new Error(`Chromium is still not at ${EXECUTABLE} after: ${INSTALL}`)
}

/**
 * A fresh browser (its own profile directory, removed on close). Playwright takes the profile directory
 * as `launchPersistentContext`'s first argument and passes it as `--user-data-dir`.
 */
export const launch = async (): Promise<{ readonly context: BrowserContext; readonly close: () => Promise<void> }> => {
  ensure()
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-chromium-"))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: EXECUTABLE,
    headless: true,
    args: ARGS,
    acceptDownloads: true,
    viewport: { width: 1100, height: 900 },
    timeout: 60_000
  })
  return {
    context,
    close: async () => {
      await context.close().catch(() => undefined)
      fs.rmSync(profile, { recursive: true, force: true })
    }
  }
}
