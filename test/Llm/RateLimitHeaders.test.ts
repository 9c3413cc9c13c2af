import { describe, expect, it } from "@effect/vitest"
import { parseResetMs, retryAfterMs, snapshot } from "../../src/Llm/RateLimitHeaders.js"
import { resolve } from "../../src/Simulator/Dialect.js"
import { Limits } from "../../src/Simulator/Limits.js"

const getter = (h: Record<string, string>) => (name: string) => h[name.toLowerCase()]
const NOW = Date.parse("2026-12-04T15:00:00Z")

describe("RateLimitHeaders", () => {
  it("reads resets as durations, bare seconds, epoch times and RFC 3339 / HTTP dates", () => {
    expect(parseResetMs("6m0s", NOW)).toBe(360_000)
    expect(parseResetMs("1.2s", NOW)).toBe(1_200)
    expect(parseResetMs("17ms", NOW)).toBe(17)
    expect(parseResetMs("2", NOW)).toBe(2_000)
    expect(parseResetMs(String(NOW + 1_500), NOW)).toBe(1_500)
    expect(parseResetMs("2026-12-04T15:00:03Z", NOW)).toBe(3_000)
    expect(retryAfterMs(getter({ "retry-after": "Fri, 04 Dec 2026 15:00:02 GMT" }), NOW)).toBe(2_000)
    expect(retryAfterMs(getter({ "retry-after": "3", "retry-after-ms": "2500.5" }), NOW)).toBe(2_500.5)
  })

  it("reads each simulator dialect's headers into a snapshot whose reset gives the upstream's deficit", () => {
    for (const name of ["openai", "compat", "anthropic"] as const) {
      const limits = new Limits(6_000, 600_000, 0, resolve(name))
      expect(limits.admit(100, 0, 100)._tag).toBe("Admitted")
      const s = snapshot(getter(limits.headers(0, NOW)), NOW)!
      expect(s.limitRequests).toBe(6_000)
      // One request owed at 100/s: 10 ms (an RFC 3339 time has whole seconds: 1 s, rounded up).
      expect(s.resetRequestsMs).toBe(name === "anthropic" ? 1_000 : 10)
      if (name === "anthropic") {
        expect(s.limitInputTokens).toBe(600_000)
        expect(s.limitOutputTokens).toBe(120_000)
        expect(s.limitTokens).toBeUndefined()
        expect(s.remainingInputTokens! % 1_000).toBe(0)
      } else {
        expect(s.limitTokens).toBe(600_000)
        // remaining: out of the minute (openai) or what the 200 ms window holds (compat).
        expect(s.remainingRequests).toBe(name === "openai" ? 5_999 : 19)
      }
    }
    const azure = new Limits(6_000, 600_000, 0, resolve("azure"))
    azure.admit(100, 0, 100)
    expect(snapshot(getter(azure.headers(0, NOW)), NOW)).toEqual({ remainingRequests: 99, remainingTokens: 9_800 })
    expect(snapshot(getter(new Limits(6_000, 0, 0, resolve("local")).headers(0, NOW)), NOW)).toBeUndefined()
  })
})
