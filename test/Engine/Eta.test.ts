import { describe, expect, it } from "@effect/vitest"
import { addSample, estimate, format, formatDuration, windowed } from "../../src/Engine/Eta.js"

const minutes = (ms: number | undefined) => (ms === undefined ? undefined : ms / 60_000)

describe("Eta.estimate", () => {
  it("request-bound: running at the RPM limit, the ETA is the remaining requests over the limit", () => {
    // 600 RPM, one request and ~300 tokens an item, 1M TPM: requests bind (10/s vs 55/s).
    const eta = estimate({
      remaining: 6_000,
      finished: 99,
      elapsedMs: 10_000,
      requestsPerItem: 1,
      tokensPerItem: 300,
      rpm: 600,
      tpm: 1_000_000
    })
    expect(eta.boundBy).toBe("rpm")
    expect(eta.rpmPerSecond).toBeCloseTo(10)
    // 6,000 items at 9.9/s observed (slower than the 10/s the limit allows): about 10 minutes.
    expect(minutes(eta.etaMs)).toBeCloseTo(6_000 / 9.9 / 60, 5)
    expect(format(eta)).toBe("bound by RPM: ~11 min")
  })

  it("request-bound counts every call an item makes (classify and process)", () => {
    // 1.5 requests an item at 3,600 RPM: 40 items/s at most, and 41/s is what we see.
    const eta = estimate({ remaining: 800, finished: 410, elapsedMs: 10_000, requestsPerItem: 1.5, rpm: 3_600 })
    expect(eta.boundBy).toBe("rpm")
    expect(eta.rpmPerSecond).toBeCloseTo(40)
    // The burst above the limit (buckets start full) does not make the ETA optimistic.
    expect(eta.etaMs).toBeCloseTo((800 / 40) * 1000)
  })

  it("token-bound: large items under a TPM limit, with RPM to spare", () => {
    // 10,000 RPM but 60,000 TPM at ~2,000 tokens an item: 0.5 items/s.
    const eta = estimate({
      remaining: 1_260,
      finished: 29,
      elapsedMs: 60_000,
      requestsPerItem: 1,
      tokensPerItem: 2_000,
      rpm: 10_000,
      tpm: 60_000
    })
    expect(eta.boundBy).toBe("tpm")
    expect(eta.tpmPerSecond).toBeCloseTo(0.5)
    expect(minutes(eta.etaMs)).toBeCloseTo(1_260 / (29 / 60) / 60, 5)
    expect(format(eta)).toBe("bound by TPM: ~44 min")
  })

  it("latency-bound: far below every limit, the observed rate sets the ETA", () => {
    // 8 in flight at ~400 ms each is ~20/s; the limits would allow 100/s (RPM) and ~333/s (TPM).
    const eta = estimate({
      remaining: 1_000,
      finished: 200,
      elapsedMs: 10_000,
      requestsPerItem: 1,
      tokensPerItem: 300,
      rpm: 6_000,
      tpm: 6_000_000
    })
    expect(eta.boundBy).toBe("latency")
    expect(eta.etaMs).toBeCloseTo(50_000)
    expect(format(eta)).toBe("bound by latency: ~50 s")
  })

  it("no limits known: latency-bound at the observed rate", () => {
    const eta = estimate({ remaining: 30, finished: 10, elapsedMs: 1_000 })
    expect(eta.boundBy).toBe("latency")
    expect(eta.etaMs).toBeCloseTo(3_000)
  })

  it("calls queueing in admission name the limit even when the cost per item is not known", () => {
    // No token estimate yet, but admission says callers are waiting for the token bucket.
    const eta = estimate({
      remaining: 100,
      finished: 10,
      elapsedMs: 10_000,
      rpm: 10_000,
      tpm: 50_000,
      waiting: 12,
      waitingFor: "tpm"
    })
    expect(eta.boundBy).toBe("tpm")
    expect(eta.etaMs).toBeCloseTo(100_000)
  })

  it("before anything finished: the tightest limit gives the ETA; with none, there is no ETA", () => {
    const eta = estimate({ remaining: 1_200, finished: 0, elapsedMs: 500, rpm: 1_200 })
    expect(eta.boundBy).toBe("rpm")
    expect(eta.etaMs).toBeCloseTo(60_000)
    const none = estimate({ remaining: 1_200, finished: 0, elapsedMs: 500 })
    expect(none.etaMs).toBeUndefined()
    expect(format(none)).toBeUndefined()
  })

  it("nothing left: zero", () => {
    expect(estimate({ remaining: 0, finished: 10, elapsedMs: 1_000, rpm: 60 }).etaMs).toBe(0)
  })
})

describe("Eta helpers", () => {
  it("formats durations rounded up", () => {
    expect(formatDuration(0)).toBe("~0 s")
    expect(formatDuration(8_200)).toBe("~9 s")
    expect(formatDuration(59_000)).toBe("~59 s")
    expect(formatDuration(42 * 60_000 - 1)).toBe("~42 min")
    expect(formatDuration(125 * 60_000)).toBe("~2 h 05 min")
  })

  it("keeps a sliding window of samples at least as long as asked", () => {
    let samples = addSample([], { atMs: 0, finished: 0 }, 10_000)
    for (let t = 1_000; t <= 30_000; t += 1_000) samples = addSample(samples, { atMs: t, finished: t / 100 }, 10_000)
    expect(samples[0]!.atMs).toBe(20_000)
    expect(windowed(samples)).toEqual({ finished: 100, elapsedMs: 10_000 })
    expect(windowed([])).toEqual({ finished: 0, elapsedMs: 0 })
  })
})
