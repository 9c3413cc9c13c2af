import { describe, expect, it } from "vitest"
import { CompletionLength, MAX_ALLOWANCE, retryAllowance, START } from "../../src/Llm/CompletionLength.js"

const feed = (l: CompletionLength, lengths: ReadonlyArray<number>) => {
  for (const n of lengths) l.observe(n, l.allowance(), false)
}

describe("CompletionLength", () => {
  it("asks for START until four answers are in, then twice the longest of them", () => {
    const l = new CompletionLength()
    expect(l.allowance()).toBe(START)
    feed(l, [20, 30, 25])
    expect(l.allowance()).toBe(START)
    feed(l, [12])
    expect(l.allowance()).toBe(60)
    // Long early answers never take the first look above START.
    const long = new CompletionLength()
    feed(long, [200, 190, 210, 205])
    expect(long.allowance()).toBe(START)
  })

  it("reserves the 99.9th percentile with a wide margin while few answers are in, a narrow one after a thousand", () => {
    const l = new CompletionLength()
    // 16..999 answers: the percentile is the longest seen (40), plus 10% and 4 tokens.
    feed(
      l,
      Array.from({ length: 999 }, (_, i) => 24 + (i % 17))
    )
    expect(l.allowance()).toBe(Math.ceil(40 * 1.1 + 4))
    // From the thousandth on, 2% and 2 tokens.
    feed(l, [30])
    expect(l.allowance()).toBe(Math.ceil(40 * 1.02 + 2))
  })

  it("a cut-off answer raises the allowance for everyone after it, to twice what it was allowed", () => {
    const l = new CompletionLength()
    l.observe(START, START, true)
    expect(l.allowance()).toBe(2 * START)
    // Short answers later do not bring the first look under what a cut-off showed.
    feed(l, [10, 10, 10])
    expect(l.allowance()).toBe(2 * START)
  })

  it("retries with twice the room, up to a ceiling", () => {
    expect(retryAllowance(100)).toBe(200)
    expect(retryAllowance(MAX_ALLOWANCE - 1)).toBe(MAX_ALLOWANCE)
    expect(retryAllowance(MAX_ALLOWANCE)).toBeUndefined()
  })
})
