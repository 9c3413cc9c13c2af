/**
 * The completion allowance (`max_tokens`) a request asks for when its caller set none, learned from
 * the answers.
 *
 * Upstreams charge the allowance, not the answer, against tokens per minute when they admit a call
 * (OpenAI keeps it), so a generous fixed default spends the budget several times faster than the
 * answers need: ~12-token answers under `max_tokens` 512 reserve ~645 tokens a call instead of ~165.
 * Instead: start at `START`; once `FIRST_LOOK` answers are in, reserve twice the longest of them
 * (capped at `START`); once `WARM_UP` are in, the 99.9th percentile of the recent answers' lengths
 * plus a margin, so nearly every answer fits.
 *
 * Why the first look: every call admitted before the figure is learned is charged `START` by an
 * upstream that keeps the allowance (OpenAI), and with a concurrency of 64 and answers taking ~300 ms,
 * waiting for 16 answers prices the first ~60 calls at `START`. That wave alone made the token limit
 * bind for the first second of a request-bound run (6,000 RPM, 1.2M TPM, ~115-token prompts: 100
 * calls/s × 371 tokens > 20,000 tokens/s), costing ~0.45 s of a 10 s run. The first few answers
 * arrive in ~150–250 ms; twice the longest of four is a generous guess that cuts the wave by about
 * half, and a cut-off answer is still re-asked and raises the figure for everyone after it. An answer cut off anyway
 * (`finish_reason: "length"`) is asked again with twice the room (`retryAllowance`), and its length
 * counts as at least that allowance, so the learned figure grows where answers are long.
 *
 * Pure and synchronous; one per model (`LlmGoverned` keeps them).
 *
 * @since 0.2.0
 */

/**
 * The allowance before anything is learned: enough for short structured answers; a longer one is
 * re-asked with more room, and the allowance learns from it.
 *
 * @since 0.2.0
 */
export const START = 256
/** Answers seen before twice the longest of them replaces `START`. */
const FIRST_LOOK = 4
/** How far above the longest early answer the first look reserves. */
const FIRST_LOOK_FACTOR = 2
/** Answers seen before the percentile replaces the first look. */
const WARM_UP = 16
/** The first look never asks for less than this, however short the early answers. */
const MIN_FIRST_LOOK = 16
/** Answers between two takes of the percentile. */
const REFRESH = 16
/** The recent answers the percentile is taken over. */
const WINDOW = 2_000
/**
 * The percentile reserved for, plus a margin of it and a few tokens. The margin covers what the
 * sample has not shown yet: below `SETTLED` answers the 99.9th percentile is really the longest seen,
 * which underestimates it, so the margin is wide; from `SETTLED` on it is a true percentile of the
 * recent answers and the margin narrows. An upstream that keeps the allowance (OpenAI) charges the
 * margin on every call, while an answer it cuts off costs one call in a thousand asked twice: a
 * 10% margin on ~45-token answers was 3% of every request-bound call's tokens.
 */
const QUANTILE = 0.999
const SETTLED = 1_000
const MARGIN_FEW = 0.1
const EXTRA_FEW = 4
const MARGIN_MANY = 0.02
const EXTRA_MANY = 2
/**
 * No learned or retried allowance goes above this: a model that rambles is cut off, not indulged.
 *
 * @since 0.2.0
 */
export const MAX_ALLOWANCE = 16_384

/**
 * @since 0.2.0
 * @category models
 */
export class CompletionLength {
  private readonly recent: Array<number> = []
  private next = 0
  private seen = 0
  private cached: number | undefined
  private longest = 0

  /** The allowance to ask for now. */
  allowance(): number {
    if (this.seen < FIRST_LOOK) return Math.max(START, this.cached ?? 0)
    if (this.seen < WARM_UP)
      return Math.max(Math.min(START, this.longest * FIRST_LOOK_FACTOR), this.cached ?? 0, MIN_FIRST_LOOK)
    if (this.cached !== undefined) return this.cached
    const sorted = this.recent.slice().sort((a, b) => a - b)
    const q = sorted[Math.min(sorted.length - 1, Math.ceil(QUANTILE * sorted.length) - 1)]!
    const settled = this.seen >= SETTLED
    const margin = settled ? MARGIN_MANY : MARGIN_FEW
    const extra = settled ? EXTRA_MANY : EXTRA_FEW
    this.cached = Math.min(MAX_ALLOWANCE, Math.ceil(q * (1 + margin) + extra))
    return this.cached
  }

  /**
   * An answer of `completionTokens` arrived; `cutOff` when it finished with "length", so its real
   * length is at least what was allowed.
   */
  observe(completionTokens: number, allowed: number, cutOff: boolean): void {
    if (!Number.isFinite(completionTokens) || completionTokens < 0) return
    const length = cutOff ? Math.max(completionTokens, allowed) * 2 : completionTokens
    if (this.recent.length < WINDOW) this.recent.push(length)
    else this.recent[this.next] = length
    this.next = (this.next + 1) % WINDOW
    this.seen++
    this.longest = Math.max(this.longest, length)
    // Before warm-up a cut-off raises the start figure for everyone after it.
    if (cutOff) this.cached = Math.min(MAX_ALLOWANCE, Math.max(this.cached ?? 0, length))
    // The percentile is re-taken every `REFRESH` answers, not on every one: it sorts up to `WINDOW`
    // lengths, and at a few hundred calls a second that sort showed in profiles.
    else if (this.seen >= WARM_UP && (this.seen % REFRESH === 0 || this.seen === SETTLED)) this.cached = undefined
  }
}

/**
 * The allowance for asking again after a "length" finish: twice as much, at most `MAX_ALLOWANCE`;
 * undefined when it was already there.
 *
 * @since 0.2.0
 */
export const retryAllowance = (allowed: number): number | undefined =>
  allowed >= MAX_ALLOWANCE ? undefined : Math.min(MAX_ALLOWANCE, Math.max(1, allowed) * 2)
