/**
 * The typed failures every stage speaks. One exhaustive policy (`Engine/Policy.ts`) maps each to an
 * action, so adding a tag here does not compile until someone decides what it means.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * The upstream's rate-limit headers, as far as it sent them. Times are milliseconds until reset.
 *
 * @since 0.1.0
 */
export const RateLimitSnapshot = Schema.Struct({
  limitRequests: Schema.optional(Schema.Number),
  remainingRequests: Schema.optional(Schema.Number),
  resetRequestsMs: Schema.optional(Schema.Number),
  limitTokens: Schema.optional(Schema.Number),
  remainingTokens: Schema.optional(Schema.Number),
  resetTokensMs: Schema.optional(Schema.Number),
  /** Separate input- and output-token limits (Anthropic's `anthropic-ratelimit-{input,output}-tokens-*`). */
  limitInputTokens: Schema.optional(Schema.Number),
  remainingInputTokens: Schema.optional(Schema.Number),
  resetInputTokensMs: Schema.optional(Schema.Number),
  limitOutputTokens: Schema.optional(Schema.Number),
  remainingOutputTokens: Schema.optional(Schema.Number),
  resetOutputTokensMs: Schema.optional(Schema.Number)
})

/** @since 0.1.0 */
export type RateLimitSnapshot = typeof RateLimitSnapshot.Type

/**
 * The upstream said 429. Admission pauses for everyone until `retryAfterMs`; no attempt is spent.
 *
 * @since 0.1.0
 */
export class RateLimited extends Schema.TaggedError<RateLimited>()("RateLimited", {
  retryAfterMs: Schema.Number,
  rateLimit: Schema.optional(RateLimitSnapshot),
  message: Schema.String,
  /** What went wrong underneath (a client's error), for logs and traces; never a secret. */
  cause: Schema.optional(Schema.Defect)
}) {}

/**
 * Worth another attempt: a timeout, a 408/409/5xx, a dropped connection, a body that did not parse.
 *
 * @since 0.1.0
 */
export class Transient extends Schema.TaggedError<Transient>()("Transient", {
  reason: Schema.Literal("Timeout", "Status", "Connection", "Decode"),
  status: Schema.optional(Schema.Number),
  retryAfterMs: Schema.optional(Schema.Number),
  /**
   * A connection that failed while the upstream has never answered this process: when the attempts
   * run out, the run stops with the item pending (`UpstreamUnusable`) rather than failing it.
   */
  neverAnswered: Schema.optional(Schema.Boolean),
  message: Schema.String,
  /** What went wrong underneath (a client's error), for logs and traces; never a secret. */
  cause: Schema.optional(Schema.Defect)
}) {}

/**
 * Never worth another attempt: bad input, a 4xx other than 429, an answer that fails its Schema, or a
 * cost larger than the upstream could ever admit.
 *
 * @since 0.1.0
 */
export class Invalid extends Schema.TaggedError<Invalid>()("Invalid", {
  reason: Schema.Literal("Input", "Output", "Status", "TooLarge"),
  status: Schema.optional(Schema.Number),
  line: Schema.optional(Schema.Number),
  message: Schema.String,
  /** What went wrong underneath (a client's error), for logs and traces; never a secret. */
  cause: Schema.optional(Schema.Defect)
}) {}

/**
 * The circuit breaker is open: the item goes back to pending untouched, and is not failed.
 *
 * @since 0.1.0
 */
export class CircuitOpen extends Schema.TaggedError<CircuitOpen>()("CircuitOpen", {
  retryAtMs: Schema.Number,
  message: Schema.String
}) {}

/**
 * Admitting this item would pass the run's spending budget: it stays pending, and the run stops
 * admitting work, so it can resume later with a larger budget.
 *
 * @since 0.1.0
 */
export class OverBudget extends Schema.TaggedError<OverBudget>()("OverBudget", {
  budgetUsd: Schema.Number,
  spentUsd: Schema.Number,
  message: Schema.String
}) {}

/**
 * No call can succeed until someone fixes a setting: the upstream rejects the API key (401/403), or
 * it was never reachable (a wrong URL, a server that is not up, a blocked port). The item stays
 * pending and the session stops, so the same command resumes once the setting is fixed.
 *
 * @since 0.1.0
 */
export class UpstreamUnusable extends Schema.TaggedError<UpstreamUnusable>()("UpstreamUnusable", {
  reason: Schema.Literal("Unauthorized", "Unreachable"),
  status: Schema.optional(Schema.Number),
  message: Schema.String,
  /** What went wrong underneath (a client's error), for logs and traces; never a secret. */
  cause: Schema.optional(Schema.Defect)
}) {}

/**
 * Every error a stage may fail with.
 *
 * @since 0.1.0
 */
export type StageError = RateLimited | Transient | Invalid | CircuitOpen | OverBudget | UpstreamUnusable

/** @since 0.1.0 */
export const StageError = Schema.Union(RateLimited, Transient, Invalid, CircuitOpen, OverBudget, UpstreamUnusable)

/** @since 0.1.0 */
export type StageErrorTag = StageError["_tag"]
