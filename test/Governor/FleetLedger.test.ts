/**
 * The fleet budget's rule as pure steps (no database): the order holders are served in, the limit the
 * fleet obeys when processes are told different ones, and what a 429 does to the shared buckets. The
 * stores only run these steps under a lock (test/Governor/FleetBudget.test.ts runs them on both).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Ledger from "../../src/Governor/FleetLedger.js"
import { emptyRow, type FleetChange, type FleetHolder, type FleetSnapshot } from "../../src/Store/Fleet.js"

/** A row and its holders, changed step by step as a store would. */
const ledger = () => {
  let snapshot: FleetSnapshot = { row: emptyRow("u"), holders: [] }
  const apply = <A>(step: (s: FleetSnapshot) => FleetChange<A>): A => {
    const change = step(snapshot)
    const byName = new Map<string, FleetHolder>(snapshot.holders.map((h) => [h.holder, h]))
    for (const h of change.upsert) byName.set(h.holder, h)
    for (const h of change.remove) byName.delete(h)
    snapshot = { row: change.row, holders: [...byName.values()] }
    return change.result
  }
  return { apply, get: () => snapshot }
}

const ask = (
  holder: string,
  now: number,
  need: { requests?: number; tokens?: number },
  vote: Ledger.Limits = { rpm: 600, tpm: undefined, windowMs: 1_000 }
): Ledger.TakeRequest => ({
  holder,
  now,
  vote,
  need: { requests: need.requests ?? 0, tokens: need.tokens ?? 0 },
  sliceMs: 50,
  sliceTtlMs: 500,
  seenTtlMs: 10_000,
  holding: { requests: 0, tokens: 0 }
})

describe("FleetLedger", () => {
  it("a new row starts 15% short of one window, and refills at the limit's rate", () => {
    const l = ledger()
    // 600 RPM, one-second window: 10, less 1.5.
    const first = l.apply(Ledger.take(ask("a", 0, { requests: 8.5 })))
    expect(first.requests).toBeCloseTo(8.5, 9)
    const none = l.apply(Ledger.take(ask("a", 0, { requests: 1 })))
    expect(none.requests).toBe(0)
    expect(none.waitMs).toBe(100)
    expect(l.apply(Ledger.take(ask("a", 100, { requests: 1 }))).requests).toBeCloseTo(1, 9)
  })

  it("the holder that has waited longer is served first, whoever asks first when budget arrives", () => {
    const l = ledger()
    l.apply(Ledger.take(ask("a", 0, { requests: 8.5 })))
    // b starts waiting at 10, a at 20.
    expect(l.apply(Ledger.take(ask("b", 10, { requests: 1 }))).requests).toBe(0)
    expect(l.apply(Ledger.take(ask("a", 20, { requests: 1 }))).requests).toBe(0)
    // At 150 one and a half requests have refilled: a asks first but the first one is b's.
    const a = l.apply(Ledger.take(ask("a", 150, { requests: 1 })))
    expect(a.requests).toBe(0)
    expect(a.waitMs).toBeGreaterThan(0)
    expect(l.apply(Ledger.take(ask("b", 151, { requests: 1 }))).requests).toBeGreaterThanOrEqual(1)
  })

  it("processes told different limits share the smallest one while they live", () => {
    const l = ledger()
    l.apply(Ledger.take(ask("big", 0, {}, { rpm: 6_000, tpm: undefined, windowMs: 1_000 })))
    const small = l.apply(Ledger.take(ask("small", 0, {}, { rpm: 600, tpm: undefined, windowMs: 1_000 })))
    expect(small.limits.rpm).toBe(600)
    const big = l.apply(Ledger.take(ask("big", 1_000, {}, { rpm: 6_000, tpm: undefined, windowMs: 1_000 })))
    expect(big.limits.rpm).toBe(600)
    expect(big.holdersAlive).toBe(2)
    // The smaller one's lease (10 s) runs out: the larger limit is the fleet's again.
    const later = l.apply(Ledger.take(ask("big", 10_500, {}, { rpm: 6_000, tpm: undefined, windowMs: 1_000 })))
    expect(later.limits.rpm).toBe(6_000)
    expect(later.holdersAlive).toBe(1)
  })

  it("a 429 pauses every holder until its retry-after and empties the shared buckets", () => {
    const l = ledger()
    l.apply(Ledger.take(ask("a", 0, { requests: 1 })))
    expect(l.apply(Ledger.pause(100, 2_100))).toBe(2_100)
    const during = l.apply(Ledger.take(ask("b", 500, { requests: 1 })))
    expect(during.requests).toBe(0)
    expect(during.waitMs).toBe(1_600)
    expect(during.pausedUntil).toBe(2_100)
    expect(l.get().row.rateLimitHits).toBe(1)
    // After the pause the bucket holds what refilled since it was emptied, never more than a window.
    const after = l.apply(Ledger.take(ask("b", 2_100, { requests: 1 })))
    expect(after.requests).toBeGreaterThanOrEqual(1)
    expect(after.requests).toBeLessThanOrEqual(10)
  })

  it("a holder leaving gives back what it still holds of a live slice", () => {
    const l = ledger()
    l.apply(Ledger.take(ask("a", 0, { requests: 8.5 })))
    l.apply(Ledger.leave("a", 100, { requests: 5, tokens: 0 }))
    expect(l.get().holders.map((h) => h.holder)).toEqual([])
    expect(l.apply(Ledger.take(ask("b", 100, { requests: 5 }))).requests).toBeGreaterThanOrEqual(5)
  })
})
