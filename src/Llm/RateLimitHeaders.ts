/**
 * OpenAI's rate-limit headers: `retry-after`, `retry-after-ms`, `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`.
 * Reset times come as Go-style durations ("1s", "6m0s", "20ms", "1h2m3.5s").
 *
 * @since 0.1.0
 */
import type { RateLimitSnapshot } from "../Domain/Errors.js"

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

/** A header lookup, so this works on `Headers`, Node's `IncomingHttpHeaders` and plain records. */
export type HeaderGetter = (name: string) => string | null | undefined

const num = (v: string | null | undefined): number | undefined => {
  if (v === null || v === undefined || v.trim() === "") return undefined
  const n = Number(v)
  return Number.isFinite(n) ? n : undefined
}

/**
 * How long a 429 asks us to wait: `retry-after-ms` first (fractional milliseconds), else
 * `retry-after` (seconds, or an HTTP date); undefined when neither is usable.
 *
 * @since 0.1.0
 */
export const retryAfterMs = (get: HeaderGetter, now: number = Date.now()): number | undefined => {
  const ms = num(get("retry-after-ms"))
  if (ms !== undefined && ms >= 0) return ms
  const raw = get("retry-after")
  if (raw === null || raw === undefined) return undefined
  const seconds = num(raw)
  if (seconds !== undefined && seconds >= 0) return seconds * 1000
  const date = Date.parse(raw)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

/**
 * Reads the `x-ratelimit-*` headers; undefined when the upstream sent none.
 *
 * @since 0.1.0
 */
export const snapshot = (get: HeaderGetter): RateLimitSnapshot | undefined => {
  const dur = (name: string) => {
    const v = get(name)
    return v === null || v === undefined ? undefined : parseDurationMs(v)
  }
  const fields = {
    limitRequests: num(get("x-ratelimit-limit-requests")),
    remainingRequests: num(get("x-ratelimit-remaining-requests")),
    resetRequestsMs: dur("x-ratelimit-reset-requests"),
    limitTokens: num(get("x-ratelimit-limit-tokens")),
    remainingTokens: num(get("x-ratelimit-remaining-tokens")),
    resetTokensMs: dur("x-ratelimit-reset-tokens")
  }
  const present = Object.entries(fields).filter(([, v]) => v !== undefined)
  return present.length === 0 ? undefined : (Object.fromEntries(present) as RateLimitSnapshot)
}
