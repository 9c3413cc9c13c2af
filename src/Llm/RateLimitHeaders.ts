/**
 * Rate-limit headers as upstreams send them, read into one `RateLimitSnapshot`. What they MEAN (is
 * `remaining` out of the minute or of a short window?) is not decided here but by `Governor/HeaderBelief.ts`.
 *
 * - OpenAI (and compatible servers, Azure partly): `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`,
 *   resets as Go-style durations ("1s", "6m0s", "20ms", "1h2m3.5s"); Azure sends only `remaining`.
 * - Anthropic: `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}`,
 *   resets as RFC 3339 times.
 * - OpenRouter and other gateways: `x-ratelimit-{limit,remaining,reset}` for requests, reset as an
 *   epoch time in milliseconds (or seconds).
 * - A 429's wait: `retry-after-ms`, else `retry-after` in seconds or as an HTTP date.
 *
 * @since 0.1.0
 */
import type { RateLimitSnapshot } from "../Domain/Errors.js"
import * as Upstream from "../Domain/Upstream.js"

const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1, us: 0.001, µs: 0.001, ns: 0.000001 }

/**
 * Parses a Go-style duration into milliseconds; undefined when it is not one.
 *
 * @since 0.1.0
 */
export const parseDurationMs = (text: string): number | undefined => {
  const s = text.trim()
  if (s.length === 0) return undefined
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s) * 1000
  const re = /(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)/g
  let total = 0
  let consumed = 0
  for (const match of s.matchAll(re)) {
    if (match.index !== consumed) return undefined
    total += Number(match[1]) * (UNIT_MS[match[2]!] ?? 0)
    consumed += match[0].length
  }
  return consumed === s.length ? total : undefined
}

/**
 * Formats milliseconds the way OpenAI does: "20ms" below a second, else "1m3.5s"-style.
 *
 * @since 0.1.0
 */
export const formatDurationMs = (ms: number): string => {
  const v = Math.max(0, ms)
  if (v < 1000) return `${Math.ceil(v)}ms`
  const h = Math.floor(v / 3_600_000)
  const m = Math.floor((v % 3_600_000) / 60_000)
  const s = Math.round(((v % 60_000) / 1000) * 1000) / 1000
  return `${h > 0 ? `${h}h` : ""}${h > 0 || m > 0 ? `${m}m` : ""}${s}s`
}

/**
 * A reset header in milliseconds from `now`: a Go-style duration, a bare number of seconds, an epoch
 * time (a bare number too large to be a wait: milliseconds, or seconds), or an RFC 3339 / HTTP date.
 *
 * @since 0.2.0
 */
export const parseResetMs = (text: string, now: number = Date.now()): number | undefined => {
  const s = text.trim()
  if (/^\d+(\.\d+)?$/.test(s)) {
    const n = Number(s)
    // A wait of more than a day is an epoch time, not a duration.
    if (n > 1e11) return Math.max(0, n - now)
    if (n > 86_400) return Math.max(0, n * 1000 - now)
    return n * 1000
  }
  const duration = parseDurationMs(s)
  if (duration !== undefined) return duration
  const date = Date.parse(s)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

/**
 * Reads one response header by name (`Domain/Upstream.ts`, shared with every HTTP adapter).
 *
 * @since 0.1.0
 */
export type HeaderGetter = Upstream.HeaderGetter

const num = (v: string | null | undefined): number | undefined => {
  if (v === null || v === undefined || v.trim() === "") return undefined
  const n = Number(v)
  return Number.isFinite(n) ? n : undefined
}

/**
 * How long a 429 asks us to wait: read once, in `Domain/Upstream.ts`, for every HTTP adapter.
 *
 * @since 0.1.0
 */
export const retryAfterMs = Upstream.retryAfterMs

/**
 * Reads the `x-ratelimit-*` headers; undefined when the upstream sent none.
 *
 * @since 0.1.0
 */
export const snapshot = (get: HeaderGetter, now: number = Date.now()): RateLimitSnapshot | undefined => {
  const reset = (name: string) => {
    const v = get(name)
    return v === null || v === undefined ? undefined : parseResetMs(v, now)
  }
  const a = (kind: string, field: string) => get(`anthropic-ratelimit-${kind}-${field}`)
  const anthropicSplit = a("input-tokens", "limit") !== null && a("input-tokens", "limit") !== undefined
  const fields = {
    limitRequests:
      num(get("x-ratelimit-limit-requests")) ?? num(a("requests", "limit")) ?? num(get("x-ratelimit-limit")),
    remainingRequests:
      num(get("x-ratelimit-remaining-requests")) ??
      num(a("requests", "remaining")) ??
      num(get("x-ratelimit-remaining")),
    resetRequestsMs:
      reset("x-ratelimit-reset-requests") ?? reset("anthropic-ratelimit-requests-reset") ?? reset("x-ratelimit-reset"),
    // Anthropic's combined `tokens-*` repeats the tighter of its input and output limits: not a limit of its own.
    limitTokens: num(get("x-ratelimit-limit-tokens")) ?? (anthropicSplit ? undefined : num(a("tokens", "limit"))),
    remainingTokens:
      num(get("x-ratelimit-remaining-tokens")) ?? (anthropicSplit ? undefined : num(a("tokens", "remaining"))),
    resetTokensMs:
      reset("x-ratelimit-reset-tokens") ?? (anthropicSplit ? undefined : reset("anthropic-ratelimit-tokens-reset")),
    limitInputTokens: num(a("input-tokens", "limit")),
    remainingInputTokens: num(a("input-tokens", "remaining")),
    resetInputTokensMs: reset("anthropic-ratelimit-input-tokens-reset"),
    limitOutputTokens: num(a("output-tokens", "limit")),
    remainingOutputTokens: num(a("output-tokens", "remaining")),
    resetOutputTokensMs: reset("anthropic-ratelimit-output-tokens-reset")
  }
  const present = Object.entries(fields).filter(([, v]) => v !== undefined)
  return present.length === 0 ? undefined : (Object.fromEntries(present) as RateLimitSnapshot)
}
