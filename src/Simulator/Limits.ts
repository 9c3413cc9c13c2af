/**
 * The simulator's two limits, requests and tokens per minute, decided together: a request is
 * charged to both buckets or to neither, as OpenAI admits it.
 *
 * @since 0.1.0
 */
import { formatDurationMs } from "../Llm/RateLimitHeaders.js"
import { Bucket } from "./Bucket.js"

/**
 * What the limits say about one request.
 *
 * @since 0.1.0
 * @category models
 */
export type Decision =
  | { readonly _tag: "Admitted" }
  | { readonly _tag: "Limited"; readonly kind: "requests" | "tokens"; readonly bucket: Bucket; readonly waitMs: number }
  | { readonly _tag: "TooLarge"; readonly limit: number; readonly requested: number }

const admitted: Decision = { _tag: "Admitted" }

/**
 * @since 0.1.0
 * @category models
 */
export class Limits {
  readonly requests: Bucket | undefined
  readonly tokens: Bucket | undefined

  /** A limit of 0 means unlimited: no bucket and no headers for it. */
  constructor(rpm: number, tpm: number, now: number) {
    this.requests = rpm > 0 ? new Bucket(rpm, now, 1) : undefined
    this.tokens = tpm > 0 ? new Bucket(tpm, now) : undefined
  }

  /** Charges one request and `tokens` when both buckets hold enough; else says how long to wait. */
  admit(tokens: number, now: number): Decision {
    const t = this.tokens
    if (t !== undefined && t.exceedsCapacity(tokens)) return { _tag: "TooLarge", limit: t.limit, requested: tokens }
    const r = this.requests
    const requestWait = r?.waitMs(1, now) ?? 0
    const tokenWait = t?.waitMs(tokens, now) ?? 0
    // Name the limit that binds longest: that wait is the one the client must honour.
    if (r !== undefined && requestWait > 0 && requestWait >= tokenWait) {
      return { _tag: "Limited", kind: "requests", bucket: r, waitMs: requestWait }
    }
    if (t !== undefined && tokenWait > 0) return { _tag: "Limited", kind: "tokens", bucket: t, waitMs: tokenWait }
    this.requests?.take(1, now)
    t?.take(tokens, now)
    return admitted
  }

  /** Returns the allowance a completion did not use, so the ledger settles to actual usage. */
  refund(tokens: number, now: number): void {
    if (tokens > 0) this.tokens?.refund(tokens, now)
  }

  /** The `x-ratelimit-*` headers for the configured limits, as of `now`. */
  headers(now: number): Record<string, string> {
    const out: Record<string, string> = {}
    const put = (kind: "requests" | "tokens", bucket: Bucket | undefined) => {
      if (bucket === undefined) return
      out[`x-ratelimit-limit-${kind}`] = String(bucket.limit)
      out[`x-ratelimit-remaining-${kind}`] = String(bucket.remaining(now))
      out[`x-ratelimit-reset-${kind}`] = formatDurationMs(bucket.resetMs(now))
    }
    put("requests", this.requests)
    put("tokens", this.tokens)
    return out
  }

  /** Both buckets back to full. */
  reset(now: number): void {
    this.requests?.reset(now)
    this.tokens?.reset(now)
  }
}
