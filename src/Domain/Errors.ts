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
  message: Schema.String
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
  message: Schema.String
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
  message: Schema.String
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
 * Every error a stage may fail with.
 *
 * @since 0.1.0
 */
export type StageError = RateLimited | Transient | Invalid | CircuitOpen | OverBudget

/** @since 0.1.0 */
export const StageError = Schema.Union(RateLimited, Transient, Invalid, CircuitOpen, OverBudget)

/** @since 0.1.0 */
export type StageErrorTag = StageError["_tag"]
