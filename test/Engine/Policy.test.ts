import { describe, expect, it } from "@effect/vitest"
import {
  CircuitOpen,
  Invalid,
  OverBudget,
  RateLimited,
  StageError,
  Transient,
  UpstreamUnusable,
  type StageErrorTag
} from "../../src/Domain/Errors.js"
import { decide } from "../../src/Engine/Policy.js"

describe("Policy.decide", () => {
  it("RateLimited pauses everyone for the upstream's retry-after", () => {
    expect(decide(new RateLimited({ retryAfterMs: 1_234, message: "429" }))).toEqual({ _tag: "Pause", ms: 1_234 })
    expect(decide(new RateLimited({ retryAfterMs: 0, message: "429" }))).toEqual({ _tag: "Pause", ms: 0 })
  })

  it("Transient retries, at least after the upstream's retry-after when it named one", () => {
    expect(decide(new Transient({ reason: "Status", status: 503, retryAfterMs: 7_000, message: "503" }))).toEqual({
      _tag: "Retry",
      ms: 7_000
    })
    for (const reason of ["Timeout", "Status", "Connection", "Decode"] as const) {
      expect(decide(new Transient({ reason, message: reason }))).toEqual({ _tag: "Retry", ms: 0 })
    }
  })

  it("Invalid fails the item at once, whatever its reason", () => {
    for (const reason of ["Input", "Output", "Status", "TooLarge"] as const) {
      expect(decide(new Invalid({ reason, status: 400, message: reason }))).toEqual({ _tag: "Fail" })
    }
  })

  it("CircuitOpen holds the item until the circuit's retry time", () => {
    expect(decide(new CircuitOpen({ retryAtMs: 98_765, message: "open" }))).toEqual({ _tag: "Hold", untilMs: 98_765 })
  })

  it("OverBudget stops the session", () => {
    expect(decide(new OverBudget({ budgetUsd: 1, spentUsd: 1.5, message: "over" }))).toEqual({ _tag: "Stop" })
  })

  it("UpstreamUnusable (a rejected key, an upstream never reached) stops the session", () => {
    for (const reason of ["Unauthorized", "Unreachable"] as const) {
      expect(decide(new UpstreamUnusable({ reason, message: reason }))).toEqual({ _tag: "Stop" })
    }
  })

  it("has a decision for every error a stage may fail with", () => {
    // One sample per tag; a tag added to StageError without a row here fails this test.
    const samples: Record<StageErrorTag, StageError> = {
      RateLimited: new RateLimited({ retryAfterMs: 1, message: "" }),
      Transient: new Transient({ reason: "Timeout", message: "" }),
      Invalid: new Invalid({ reason: "Input", message: "" }),
      CircuitOpen: new CircuitOpen({ retryAtMs: 1, message: "" }),
      OverBudget: new OverBudget({ budgetUsd: 1, spentUsd: 1, message: "" }),
      UpstreamUnusable: new UpstreamUnusable({ reason: "Unauthorized", status: 401, message: "" })
    }
    const tags = StageError.members.map((m) => m._tag)
    expect([...tags].sort()).toEqual(Object.keys(samples).sort())
    const actions = new Set(Object.values(samples).map((e) => decide(e)._tag))
    expect(actions).toEqual(new Set(["Pause", "Retry", "Fail", "Hold", "Stop"]))
  })
})
