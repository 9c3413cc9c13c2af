/**
 * The operator's dashboard in a real browser: Debian's Chromium driven by playwright-core, against the
 * built `sluice serve` and `sluice simulate` as processes on 127.0.0.1. An operator uploads a 2,000-row
 * CSV with 3 broken rows through the form; the run page shows progress climbing, the RPM limit in use
 * near its ceiling, then the 3 failures each naming its line; retrying them changes nothing and the
 * counts stay true; the downloads hold every row once, in input order; at 800×600 nothing that matters
 * is off-screen; and the page keeps going across a restart of the service.
 *
 * Every wait is bounded; the processes and the browser are stopped at the end. The run page's
 * screenshot is saved to docs/run-page.png for the README.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import type { BrowserContext, Page } from "playwright-core"
import { spawnCli } from "../support/Cli.js"
import * as Chromium from "../support/Chromium.js"

// Opt-in until it passes whole on a two-core machine (issue 13 is open: its one run to the end under
// load timed out at 400 s; the RPM, retry, download, 800×600 and restart steps have not all passed in
// one run yet). `SLUICE_BROWSER=run npx vitest run test/Http/Dashboard.browser.test.ts` runs it.
const optIn = process.env["SLUICE_BROWSER"] === "run"
if (!optIn) process.stderr.write("test/Http/Dashboard.browser: not run (opt-in for now: SLUICE_BROWSER=run)\n")

const ROWS = 2000
/** Data lines (1-based file lines, the header being line 1) written with a field too many. */
const BROKEN = [251, 1002, 1777]
/**
 * 1,200 RPM is 20 requests a second: the run takes about 100 s, bound by RPM (16 × 100 ms calls could do
 * 160/s). At 3,000 RPM a loaded two-core machine reached only ~45% of it: then the CPU, not the limit, binds.
 */
const RPM = 1200
const DOCS = path.resolve(import.meta.dirname, "../../docs")

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
    await new Promise((r) => setTimeout(r, 200))
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

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-dashboard-"))
const db = path.join(dir, "serve.db")
const children: Array<ReturnType<typeof spawnCli>> = []
let browser: Awaited<ReturnType<typeof Chromium.launch>> | undefined
let context: BrowserContext
let base = ""
let servePort = 0
let simUrl = ""

const startServe = async () => {
  const p = spawnCli(
    [
      "serve",
      ...["--db", db, "--port", String(servePort), "--base-url", simUrl],
      ...["--rpm", String(RPM), "--concurrency", "16", "--model", "sim", "--max-tokens", "16"]
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
  if (!optIn) return
  Chromium.ensure()
  const simPort = await freePort()
  servePort = await freePort()
  simUrl = `http://127.0.0.1:${simPort}/v1`
  base = `http://127.0.0.1:${servePort}`
  children.push(spawnCli(["simulate", "--port", String(simPort), "--latency-ms", "100", "--latency-sigma", "0"]))
  await until(
    () => answers(`http://127.0.0.1:${simPort}/`),
    (ok) => ok,
    60_000,
    "sluice simulate to answer"
  )
  await startServe()
  browser = await Chromium.launch()
  context = browser.context
}, 180_000)

afterAll(async () => {
  await browser?.close()
  for (const c of children) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill("SIGKILL")
  fs.rmSync(dir, { recursive: true, force: true })
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

describe.skipIf(!optIn)("the dashboard in Chromium (real processes, real HTTP on 127.0.0.1)", () => {
  it("upload a CSV with 3 broken rows: progress climbs, RPM near its limit, 3 failures naming their lines; retry changes nothing; downloads in order; 800×600 fits; a restart is survived", async () => {
    const page = await context.newPage()
    await page.goto(`${base}/`)
    await page.locator('input[type=file][name="file"]').setInputFiles(csv())
    await page.locator('select[name="processor"]').selectOption("llm")
    await Promise.all([page.waitForURL(/\/runs\/loans-/, { timeout: 120_000 }), page.locator("#upload button").click()])
    const runUrl = page.url()
    const run = decodeURIComponent(new URL(runUrl).pathname.split("/")[2]!)
    expect(await numberIn(page, '#progress [data-k="total"]')).toBe(ROWS)

    // Progress climbs, as the page's own polling shows it.
    const first = await until(
      () => numberIn(page, '#progress [data-k="finished"]'),
      (n) => n > 3,
      60_000,
      "progress"
    )
    const later = await until(
      () => numberIn(page, '#progress [data-k="finished"]'),
      (n) => n >= first + 100,
      60_000,
      "progress to climb"
    )
    expect(later).toBeLessThan(ROWS)

    // Request-bound: once the 15 s rate window has filled, RPM use reads near the configured 3,000.
    await page.waitForTimeout(16_000)
    const rpm = page.locator('#limits tr[data-limit="RPM"]')
    expect(Number(await rpm.getAttribute("data-ceiling"))).toBe(RPM)
    const used = await until(
      async () => Number(await rpm.getAttribute("data-used")),
      (u) => u >= 0.8 * RPM,
      // Under a heavily loaded machine the CPU can bind for a while before the limit does again.
      60_000,
      "RPM use near its limit"
    )
    expect(used).toBeLessThan(1.1 * RPM)
    expect(await page.locator('#eta [data-k="eta"]').textContent()).toMatch(/bound by RPM/)
    fs.mkdirSync(DOCS, { recursive: true })
    await page.screenshot({ path: path.join(DOCS, "run-page.png"), fullPage: true })

    // Done: 3 failures, each naming its line.
    await until(
      () => numberIn(page, '#progress [data-k="finished"]'),
      (n) => n === ROWS,
      200_000,
      "the run to finish"
    )
    const failures = async () =>
      page
        .locator("#failures table.failures tbody tr")
        .evaluateAll((rows) =>
          rows.map((r) =>
            Array.from(r.querySelectorAll("td"), (td: { textContent: string | null }) => (td.textContent ?? "").trim())
          )
        )
    const before = await failures()
    expect(before.map((r) => Number(r[0]!.replace(/,/g, "")))).toEqual(BROKEN)
    for (const [i, r] of before.entries()) expect(r[3]).toContain(`line ${BROKEN[i]}: expected 3 fields, found 4`)
    expect(await numberIn(page, '#summary [data-k="completed"]')).toBe(ROWS - 3)

    // Retry all, fixing nothing: the same 3 failures with the same reasons, and the counts stay true.
    await Promise.all([
      page.waitForURL(/retried=/),
      page.locator("#failures form button", { hasText: "Retry all failed" }).click()
    ])
    expect(await page.locator("#notice").textContent()).toMatch(/3 unreadable line\(s\) stay failed/)
    await page.waitForTimeout(2_500)
    expect(await failures()).toEqual(before)
    const counts = (await (await fetch(`${base}/v1/runs/${encodeURIComponent(run)}`)).json()) as {
      counts: Record<string, number>
      total: number
    }
    expect(counts.total).toBe(ROWS)
    expect(counts.counts).toEqual({ pending: 0, processing: 0, completed: ROWS - 3, skipped: 0, failed: 3 })
    expect(await numberIn(page, '#summary [data-k="failed"]')).toBe(3)
    expect(await numberIn(page, '#progress [data-k="finished"]')).toBe(ROWS)

    // Filter by tag: the 3 are Invalid.
    await page.locator('#failures .tags a[data-tag="Invalid"]').click()
    await page.waitForURL(/tag=Invalid/)
    expect((await failures()).length).toBe(3)

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

    // A restart: the page says the service is not answering, then carries on with the same truth.
    await page.goto(runUrl)
    const serve = children[children.length - 1]!
    serve.child.kill("SIGTERM")
    await serve.exited
    await until(
      async () => (await page.locator("#live-status").textContent()) ?? "",
      (s) => s.includes("not answering"),
      20_000,
      "the page to notice the service is gone"
    )
    await startServe()
    await until(
      async () => (await page.locator("#live-status").textContent()) ?? "",
      (s) => s.startsWith("live"),
      30_000,
      "the page to be live again"
    )
    expect(await numberIn(page, '#progress [data-k="finished"]')).toBe(ROWS)
    expect(await numberIn(page, '#summary [data-k="failed"]')).toBe(3)
    expect((await failures()).map((r) => Number(r[0]!.replace(/,/g, "")))).toEqual(BROKEN)
    await page.close()
  }, 400_000)
})
