/**
 * One limit of Admission's ledger (requests, tokens, or input/output tokens apart): its bucket, our own
 * ledger of what the upstream is owed, our belief about its headers; a call's cost against each kind;
 * and the ticket an admitted cost becomes.
 *
 * @since 0.3.0
 */
import type { Bound, Reservation } from "./Admission.js"
import * as Bucket from "./Bucket.js"
import * as HeaderBelief from "./HeaderBelief.js"

/** @since 0.3.0 */
export type Kind = "requests" | "tokens" | "input" | "output"

/** @since 0.3.0 */
export const KINDS: ReadonlyArray<Kind> = ["requests", "tokens", "input", "output"]

/**
 * One limit: its bucket, our own ledger of what the upstream is owed, and what we believe of its headers.
 *
 * @since 0.3.0
 */
export interface Limit {
  readonly kind: Kind
  readonly bucket: Bucket.Bucket
  /** What an upstream counting as we do would be owed now, if it keeps every reservation... */
  owedKept: number
  /** ...and if it gives the unused allowance back at the answer. */
  owedRefunded: number
  readonly belief: HeaderBelief.Belief
}

/**
 * One call's cost against each kind of limit.
 *
 * @since 0.3.0
 */
export interface Costs {
  readonly requests: number
  readonly tokens: number
  readonly input: number
  readonly output: number
}

/** @since 0.3.0 */
export const costOf = (costs: Costs, kind: Kind): number =>
  kind === "requests"
    ? costs.requests
    : kind === "tokens"
      ? costs.tokens
      : kind === "input"
        ? costs.input
        : costs.output

/** @since 0.3.0 */
export const positive = (n: number | undefined): number | undefined =>
  n !== undefined && Number.isFinite(n) && n > 0 ? n : undefined

/**
 * A new limit starts a little short of full: 15% of its window, and at least one request. The first
 * calls reach the upstream tens of milliseconds after they are admitted (connections are still
 * opening), so the upstream's bucket starts refilling later than ours; without this margin the
 * first burst can outrun its refill and draw a 429.
 *
 * @since 0.3.0
 */
export const makeLimit = (
  kind: Kind,
  limit: number,
  windowMs: number,
  full: boolean,
  assumeRefunds: boolean,
  belief: HeaderBelief.Belief = HeaderBelief.make()
): Limit => {
  const min = kind === "requests" ? 1 : 0
  const capacity = Math.max((limit * windowMs) / 60_000, min)
  const margin = full ? 0 : Math.max(min, capacity * 0.15)
  if (assumeRefunds) belief.refunds = true
  return { kind, bucket: Bucket.make(limit, windowMs, min, margin), owedKept: 0, owedRefunded: 0, belief }
}

/**
 * An admitted cost, settled at most once.
 *
 * @since 0.3.0
 */
export class Ticket implements Reservation {
  settled = false
  constructor(
    readonly requests: number,
    // Mutable only through `Ledger.lower`, before the call is sent.
    public tokens: number,
    public inputTokens: number,
    public outputTokens: number,
    readonly admittedAtMs: number,
    readonly waitedMs: number,
    readonly boundBy: Bound | undefined
  ) {}
}
