/**
 * The operator's dashboard in a real browser: Debian's Chromium driven by playwright-core, against the
 * built `sluice serve` and `sluice simulate` as processes on 127.0.0.1. An operator uploads a 2,000-row
 * CSV with 3 broken rows through the form; the run page shows progress climbing with the RPM limit in use
 * near its ceiling (the page's screenshot, mid-run, is docs/run-page.png for the README); the operator
 * restarts the service with a higher limit and the page carries on with the same run; at the end the 3
 * failures each name their line; retrying them changes nothing and the counts stay true; the downloads
 * hold every row once, in input order; at 800×600 nothing that matters is off-screen.
 *
 * Small in time, honest in shape: the simulator answers in 20 ms, so the first part of the run is bound
 * by the configured 1,200 RPM (20 requests a second; a loaded two-core machine still does 20 items a
 * second), and once the panel has shown that, the restart raises the limit so the rest of the 2,000 rows
 * go as fast as the machine allows. One browser for the file; every wait is on a page condition and
 * bounded, and generous: CI runs the whole suite beside it on two cores. The processes and the browser
 * are stopped at the end. The global setup installs Chromium with apt when it is missing (as root).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import type { BrowserContext, Page } from "playwright-core"
import { spawnCli } from "../support/Cli.js"
import * as Chromium from "../support/Chromium.js"

// Provisioned by the global setup (test/support/ChromiumBinary.ts); skipped, with its one line, only where
// it cannot be had (not root, no apt-get).
const chromium = inject("chromium")
if ("missing" in chromium) process.stderr.write(`test/Http/Dashboard.browser: skipped: ${chromium.missing}\n`)

const ROWS = 2000
/** Data lines (1-based file lines, the header being line 1) written with a field too many. */
const BROKEN = [251, 1002, 1777]
/** The request-bound part: 20 requests a second, well below what 16 calls of 20 ms could do (800/s). */
const RPM = 1200
/** After the restart: a limit the machine's CPU, not admission, binds. */
const RPM_AFTER = 60_000
/**
 * Where the run page's screenshot goes: the README's (docs/run-page.png) with SLUICE_SCREENSHOT=docs,
 * else the test's temp folder, so a plain `npm test` leaves the tracked file alone.
 */
const DOCS =
  process.env["SLUICE_SCREENSHOT"] === "docs"
    ? path.resolve(import.meta.dirname, "../../docs")
    : fs.mkdtempSync(path.join(os.tmpdir(), "sluice-screenshot-"))

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = net.createServer()
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })

const until = async <A>(get: () => Promise<A>, ok: (a: A) => boolean, ms: number, what: string): Promise<A> => {
  const deadline = Date.now() + ms
  for (;;) {
    const a = await get()
    if (ok(a)) return a
    if (Date.now() > deadline)
      throw new Error(`timed out after ${ms} ms waiting for ${what} (last: ${JSON.stringify(a)})`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

const answers = async (url: string) => {
  try {
    await fetch(url, { signal: AbortSignal.timeout(2_000) })
    return true
  } catch {
    return false
  }
}

const numberIn = async (page: Page, selector: string) =>
  Number(((await page.locator(selector).first().textContent()) ?? "").replace(/[^\d.]/g, ""))

/** Where the file's time goes, said in one line at the end (the lead reads it when the file is slow). */
const phases: Array<string> = []
let lap = Date.now()
const phase = (name: string) => {
  const now = Date.now()
  phases.push(`${name} ${((now - lap) / 1000).toFixed(1)} s`)
  lap = now
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-dashboard-"))
const db = path.join(dir, "serve.db")
const children: Array<ReturnType<typeof spawnCli>> = []
let browser: Awaited<ReturnType<typeof Chromium.launch>> | undefined
let context: BrowserContext
let base = ""
let servePort = 0
let simUrl = ""

const startServe = async (rpm: number) => {
  const p = spawnCli(
    [
      "serve",
      ...["--db", db, "--port", String(servePort), "--base-url", simUrl],
      ...["--rpm", String(rpm), "--concurrency", "16", "--model", "sim", "--max-tokens", "16"]
    ],
    { env: { OPENAI_API_KEY: "sk-test" } }
  )
  children.push(p)
  await until(
    () => answers(`${base}/healthz`),
    (ok) => ok,
    60_000,
    "sluice serve to answer"
  )
  return p
}

beforeAll(async () => {
  if ("missing" in chromium) return
  const simPort = await freePort()
  servePort = await freePort()
  simUrl = `http://127.0.0.1:${simPort}/v1`
  base = `http://127.0.0.1:${servePort}`
  children.push(spawnCli(["simulate", "--port", String(simPort), "--latency-ms", "20", "--latency-sigma", "0"]))
  const [launched] = await Promise.all([
    Chromium.launch(chromium.executable),
    until(
      () => answers(`http://127.0.0.1:${simPort}/`),
      (ok) => ok,
      60_000,
      "sluice simulate to answer"
    ).then(() => startServe(RPM))
  ])
  browser = launched
  context = browser.context
  // Playwright's own waits (navigation, clicks, downloads) get the same slack as the test's.
  context.setDefaultTimeout(60_000)
  phase("start (simulator, service, Chromium)")
}, 180_000)

afterAll(async () => {
  await browser?.close()
  for (const c of children) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill("SIGKILL")
  fs.rmSync(dir, { recursive: true, force: true })
  if (phases.length > 0) process.stderr.write(`test/Http/Dashboard.browser: ${phases.join(" · ")}\n`)
})

const csv = () => {
  const lines = ["id,name,amount"]
  for (let i = 1; i <= ROWS; i++) {
    const line = i + 1
    lines.push(BROKEN.includes(line) ? `L${i},broken,row,extra` : `L${i},borrower ${i},${1000 + i}`)
  }
  const file = path.join(dir, "loans.csv")
  fs.writeFileSync(file, lines.join("\n") + "\n")
  return file
}

/** The right edge of every element matched, and the page's own width: nothing may pass `width`. */
const offScreen = async (page: Page, selector: string, width: number) => {
  const boxes = await page.locator(selector).evaluateAll((els) =>
    els.map((e) => {
      const r = e.getBoundingClientRect()
      return { text: (e.textContent ?? "").trim().slice(0, 20), left: r.left, right: r.right, width: r.width }
    })
  )
  expect(boxes.length, selector).toBeGreaterThan(0)
  return boxes.filter((b) => b.left < 0 || b.right > width + 0.5 || b.width <= 0)
}

/** The text of `#live-status`, which the page's script sets after each poll ("live · <time>") or failure. */
const liveStatus = async (page: Page) => (await page.locator("#live-status").textContent()) ?? ""

/** Resolves once the page's script has polled again and succeeded (its status line changed to a new "live"). */
const nextPoll = async (page: Page) => {
  await page.evaluate(`document.getElementById("live-status").textContent = "waiting for the next poll"`)
  await until(
    () => liveStatus(page),
    (s) => s.startsWith("live"),
    30_000,
    "the page's next poll"
  )
}

describe.skipIf("missing" in chromium)("the dashboard in Chromium (real processes, real HTTP on 127.0.0.1)", () => {
  it("upload a CSV with 3 broken rows: progress climbs, RPM near its limit, a restart is survived, 3 failures naming their lines; retry changes nothing; downloads in order; 800×600 fits", async () => {
    const page = await context.newPage()
    await page.goto(`${base}/`)
    await page.locator('input[type=file][name="file"]').setInputFiles(csv())
    await page.locator('select[name="processor"]').selectOption("llm")
    await Promise.all([page.waitForURL(/\/runs\/loans-/, { timeout: 60_000 }), page.locator("#upload button").click()])
    const runUrl = page.url()
    const run = decodeURIComponent(new URL(runUrl).pathname.split("/")[2]!)
    expect(await numberIn(page, '#progress [data-k="total"]')).toBe(ROWS)
    phase("upload")

    // Progress climbs, as the page's own polling shows it.
    const finished = () => numberIn(page, '#progress [data-k="finished"]')
    const first = await until(finished, (n) => n > 3, 60_000, "progress")
    const later = await until(finished, (n) => n >= first + 40, 60_000, "progress to climb")
    expect(later).toBeLessThan(ROWS)
    phase("progress climbs")

    // Request-bound: RPM use reads near the configured limit (the rates are over the run's calls so far
    // until they are 15 s old, so admission's opening burst may read above it for the first seconds).
    const rpm = page.locator('#limits tr[data-limit="RPM"]')
    expect(Number(await rpm.getAttribute("data-ceiling"))).toBe(RPM)
    await until(
      async () => Number(await rpm.getAttribute("data-used")),
      (u) => u >= 0.8 * RPM && u < 1.1 * RPM,
      90_000,
      "RPM use near its limit"
    )
    expect(await page.locator('#eta [data-k="eta"]').textContent()).toMatch(/bound by RPM/)
    // The fleet budget is on (a limit was given): the fleet's row is every process's use, here this one's.
    const fleetRpm = page.locator('#limits tr[data-limit="fleet RPM"]')
    expect(Number(await fleetRpm.getAttribute("data-ceiling"))).toBe(RPM)
    expect(await fleetRpm.textContent()).toContain("1 process")
    await until(
      async () => Number(await fleetRpm.getAttribute("data-used")),
      (u) => u >= 0.7 * RPM && u < 1.1 * RPM,
      30_000,
      "the fleet's RPM use near its limit"
    )
    fs.mkdirSync(DOCS, { recursive: true })
    await page.screenshot({ path: path.join(DOCS, "run-page.png"), fullPage: true })
    // The screenshot is of a run under way: progress shown after it is still short of the total.
    const before = await finished()
    expect(before).toBeLessThan(ROWS)
    phase("RPM near its limit")

    // The operator raises the limit and restarts the service mid-run: the page says the service is not
    // answering, then carries on with the same run, and the run goes on from where it was.
    const serve = children[children.length - 1]!
    serve.child.kill("SIGTERM")
    await until(
      async () => serve.child.exitCode !== null || serve.child.signalCode !== null,
      (gone) => gone,
      20_000,
      "sluice serve to stop after SIGTERM"
    )
    expect(serve.child.exitCode).toBe(0)
    phase("stop after SIGTERM")
    await until(
      () => liveStatus(page),
      (s) => s.includes("not answering"),
      30_000,
      "the page to notice the service is gone"
    )
    await startServe(RPM_AFTER)
    await until(
      () => liveStatus(page),
      (s) => s.startsWith("live"),
      30_000,
      "the page to be live again"
    )
    expect(await finished()).toBeGreaterThanOrEqual(before)
    expect(Number(await rpm.getAttribute("data-ceiling"))).toBe(RPM_AFTER)
    phase("restart")

    // Done: 3 failures, each naming its line.
    await until(finished, (n) => n === ROWS, 240_000, "the run to finish")
    phase("the rest of the run")
    const failures = async () =>
      page
        .locator("#failures table.failures tbody tr")
        .evaluateAll((rows) =>
          rows.map((r) =>
            Array.from(r.querySelectorAll("td"), (td: { textContent: string | null }) => (td.textContent ?? "").trim())
          )
        )
    await nextPoll(page)
    const failed = await failures()
    expect(failed.map((r) => Number(r[0]!.replace(/,/g, "")))).toEqual(BROKEN)
    for (const [i, r] of failed.entries()) expect(r[3]).toContain(`line ${BROKEN[i]}: expected 3 fields, found 4`)
    expect(await numberIn(page, '#summary [data-k="completed"]')).toBe(ROWS - 3)
    expect(await numberIn(page, '#summary [data-k="failed"]')).toBe(3)

    // Retry all, fixing nothing: the same 3 failures with the same reasons, and the counts stay true.
    await Promise.all([
      page.waitForURL(/retried=/),
      page.locator("#failures form button", { hasText: "Retry all failed" }).click()
    ])
    expect(await page.locator("#notice").textContent()).toMatch(/3 unreadable line\(s\) stay failed/)
    await nextPoll(page)
    expect(await failures()).toEqual(failed)
    const counts = (await (await fetch(`${base}/v1/runs/${encodeURIComponent(run)}`)).json()) as {
      counts: Record<string, number>
      total: number
    }
    expect(counts.total).toBe(ROWS)
    expect(counts.counts).toEqual({ pending: 0, processing: 0, completed: ROWS - 3, skipped: 0, failed: 3 })
    expect(await numberIn(page, '#summary [data-k="failed"]')).toBe(3)
    expect(await finished()).toBe(ROWS)

    // Filter by tag: the 3 are Invalid.
    await page.locator('#failures .tags a[data-tag="Invalid"]').click()
    await page.waitForURL(/tag=Invalid/)
    expect((await failures()).length).toBe(3)
    phase("failures and retry")

    // Downloads: every row once, in input order.
    const download = async (label: RegExp) => {
      const [d] = await Promise.all([
        page.waitForEvent("download"),
        page.locator("a.button", { hasText: label }).click()
      ])
      return fs.readFileSync((await d.path())!, "utf8")
    }
    const jsonl = (await download(/JSONL/))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { seq: number; key: string; status: string })
    expect(jsonl.map((r) => r.seq)).toEqual(Array.from({ length: ROWS }, (_, i) => i))
    expect(new Set(jsonl.map((r) => r.key)).size).toBe(ROWS)
    expect(jsonl.filter((r) => r.status === "failed").map((r) => r.seq)).toEqual(BROKEN.map((l) => l - 2))
    const rows = (await download(/CSV/)).trimEnd().split("\r\n")
    expect(rows[0]).toBe("row,key,status,output,error_tag,error_message,attempts")
    expect(rows.length).toBe(ROWS + 1)
    expect(rows.slice(1).map((r) => Number(r.split(",")[0]))).toEqual(Array.from({ length: ROWS }, (_, i) => i + 1))
    expect(rows[2]!.split(",").slice(1, 3)).toEqual(["L2", "completed"])
    phase("downloads")

    // 800×600: the columns that matter stay on screen, on the run page and the runs list.
    await page.setViewportSize({ width: 800, height: 600 })
    await page.goto(runUrl)
    await page.screenshot({ path: path.join(dir, "run-800.png"), fullPage: true })
    expect(await offScreen(page, "#failures table.failures th, #failures table.failures td", 800)).toEqual([])
    expect(await offScreen(page, "#limits table th, #limits table td", 800)).toEqual([])
    expect(await offScreen(page, "#summary .card", 800)).toEqual([])
    expect(await page.evaluate("document.documentElement.scrollWidth")).toBeLessThanOrEqual(800)
    await page.goto(`${base}/`)
    await page.screenshot({ path: path.join(dir, "home-800.png") })
    expect(await offScreen(page, "table.runs th, table.runs td", 800)).toEqual([])
    expect(await page.evaluate("document.documentElement.scrollWidth")).toBeLessThanOrEqual(800)
    const home = await page.locator(`table.runs tr[data-run="${run}"] td[data-k="failed"]`).textContent()
    expect(home?.trim()).toBe("3")
    phase("800×600")
    await page.close()
  }, 480_000)
})
