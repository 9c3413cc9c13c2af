import { createHash } from "node:crypto"
import { describe, expect, it } from "@effect/vitest"
import { lognormal, random } from "../../src/Simulator/Latency.js"
import { answerFor, defaultResponder, fit } from "../../src/Simulator/Responder.js"

describe("Responder", () => {
  it("answers the word count, length and digest of the last user message", () => {
    const text = "  Ship the order\tto Berlin  "
    const digest = createHash("sha256").update(text).digest("hex").slice(0, 12)
    expect(JSON.parse(answerFor(text))).toEqual({ words: 5, chars: text.length, digest })
    expect(JSON.parse(answerFor(""))).toMatchObject({ words: 0, chars: 0 })
    const answer = defaultResponder({
      model: "m",
      maxTokens: 10,
      messages: [
        { role: "user", content: "first" },
        { role: "assistant", content: "ok" },
        { role: "user", content: text },
        { role: "system", content: "trailing" }
      ]
    })
    expect(answer).toBe(answerFor(text))
  })

  it("cuts an answer to its allowance and finishes with length", () => {
    expect(fit("abcdefghij", 10)).toEqual({ content: "abcdefghij", completionTokens: 3, finishReason: "stop" })
    expect(fit("abcdefghij", 2)).toEqual({ content: "abcdefgh", completionTokens: 2, finishReason: "length" })
  })
})

describe("Latency", () => {
  it("repeats with a seed", () => {
    const a = random(42)
    const b = random(42)
    const xs = Array.from({ length: 100 }, () => a())
    expect(Array.from({ length: 100 }, () => b())).toEqual(xs)
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true)
    expect(random(43)()).not.toBe(xs[0])
  })

  it("draws a lognormal around its median, and 0 answers at once", () => {
    const sample = lognormal(random(7), 200, 0.5)
    const xs = Array.from({ length: 20_000 }, sample).sort((x, y) => x - y)
    expect(xs[10_000]!).toBeGreaterThan(190)
    expect(xs[10_000]!).toBeLessThan(210)
    // The tail is long: the 95th percentile is about median × e^(1.645 σ) ≈ 455.
    expect(xs[19_000]!).toBeGreaterThan(400)
    expect(lognormal(random(7), 0, 0.5)()).toBe(0)
    expect(lognormal(random(7), 150, 0)()).toBe(150)
  })
})
