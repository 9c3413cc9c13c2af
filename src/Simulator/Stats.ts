/**
 * What the simulator counted and logged. These are Schemas because benchmarks, the CLI and tests in
 * other processes read them as JSON from `GET /_sim/stats` and `GET /_sim/log` (or the log file),
 * and decode them there.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * Counters since start or the last reset.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Stats = Schema.Struct({
  /** Chat-completion requests that arrived, whatever they were answered. */
  received: Schema.Number,
  /** Answered 200. */
  accepted: Schema.Number,
  /** Answered 429, too-large requests included. */
  rateLimited: Schema.Number,
  /** Answered 429 because the request could never fit the TPM limit. */
  tooLarge: Schema.Number,
  /** Answered 500 (injected faults) or 503 (outage). */
  errors: Schema.Number,
  /** Answered 400. */
  badRequests: Schema.Number,
  /** Answered 401. */
  unauthorized: Schema.Number,
  /** Admitted requests not yet answered: what the upstream is working on now. */
  inFlight: Schema.Number,
  /** The most admitted requests in flight at once. */
  peakInFlight: Schema.Number,
  /** Prompt tokens of admitted requests. */
  promptTokens: Schema.Number,
  /** Completion tokens of answered requests. */
  completionTokens: Schema.Number,
  /**
   * Tokens charged to the TPM ledger after settlement: prompt plus completion of every admitted
   * request, plus the full allowance of those still in flight.
   */
  tokensCharged: Schema.Number
})

/** @since 0.1.0 */
export type Stats = typeof Stats.Type

/**
 * One admitted request (charged to the limits): one line of the log file.
 *
 * @since 0.1.0
 * @category schemas
 */
export const LogEntry = Schema.Struct({
  /** Admission order, from 1. */
  seq: Schema.Number,
  /** Arrival time, Unix epoch milliseconds. */
  arrivedAt: Schema.Number,
  /** The status answered: 200, or 500 for an injected fault. */
  status: Schema.Number,
  model: Schema.String,
  /** The last user message's content. */
  content: Schema.String
})

/** @since 0.1.0 */
export type LogEntry = typeof LogEntry.Type

/**
 * Counters at start.
 *
 * @since 0.1.0
 */
export const emptyStats: Stats = {
  received: 0,
  accepted: 0,
  rateLimited: 0,
  tooLarge: 0,
  errors: 0,
  badRequests: 0,
  unauthorized: 0,
  inFlight: 0,
  peakInFlight: 0,
  promptTokens: 0,
  completionTokens: 0,
  tokensCharged: 0
}
