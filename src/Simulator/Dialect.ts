/**
 * How an upstream speaks about its limits: which rate headers it sends and what they mean, how a 429
 * says when to retry, whether unused `max_tokens` allowance comes back at the answer, and how short a
 * window the per-minute limits are enforced over. Each preset follows what that provider DOCUMENTS,
 * not what sluice's client would find convenient; where the documents are silent, the preset says
 * which choice it made.
 *
 * - `openai`: `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, remaining out of the minute,
 *   resets as Go durations (`6m0s`, `1.2s`, `17ms`); a 429 carries only a whole-second `retry-after`
 *   (the one OpenAI documents); prompt + `max_tokens` is charged at admission and kept (the rate-limit
 *   guide counts `max_tokens` against TPM); enforced over one-second windows (its guide: 60,000 RPM
 *   may be enforced as 1,000 requests per second).
 * - `compat`: an OpenAI-compatible gateway: the same header names, but `remaining` is what its short
 *   enforcement window (200 ms) holds now while `limit` stays per minute; `retry-after-ms` and
 *   `retry-after`; charges adjusted to actual use at the answer.
 * - `anthropic`: `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}`,
 *   resets as RFC 3339 times (whole seconds), token `remaining` rounded to the thousand, separate input
 *   and output token limits (output = `otpm`, by default a fifth of `tpm`; `tokens-*` repeats the
 *   tighter of the two); output tokens estimated from `max_tokens` at the start and adjusted to actual
 *   use at the end; a whole-second `retry-after`.
 * - `azure`: Azure OpenAI: only `x-ratelimit-remaining-{requests,tokens}` (no limit, no reset),
 *   remaining of the enforcement window; `retry-after-ms` and `retry-after`; `max_tokens` reserved
 *   at admission and released when the request finishes.
 * - `local`: vLLM, llama.cpp and other local servers: no rate headers at all; a 429 (from a proxy in
 *   front) says `retry-after` as an HTTP date.
 * - `legacy`: the simulator before dialects (the default, which older tests rely on): OpenAI's headers
 *   out of the minute, `retry-after-ms`, and refunds.
 *
 * @since 0.2.0
 */

/**
 * @since 0.2.0
 * @category models
 */
export const dialectNames = ["openai", "compat", "anthropic", "azure", "local", "legacy"] as const

/** @since 0.2.0 */
export type DialectName = (typeof dialectNames)[number]

/**
 * @since 0.2.0
 * @category models
 */
export interface Dialect {
  /** Which header names it sends; "none" sends no rate headers. */
  readonly headers: "openai" | "anthropic" | "azure" | "none"
  /** `remaining` out of the per-minute limit, or of the short enforcement window. */
  readonly remaining: "minute" | "window"
  /** A reset as a duration until full, or as the RFC 3339 time it will be full. */
  readonly reset: "duration" | "rfc3339"
  /** A 429's wait: `retry-after-ms` plus whole-second `retry-after`, whole seconds only, or an HTTP date. */
  readonly retryAfter: "ms" | "seconds" | "date"
  /** Unused `max_tokens` allowance is given back when the answer is known. */
  readonly refund: boolean
  /** The span of the per-minute limit its buckets hold: the enforcement window. */
  readonly windowMs: number
  /** Separate input- and output-token limits instead of one combined TPM. */
  readonly splitTokens: boolean
}

/**
 * @since 0.2.0
 */
export const presets: Record<DialectName, Dialect> = {
  openai: {
    headers: "openai",
    remaining: "minute",
    reset: "duration",
    retryAfter: "seconds",
    refund: false,
    windowMs: 1_000,
    splitTokens: false
  },
  compat: {
    headers: "openai",
    remaining: "window",
    reset: "duration",
    retryAfter: "ms",
    refund: true,
    windowMs: 200,
    splitTokens: false
  },
  anthropic: {
    headers: "anthropic",
    remaining: "minute",
    reset: "rfc3339",
    retryAfter: "seconds",
    refund: true,
    windowMs: 1_000,
    splitTokens: true
  },
  azure: {
    headers: "azure",
    remaining: "window",
    reset: "duration",
    retryAfter: "ms",
    refund: true,
    windowMs: 1_000,
    splitTokens: false
  },
  local: {
    headers: "none",
    remaining: "minute",
    reset: "duration",
    retryAfter: "date",
    refund: true,
    windowMs: 1_000,
    splitTokens: false
  },
  legacy: {
    headers: "openai",
    remaining: "minute",
    reset: "duration",
    retryAfter: "ms",
    refund: true,
    windowMs: 1_000,
    splitTokens: false
  }
}

/**
 * A preset with individual overrides.
 *
 * @since 0.2.0
 */
export const resolve = (name: DialectName | undefined, overrides: Partial<Dialect> = {}): Dialect => {
  const base = presets[name ?? "legacy"]
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined))
  return { ...base, ...defined }
}

/**
 * The `retry-after` headers of a 429 that asks for `waitMs`.
 *
 * @since 0.2.0
 */
export const retryAfterHeaders = (dialect: Dialect, waitMs: number, nowEpochMs: number): Record<string, string> => {
  const seconds = Math.max(1, Math.ceil(waitMs / 1000))
  switch (dialect.retryAfter) {
    case "ms":
      // Rounded up to the microsecond: exact for any client, never early.
      return { "retry-after": String(seconds), "retry-after-ms": String(Math.ceil(waitMs * 1000) / 1000) }
    case "seconds":
      return { "retry-after": String(seconds) }
    case "date":
      // An HTTP date has whole seconds: rounded up so it is never early.
      return { "retry-after": new Date(Math.ceil((nowEpochMs + waitMs) / 1000) * 1000).toUTCString() }
  }
}
