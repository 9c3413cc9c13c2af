/**
 * Debian's Chromium (provisioned by the global setup: `ChromiumBinary.ts`) driven by `playwright-core`
 * (never `playwright install`, which downloads a browser build and cannot here).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { chromium, type BrowserContext } from "playwright-core"

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

/**
 * A fresh browser (its own profile directory, removed on close). Playwright takes the profile directory
 * as `launchPersistentContext`'s first argument and passes it as `--user-data-dir`.
 */
export const launch = async (
  executable: string
): Promise<{ readonly context: BrowserContext; readonly close: () => Promise<void> }> => {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-chromium-"))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: executable,
    headless: true,
    args: ARGS,
    acceptDownloads: true,
    viewport: { width: 1100, height: 900 },
    // A loaded two-core machine (the whole suite beside it) can take tens of seconds to start it.
    timeout: 120_000
  })
  return {
    context,
    close: async () => {
      await context.close().catch(() => undefined)
      fs.rmSync(profile, { recursive: true, force: true })
    }
  }
}
