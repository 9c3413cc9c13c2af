/**
 * How a simulator is configured.
 *
 * @since 0.1.0
 */
import type { Redacted } from "effect"
import type { Dialect, DialectName } from "./Dialect.js"
import type { Responder } from "./Responder.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface SimulatorOptions {
  /** Port on 127.0.0.1; 0 (the default) picks a free one. */
  readonly port?: number | undefined
  /**
   * Requests per minute; 0 (the default) is unlimited. Enforced as a bucket of one second of the
   * limit (at least one request) refilled continuously, as OpenAI enforces minute limits.
   */
  readonly rpm?: number | undefined
  /**
   * Tokens per minute; 0 (the default) is unlimited. Enforced as a bucket of one second of the
   * limit; a request costs its prompt plus its `max_tokens` allowance, and the unused allowance is
   * refunded when it completes. A request costing more than a full bucket is refused as too large.
   */
  readonly tpm?: number | undefined
  /** Median latency of an admitted request in milliseconds; 0 (the default) answers at once. */
  readonly latencyMs?: number | undefined
  /** Shape of the lognormal latency: 0 is a fixed latency, 0.5 (the default) a realistic tail. */
  readonly latencySigma?: number | undefined
  /** Fraction (0..1) of admitted requests that answer 500 after their latency; default 0. */
  readonly errorRate?: number | undefined
  /**
   * How a 429 says when to retry: "ms" sends `retry-after-ms` (exact) and `retry-after` (whole
   * seconds, rounded up); "seconds" sends only `retry-after`, which is all OpenAI documents; "date"
   * sends `retry-after` as an HTTP date. Overrides the dialect's choice.
   */
  readonly retryAfter?: "ms" | "seconds" | "date" | undefined
  /** Which upstream to speak like (see `Dialect.ts`); default "legacy". */
  readonly dialect?: DialectName | undefined
  /** Individual overrides of the dialect's choices. */
  readonly dialectOverrides?: Partial<Dialect> | undefined
  /** Output tokens per minute where the dialect limits input and output apart; default `tpm / 5`. */
  readonly otpm?: number | undefined
  /**
   * Answers of about this many completion tokens (0.75× to 1.25×, fixed per item) instead of the
   * default ~13-token JSON answer. Ignored when `responder` is set.
   */
  readonly answerTokens?: number | undefined
  /** Seed of the latency and fault draws; the same seed repeats the same run. Default 1. */
  readonly seed?: number | undefined
  /** When set, every request must carry `Authorization: Bearer <apiKey>`, else 401. */
  readonly apiKey?: string | Redacted.Redacted<string> | undefined
  /** Appends one JSON line per admitted request to this file, synchronously. */
  readonly logFile?: string | undefined
  /** Produces the answer text; the default is `Responder.defaultResponder`. */
  readonly responder?: Responder | undefined
}
