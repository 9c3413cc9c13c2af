/**
 * The simulator's limits, decided together: a request is charged to every bucket or to none, as
 * upstreams admit it. Requests and tokens per minute, or (Anthropic) requests, input tokens and output
 * tokens per minute; each enforced over the dialect's window and reported in the dialect's headers.
 *
 * @since 0.1.0
 */
import { formatDurationMs } from "../Llm/RateLimitHeaders.js"
import { Bucket } from "./Bucket.js"
import { type Dialect, presets } from "./Dialect.js"

/**
 * What the limits say about one request.
 *
 * @since 0.1.0
 * @category models
 */
export type Decision =
  | { readonly _tag: "Admitted" }
  | {
      readonly _tag: "Limited"
      readonly kind: "requests" | "tokens" | "input tokens" | "output tokens"
      readonly bucket: Bucket
      readonly requested: number
      readonly waitMs: number
    }
  | { readonly _tag: "TooLarge"; readonly limit: number; readonly requested: number }

const admitted: Decision = { _tag: "Admitted" }

/**
 * @since 0.1.0
 * @category models
 */
export class Limits {
  readonly requests: Bucket | undefined
  /** The combined TPM bucket; undefined where tokens are limited apart. */
  readonly tokens: Bucket | undefined
  readonly input: Bucket | undefined
  readonly output: Bucket | undefined

  /**
   * A limit of 0 means unlimited: no bucket and no headers for it. Where the dialect limits tokens
   * apart, `tpm` is the input limit and `otpm` (default a fifth of `tpm`) the output limit.
   */
  constructor(
    rpm: number,
    tpm: number,
    now: number,
    readonly dialect: Dialect = presets.legacy,
    otpm?: number
  ) {
    const w = dialect.windowMs
    this.requests = rpm > 0 ? new Bucket(rpm, now, 1, w) : undefined
    const split = dialect.splitTokens
    this.tokens = tpm > 0 && !split ? new Bucket(tpm, now, 0, w) : undefined
    this.input = tpm > 0 && split ? new Bucket(tpm, now, 0, w) : undefined
    const out = otpm ?? tpm / 5
    this.output = out > 0 && split ? new Bucket(out, now, 0, w) : undefined
  }

  /** Charges one request, its prompt and its allowance when every bucket holds enough; else how long to wait. */
  admit(prompt: number, now: number, maxTokens = 0): Decision {
    const checks: Array<[Extract<Decision, { _tag: "Limited" }>["kind"], Bucket | undefined, number]> = [
      ["requests", this.requests, 1],
      ["tokens", this.tokens, prompt + maxTokens],
      ["input tokens", this.input, prompt],
      ["output tokens", this.output, maxTokens]
    ]
    for (const [kind, b, cost] of checks) {
      if (kind !== "requests" && b !== undefined && b.exceedsCapacity(cost)) {
        return { _tag: "TooLarge", limit: b.limit, requested: cost }
      }
    }
    // Name the limit that binds longest: that wait is the one the client must honour.
    let worst: Decision | undefined
    for (const [kind, b, cost] of checks) {
      if (b === undefined) continue
      const waitMs = b.waitMs(cost, now)
      if (waitMs > 0 && (worst === undefined || (worst._tag === "Limited" && waitMs > worst.waitMs))) {
        worst = { _tag: "Limited", kind, bucket: b, requested: cost, waitMs }
      }
    }
    if (worst !== undefined) return worst
    for (const [, b, cost] of checks) b?.take(cost, now)
    return admitted
  }

  /** The answer is known: returns the allowance it did not use, where the dialect does. */
  settle(unusedAllowance: number, now: number): void {
    if (!this.dialect.refund || unusedAllowance <= 0) return
    this.tokens?.refund(unusedAllowance, now)
    this.output?.refund(unusedAllowance, now)
  }

  /** The rate headers the dialect sends, as of `now` (monotonic) and `epochMs` (wall clock). */
  headers(now: number, epochMs: number = Date.now()): Record<string, string> {
    const out: Record<string, string> = {}
    const d = this.dialect
    if (d.headers === "none") return out
    const remaining = (b: Bucket) => (d.remaining === "window" ? b.remainingInWindow(now) : b.remaining(now))
    const reset = (b: Bucket) =>
      d.reset === "duration"
        ? formatDurationMs(b.resetMs(now))
        : // RFC 3339 in whole seconds, rounded up: the time it is full again.
          new Date(Math.ceil((epochMs + b.resetMs(now)) / 1000) * 1000).toISOString().replace(".000Z", "Z")
    if (d.headers === "azure") {
      if (this.requests !== undefined) out["x-ratelimit-remaining-requests"] = String(remaining(this.requests))
      if (this.tokens !== undefined) out["x-ratelimit-remaining-tokens"] = String(remaining(this.tokens))
      return out
    }
    if (d.headers === "openai") {
      const put = (kind: string, b: Bucket | undefined) => {
        if (b === undefined) return
        out[`x-ratelimit-limit-${kind}`] = String(b.limit)
        out[`x-ratelimit-remaining-${kind}`] = String(remaining(b))
        out[`x-ratelimit-reset-${kind}`] = reset(b)
      }
      put("requests", this.requests)
      put("tokens", this.tokens)
      return out
    }
    // Anthropic: token remaining rounded to the nearest thousand, as its docs say.
    const put = (kind: string, b: Bucket | undefined, round: boolean) => {
      if (b === undefined) return
      const r = remaining(b)
      out[`anthropic-ratelimit-${kind}-limit`] = String(b.limit)
      out[`anthropic-ratelimit-${kind}-remaining`] = String(round ? Math.round(r / 1000) * 1000 : r)
      out[`anthropic-ratelimit-${kind}-reset`] = reset(b)
    }
    put("requests", this.requests, false)
    put("input-tokens", this.input, true)
    put("output-tokens", this.output, true)
    // `tokens-*`: the most restrictive token limit in effect now.
    const tighter = [this.input, this.output, this.tokens]
      .filter((b): b is Bucket => b !== undefined)
      .sort((a, b) => a.levelAt(now) / a.capacity - b.levelAt(now) / b.capacity)[0]
    put("tokens", tighter, true)
    return out
  }

  /** Every bucket back to full. */
  reset(now: number): void {
    for (const b of [this.requests, this.tokens, this.input, this.output]) b?.reset(now)
  }
}
