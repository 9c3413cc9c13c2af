/**
 * What an upstream's HTTP answer means for sluice: the one status → error mapping, and the one reading
 * of `retry-after`, used by every HTTP adapter (the OpenAI client, the paged HTTP source, a host's own
 * client). One table, so the same answer gets the same action from the policy (`Engine/Policy.ts`)
 * whichever adapter received it:
 *
 * | status | error | action |
 * | --- | --- | --- |
 * | 429 | `RateLimited` (wait: `retry-after`, else 1 s) | pause, no attempt spent |
 * | 401, 403 | `UpstreamUnusable` (`Unauthorized`) | stop the session, items stay pending |
 * | 408, 409, 5xx | `Transient` (with the upstream's `retry-after`, when it sent one) | retry with backoff |
 * | any other | `Invalid` | the item fails, kept for `sluice retry` |
 *
 * 409 Conflict is retried. It says the request collided with the resource's current state, and the
 * collisions an upstream reports are mostly momentary: a request with the same idempotency key still in
 * flight (Stripe's documented 409), a lock or a concurrent edit, OpenAI's 409 (its own SDKs retry it, as
 * they retry 408 and 5xx). A retry is cheap and bounded by `maxAttempts`; a conflict that does not
 * clear still ends `Failed` with the upstream's words. Failing at once would instead lose, for good,
 * items whose conflict had cleared a second later.
 *
 * A rejected credential (401, 403) fails every call alike, so it stops the session at the first
 * rather than fail every item in turn; its message never carries the upstream's words, which may quote
 * part of the key.
 *
 * @since 0.1.0
 */
import { Invalid, RateLimited, type RateLimitSnapshot, Transient, UpstreamUnusable } from "./Errors.js"

/**
 * Reads one response header by name (case-insensitive where the source of headers is): a `Headers`
 * object's `get`, or a lookup in a plain record.
 *
 * @since 0.1.0
 */
export type HeaderGetter = (name: string) => string | null | undefined

/**
 * A getter over a plain record of lower-case header names (`@effect/platform`'s `Headers`, Node's).
 *
 * @since 0.1.0
 */
export const fromRecord =
  (headers: Readonly<Record<string, string | undefined>>): HeaderGetter =>
  (name) =>
    headers[name.toLowerCase()]

/**
 * What a 429 that names no wait is taken to ask for.
 *
 * @since 0.1.0
 */
export const DEFAULT_RETRY_AFTER_MS = 1_000

const num = (value: string | null | undefined): number | undefined => {
  if (value === null || value === undefined || value.trim() === "") return undefined
  const n = Number(value)
  return Number.isFinite(n) ? n : undefined
}

/**
 * How long the upstream asks us to wait: `retry-after-ms` first (fractional milliseconds, OpenAI's),
 * else `retry-after` in seconds or as an HTTP date; undefined when neither is usable.
 *
 * @since 0.1.0
 */
export const retryAfterMs = (get: HeaderGetter, now: number = Date.now()): number | undefined => {
  const ms = num(get("retry-after-ms"))
  if (ms !== undefined && ms >= 0) return ms
  const raw = get("retry-after")
  if (raw === null || raw === undefined || raw.trim() === "") return undefined
  const seconds = num(raw)
  if (seconds !== undefined && seconds >= 0) return seconds * 1000
  const date = Date.parse(raw)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

/**
 * The errors an HTTP status maps to.
 *
 * @since 0.1.0
 */
export type StatusError = RateLimited | Transient | Invalid | UpstreamUnusable

/**
 * @since 0.1.0
 */
export interface StatusOptions {
  /** The message for a 401/403, e.g. which setting holds the key. Default: "<name> rejected the credentials (<status>)". */
  readonly unauthorized?: ((status: number) => string) | undefined
  /** Names the upstream in the default 401/403 message. Default "upstream". */
  readonly name?: string | undefined
  /** The rate-limit headers read from the same answer, carried by a `RateLimited`. */
  readonly rateLimit?: RateLimitSnapshot | undefined
  /** What went wrong underneath (the client's error), carried as the error's `cause`. */
  readonly cause?: unknown
}

/**
 * The typed error for a non-2xx answer (the table in the module comment). `message` should already be
 * one short line with no secrets in it.
 *
 * @since 0.1.0
 */
export const fromStatus = (
  status: number,
  headers: HeaderGetter,
  message: string,
  options: StatusOptions = {}
): StatusError => {
  const wait = retryAfterMs(headers)
  const cause = options.cause === undefined ? {} : { cause: options.cause }
  if (status === 429) {
    return new RateLimited({
      retryAfterMs: wait ?? DEFAULT_RETRY_AFTER_MS,
      ...(options.rateLimit !== undefined ? { rateLimit: options.rateLimit } : {}),
      message,
      ...cause
    })
  }
  if (status === 401 || status === 403) {
    // No cause either: the client's error holds the upstream's words.
    return new UpstreamUnusable({
      reason: "Unauthorized",
      status,
      message: options.unauthorized?.(status) ?? `${options.name ?? "upstream"} rejected the credentials (${status})`
    })
  }
  if (status === 408 || status === 409 || status >= 500) {
    return new Transient({
      reason: "Status",
      status,
      ...(wait !== undefined ? { retryAfterMs: wait } : {}),
      message,
      ...cause
    })
  }
  return new Invalid({ reason: "Status", status, message, ...cause })
}
