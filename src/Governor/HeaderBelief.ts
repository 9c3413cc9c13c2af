/**
 * What a rate-limit header reading is allowed to change, decided from evidence rather than from one
 * upstream's documentation. Pure: `Admission` feeds it readings, its own ledger and the 429s it saw.
 *
 * Upstreams mean different things by the same headers. `x-ratelimit-remaining-*` is what is left of
 * the minute on OpenAI, but what a short enforcement window holds now on some compatible gateways,
 * while `x-ratelimit-limit-*` stays per minute there: `limit − remaining` then reads as a deficit of
 * most of a minute and would throttle a client to a fraction of its budget. A reset (a duration or a
 * time when the bucket is full again) gives the deficit as `reset × rate` on every upstream that sends it.
 *
 * THE SIGNALS AND WHAT THEY DECIDE
 * - The client's own ledger (`owed`): what an upstream counting exactly as we do would be owed now.
 *   It bounds what a reading may claim: a deficit above `owed + slack` is implausible and ignored,
 *   unless a 429 recently showed that our accounting misses something (another consumer of the key,
 *   a shorter window). So without a 429 behind it, no reading can throttle us below what our own
 *   accounting of the configured limits allows.
 * - Each reading (remaining, reset) earns trust when it agrees with the ledger and loses it when it
 *   claims the implausible; after a 429 an implausible reading is believed only from a source whose
 *   trust is not negative, so a reading that never made sense is not believed because a 429 came.
 * - Of the believed readings, the larger deficit is applied (the safer), and it only ever lowers a
 *   level; without a 429 behind it, never below what our own ledger says.
 * - Refunds: the ledger is kept twice, as if the upstream kept every `max_tokens` reservation and as
 *   if it gave the unused part back at the answer. A trusted reading close to one and far from the
 *   other is a vote; REFUND_VOTES net votes make the refund believed. Until then none is assumed. A
 *   429 not explained by our ledger while refunds are believed takes the belief back.
 *
 * @since 0.2.0
 */

/**
 * A deficit an upstream's headers imply, in the limit's units.
 *
 * @since 0.2.0
 */
export interface Reading {
  readonly source: "remaining" | "reset"
  readonly deficit: number
}

/**
 * The readings one header snapshot gives for one limit.
 *
 * @since 0.2.0
 */
export const readings = (
  limit: number,
  remaining: number | undefined,
  resetMs: number | undefined,
  headerLimit: number | undefined
): Array<Reading> => {
  const out: Array<Reading> = []
  // `remaining` is only comparable to a limit the upstream itself stated (or the one we enforce).
  const base = headerLimit ?? limit
  if (remaining !== undefined && Number.isFinite(remaining)) {
    out.push({ source: "remaining", deficit: Math.max(0, base - remaining) })
  }
  if (resetMs !== undefined && Number.isFinite(resetMs) && resetMs >= 0) {
    out.push({ source: "reset", deficit: (resetMs * limit) / 60_000 })
  }
  return out
}

/** Trust is bounded so a long-trusted reading can still be unlearned quickly. */
const TRUST_MAX = 5
/**
 * Net votes that make a refund believed.
 *
 * @since 0.2.0
 */
export const REFUND_VOTES = 4

/**
 * @since 0.2.0
 * @category models
 */
export interface Belief {
  /** Agreement score per reading source. */
  readonly trust: { remaining: number; reset: number }
  /** Net refund votes: positive says the upstream refunds unused allowance. */
  refundVotes: number
  refunds: boolean
  /** Whether readings vote on refunds; false where the belief comes from the upstream's documents. */
  readonly votes: boolean
  /** When the limit became known: a 429 for a call admitted before then says nothing of this belief. */
  readonly sinceMs: number
}

/** @since 0.2.0 */
export const make = (): Belief => ({
  trust: { remaining: 0, reset: 0 },
  refundVotes: 0,
  refunds: false,
  votes: true,
  sinceMs: Number.NEGATIVE_INFINITY
})

/**
 * A refund believed from the start, for a limit whose headers identify an upstream that documents it:
 * Anthropic estimates output tokens from \`max_tokens\` when a request starts and adjusts them to the
 * tokens used when it ends. Its headers cannot show this to the ledger vote: output \`remaining\` is
 * rounded to the thousand and resets are whole-second RFC 3339 times rounded up, which overstate the
 * deficit by up to a second's refill and so always vote "kept" (measured: a request-bound run held to
 * 0.77 of its bound by output tokens charged at the allowance, ~50% above the answers). Readings do not
 * vote on it; a second 429 our ledger did not predict takes it back (\`unexpected429\`), for good.
 *
 * @since 0.2.0
 */
export const documentedRefund = (nowMs: number): Belief => ({
  trust: { remaining: 0, reset: 0 },
  refundVotes: REFUND_VOTES,
  refunds: true,
  votes: false,
  sinceMs: nowMs
})

/**
 * How much a reading may exceed the ledger and still be believed: latency skew (calls admitted while
 * the answer travelled), rounding (Anthropic rounds remaining tokens to thousands) and float error.
 *
 * @since 0.2.0
 */
export const slackOf = (limit: number, unit: "requests" | "tokens"): number =>
  Math.max(limit / 600, unit === "requests" ? 2 : 1_000)

/**
 * The deficit to apply, or undefined when nothing can be believed.
 *
 * @param owedKept the ledger as if nothing is refunded (the larger of the two)
 * @param contested a 429 recently showed that our ledger misses something
 */
export const decide = (
  belief: Belief,
  candidates: ReadonlyArray<Reading>,
  owedKept: number,
  slack: number,
  contested: boolean
): number | undefined => {
  let chosen: number | undefined
  for (const r of candidates) {
    const plausible = r.deficit <= owedKept + slack
    belief.trust[r.source] = Math.max(-TRUST_MAX, Math.min(TRUST_MAX, belief.trust[r.source] + (plausible ? 1 : -1)))
    // An implausible reading is believed only after a 429, and only from a source that has agreed with
    // our ledger more often than not: a reading that never made sense (a window's remaining read
    // against a minute's limit) does not become sense because a 429 came.
    if (!plausible && (!contested || belief.trust[r.source] < 0)) continue
    // Until a 429 says otherwise, our own ledger is the truth: a reading may lower a level to it (a
    // bucket clipped at full forgets what the ledger remembers), never below it. Readings are often
    // coarse (whole-second RFC 3339 resets, remaining rounded to the thousand), and a coarse reading
    // believed in full throttles for nothing.
    chosen = Math.max(chosen ?? 0, contested ? r.deficit : Math.min(r.deficit, owedKept))
  }
  return chosen
}

/**
 * One refund vote from a trusted reading: closer to the refunding ledger or to the keeping one. Votes
 * only when the two ledgers differ by more than the slack, so noise cannot decide.
 *
 * @since 0.2.0
 */
export const voteRefund = (
  belief: Belief,
  candidates: ReadonlyArray<Reading>,
  owedKept: number,
  owedRefunded: number,
  limit: number
): void => {
  // The two ledgers must differ by more than a reading's usual error: 100 ms of the limit, 100 tokens.
  // Coarser readings (Anthropic rounds token remaining to the thousand) vote at random; a false belief
  // then costs a 429, which takes it back.
  if (!belief.votes) return
  if (owedKept - owedRefunded <= Math.max(limit / 600, 100)) return
  const trusted = candidates.filter((r) => belief.trust[r.source] > 0)
  if (trusted.length === 0) return
  const d = Math.max(...trusted.map((r) => r.deficit))
  belief.refundVotes = Math.max(
    -REFUND_VOTES,
    Math.min(REFUND_VOTES, belief.refundVotes + (Math.abs(d - owedRefunded) < Math.abs(d - owedKept) ? 1 : -1))
  )
  if (belief.refundVotes >= REFUND_VOTES) belief.refunds = true
  else if (belief.refundVotes <= 0) belief.refunds = false
}

/**
 * A 429 our ledger did not predict: if refunds were believed, that belief goes.
 *
 * @since 0.2.0
 */
export const unexpected429 = (belief: Belief, admittedAtMs: number): void => {
  if (!belief.votes) {
    // Calls admitted before the limit was known (the first burst, before any headers) were never
    // accounted for under this belief.
    if (admittedAtMs < belief.sinceMs) return
    // A documented refund: one 429 can come from anything (another consumer of the key, the first
    // burst); the second says our accounting of this limit is wrong, and the belief goes for good.
    belief.refundVotes -= REFUND_VOTES / 2
    if (belief.refundVotes <= 0) belief.refunds = false
    return
  }
  if (belief.refunds) {
    belief.refunds = false
    belief.refundVotes = 0
  }
}
