/**
 * Rate headers applied to Admission's `Ledger`: limits not configured are learned from them, and the
 * levels are lowered to what a reading says, as far as `HeaderBelief.ts` finds the reading consistent
 * with our own ledger and the 429s we saw. Which signals decide what is written down there.
 *
 * @since 0.3.0
 */
import type { RateLimitSnapshot } from "../Domain/Errors.js"
import * as Bucket from "./Bucket.js"
import * as HeaderBelief from "./HeaderBelief.js"
import type { Ledger } from "./AdmissionLedger.js"
import { type Kind, makeLimit, positive } from "./AdmissionLimit.js"

/** Creates or resizes a limit from a header's stated limit; true when the limit is new. */
const learnLimit = (
  ledger: Ledger,
  kind: Kind,
  headerLimit: number | undefined,
  configured: number | undefined
): boolean => {
  if (headerLimit === undefined) return false
  // A configured limit is kept as a safety margin, unless the upstream says it is lower still.
  const limit = configured === undefined ? headerLimit : Math.min(configured, headerLimit)
  const existing = ledger.limits[kind]
  const discovering = kind === "requests" && ledger.discovering()
  if (existing !== undefined && existing.bucket.limit === limit && !discovering) return false
  const fresh = existing === undefined || discovering
  if (existing === undefined) {
    // Only Anthropic states a separate output limit, and it documents adjusting it to actual use.
    const belief = kind === "output" ? HeaderBelief.documentedRefund(ledger.last) : HeaderBelief.make()
    ledger.limits[kind] = makeLimit(kind, limit, ledger.windowMs, ledger.startFull, ledger.assumeRefunds, belief)
  } else Bucket.resize(existing.bucket, limit)
  if (kind === "requests") ledger.rpmSource = limit === ledger.configuredRpm ? "configured" : "headers"
  if (kind === "tokens") ledger.tpmSource = limit === ledger.configuredTpm ? "configured" : "headers"
  return fresh
}

/** Applies what the headers say of one limit's level, as far as it is believed. */
const resyncLimit = (
  ledger: Ledger,
  kind: Kind,
  fresh: boolean,
  headerLimit: number | undefined,
  remaining: number | undefined,
  resetMs: number | undefined,
  now: number
): void => {
  const l = ledger.limits[kind]
  if (l === undefined || (kind === "requests" && ledger.discovering())) return
  const candidates = HeaderBelief.readings(l.bucket.limit, remaining, resetMs, headerLimit)
  if (candidates.length === 0) return
  const b = l.bucket
  if (fresh) {
    // No ledger yet to judge by: start from the reset reading (meaningful on every upstream that
    // sends it), else remaining.
    const first = candidates.find((c) => c.source === "reset") ?? candidates[0]!
    l.owedKept = l.owedRefunded = first.deficit
    b.level = Math.max(-b.capacity, Math.min(b.capacity, b.capacity - first.deficit))
    return
  }
  const slack = HeaderBelief.slackOf(b.limit, kind === "requests" ? "requests" : "tokens")
  // Our ledger as we believe the upstream keeps it: with refunds believed, the refunding one.
  const owed = l.belief.refunds ? l.owedRefunded : l.owedKept
  const deficit = HeaderBelief.decide(l.belief, candidates, owed, slack, now < ledger.contestedUntil)
  if (kind !== "requests") HeaderBelief.voteRefund(l.belief, candidates, l.owedKept, l.owedRefunded, b.limit)
  // Headers only ever lower a level: a snapshot predates the calls admitted since it was taken, so
  // raising to it would count those twice; and a short bucket refills soon anyway.
  if (deficit !== undefined) b.level = Math.min(b.level, Math.max(-b.capacity, b.capacity - deficit))
}

/**
 * Applies one answer's rate headers. Returns the limits learned from them, for one log line; a
 * non-empty answer also means a waiting head may now fit, or never will.
 *
 * @since 0.3.0
 */
export const resync = (ledger: Ledger, s: RateLimitSnapshot, now: number): ReadonlyArray<string> => {
  ledger.refill(now)
  ledger.heard(now)
  const limits = ledger.limits
  const before = { rpm: limits.requests?.bucket.limit, tpm: limits.tokens?.bucket.limit }
  const split = s.limitInputTokens !== undefined || s.limitOutputTokens !== undefined
  const freshR = learnLimit(ledger, "requests", positive(s.limitRequests), ledger.configuredRpm)
  // Where input and output are limited apart, the combined tokens headers only repeat the tighter
  // of the two (Anthropic): a combined bucket would count both against one limit.
  const freshT = split ? false : learnLimit(ledger, "tokens", positive(s.limitTokens), ledger.configuredTpm)
  const freshI = learnLimit(ledger, "input", positive(s.limitInputTokens), ledger.configuredInputTpm)
  const freshO = learnLimit(ledger, "output", positive(s.limitOutputTokens), ledger.configuredOutputTpm)
  resyncLimit(ledger, "requests", freshR, positive(s.limitRequests), s.remainingRequests, s.resetRequestsMs, now)
  if (!split) resyncLimit(ledger, "tokens", freshT, positive(s.limitTokens), s.remainingTokens, s.resetTokensMs, now)
  resyncLimit(ledger, "input", freshI, positive(s.limitInputTokens), s.remainingInputTokens, s.resetInputTokensMs, now)
  resyncLimit(
    ledger,
    "output",
    freshO,
    positive(s.limitOutputTokens),
    s.remainingOutputTokens,
    s.resetOutputTokensMs,
    now
  )
  const learned: Array<string> = []
  if (ledger.rpmSource === "headers" && limits.requests?.bucket.limit !== before.rpm) {
    learned.push(`${limits.requests?.bucket.limit} RPM`)
  }
  if (ledger.tpmSource === "headers" && limits.tokens?.bucket.limit !== before.tpm) {
    learned.push(`${limits.tokens?.bucket.limit} TPM`)
  }
  if (freshI) learned.push(`${limits.input?.bucket.limit} input TPM`)
  if (freshO) learned.push(`${limits.output?.bucket.limit} output TPM`)
  return learned
}
