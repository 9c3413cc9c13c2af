import { describe, expect, it } from "@effect/vitest"
import { Bucket } from "../../src/Simulator/Bucket.js"
import { Limits } from "../../src/Simulator/Limits.js"

// Pure: the time is an argument, so these need no clock at all.
describe("Bucket", () => {
  it("holds one second of the per-minute limit and starts full", () => {
    const b = new Bucket(6_000, 0)
    expect(b.capacity).toBe(100)
    expect(b.ratePerMs).toBe(0.1)
    expect(b.levelAt(0)).toBe(100)
    expect(b.waitMs(100, 0)).toBe(0)
  })

  it("refills continuously with fractional precision, up to capacity", () => {
    const b = new Bucket(6_000, 0)
    b.take(100, 0)
    expect(b.waitMs(1, 0)).toBeCloseTo(10, 9)
    expect(b.levelAt(2.5)).toBeCloseTo(0.25, 12)
    expect(b.waitMs(1, 2.5)).toBeCloseTo(7.5, 9)
    expect(b.levelAt(5_000)).toBe(100)
  })

  it("admits a client that waits exactly the time it was told", () => {
    const b = new Bucket(60_000, 0)
    let now = 0
    for (let i = 0; i < 10_000; i++) {
      const wait = b.waitMs(7, now)
      now += wait
      expect(b.waitMs(7, now)).toBe(0)
      b.take(7, now)
    }
  })

  it("settles to actual usage when an unused allowance is refunded", () => {
    const b = new Bucket(600_000, 0)
    b.take(5_040, 0)
    b.refund(5_000, 0)
    expect(b.deficit(0)).toBe(40)
    b.refund(1_000, 0)
    expect(b.levelAt(0)).toBe(b.capacity)
  })

  it("reports remaining and reset by the minute-limit formula", () => {
    const b = new Bucket(600, 0)
    b.take(3, 0)
    // deficit 3, rate 0.01/ms
    expect(b.remaining(0)).toBe(597)
    expect(b.resetMs(0)).toBeCloseTo(300, 9)
    expect(b.remaining(50)).toBe(597) // deficit 2.5: floor(597.5)
    expect(b.resetMs(50)).toBeCloseTo(250, 9)
  })

  it("keeps at least one request below 60 RPM", () => {
    const limits = new Limits(30, 0, 0)
    expect(limits.requests?.capacity).toBe(1)
    expect(limits.admit(10, 0)._tag).toBe("Admitted")
    const next = limits.admit(10, 0)
    expect(next._tag === "Limited" && next.waitMs).toBeCloseTo(2_000, 6)
  })

  it("refuses a cost above the whole per-minute limit as too large, and names the binding limit", () => {
    const limits = new Limits(60_000, 6_000, 0)
    expect(limits.admit(6_001, 0)).toMatchObject({ _tag: "TooLarge", limit: 6_000, requested: 6_001 })
    expect(limits.admit(100, 0)._tag).toBe("Admitted")
    expect(limits.admit(50, 0)).toMatchObject({ _tag: "Limited", kind: "tokens" })
    // Nothing was charged by the refusals: the request bucket lost exactly one.
    expect(limits.requests?.deficit(0)).toBe(1)
  })

  it("admits a cost above one second's bucket once the bucket is full, and charges the debt", () => {
    const limits = new Limits(60_000, 6_000, 0) // 100 tokens at once, 0.1 token/ms
    expect(limits.admit(500, 0)._tag).toBe("Admitted")
    // 500 - 100: a debt of 400 tokens, so 4 s before even 1 token passes again.
    expect(limits.admit(1, 4_000)).toMatchObject({ _tag: "Limited", kind: "tokens" })
    expect(limits.admit(1, 4_011)._tag).toBe("Admitted")
  })
})
