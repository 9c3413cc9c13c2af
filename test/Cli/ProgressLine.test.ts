/**
 * The progress line fits its width (80 columns off a terminal, the terminal's on one) by dropping
 * fields in order of worth, and never cuts the ETA.
 */
import { describe, expect, it } from "@effect/vitest"
import type { Eta } from "../../src/Engine/Eta.js"
import type { RunProgress } from "../../src/Engine/Progress.js"
import { DEFAULT_WIDTH, line } from "../../src/Cli/ProgressView.js"

const progress = (over: Partial<RunProgress> = {}): RunProgress => ({
  run: "r",
  counts: { pending: 1_234_567, processing: 48, completed: 8_765_432, skipped: 123_456, failed: 98_765 },
  finishedThisSession: 8_987_653,
  retries: 12_345,
  rateLimitHits: 678,
  held: 0,
  tokensIn: 0,
  tokensOut: 0,
  costUsd: 0,
  startedAt: 0,
  updatedAt: 0,
  sourceDone: true,
  ...over
})

const eta: Eta = {
  etaMs: 3 * 3600_000 + 25 * 60_000,
  boundBy: "tpm",
  observedPerSecond: 1234.5,
  rpmPerSecond: undefined,
  tpmPerSecond: 1300
}
const extras = { perSecond: 1234.5, eta, elapsedMs: 2 * 3600_000 + 5 * 60_000 + 7_000 }

describe("the progress line", () => {
  it("shows every field when there is room, on a terminal and off one", () => {
    const wide = line(progress(), extras, true, 200)
    for (const field of [
      "█",
      "%",
      "8987653/10222268",
      "✓8765432",
      "↷123456",
      "✗98765",
      "⟳48",
      "↻12345",
      "429×678",
      "1235/s",
      "125m07s"
    ]) {
      expect({ field, shown: wide.includes(field) }).toEqual({ field, shown: true })
    }
    const plain = line(progress(), extras, false, 200)
    expect(plain.startsWith("sluice: 87% 8987653/10222268 ✓8765432")).toBe(true)
  })

  it("fits 80 columns off a terminal, and any terminal width from 30 up, keeping done/total and the whole ETA", () => {
    const etaText = line(progress(), extras, true, 500).match(/bound by TPM: ~3 h 25 min/)![0]
    const plain = line(progress(), extras, false)
    expect(plain.length).toBeLessThanOrEqual(DEFAULT_WIDTH)
    expect(plain).toContain(etaText)
    expect(plain).toContain("8987653/10222268")
    for (let width = 30; width <= 200; width++) {
      const text = line(progress(), extras, true, width)
      expect({ width, fits: text.length <= width, eta: text.includes(etaText) }).toEqual({
        width,
        fits: true,
        eta: true
      })
      // done/total goes last, only when it and the ETA cannot share the line.
      if (width >= "8987653/10222268 ".length + etaText.length)
        expect({ width, total: text.includes("8987653/10222268") }).toEqual({ width, total: true })
    }
  })

  it("drops the least useful fields first: the bar shrinks and goes, then elapsed, rate, retries, 429s; failures stay longest", () => {
    const full = line(progress(), extras, true, 500)
    const shrunk = line(progress(), extras, true, full.length - 10)
    expect(shrunk).toContain("█")
    expect(shrunk).toContain("125m07s")
    const noBar = line(progress(), extras, true, full.length - 24)
    expect(noBar).not.toMatch(/[█░]/)
    expect(noBar).toContain("125m07s")
    const tight = line(progress(), extras, true, 60)
    expect(tight).not.toContain("125m07s")
    expect(tight).not.toContain("/s ")
    expect(tight).toContain("✗98765")
  })
})
