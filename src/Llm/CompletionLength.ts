/**
 * The completion allowance (`max_tokens`) a request asks for when its caller set none, learned from
 * the answers.
 *
 * Upstreams charge the allowance, not the answer, against tokens per minute when they admit a call
 * (OpenAI keeps it), so a generous fixed default spends the budget several times faster than the
 * answers need: ~12-token answers under `max_tokens` 512 reserve ~645 tokens a call instead of ~165.
 * Instead: start at `START` until `WARM_UP` answers are in, then reserve the 99.9th percentile of the
 * recent answers' lengths plus a margin, so nearly every answer fits. An answer cut off anyway
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
/** Answers seen before the learned figure replaces `START`. */
const WARM_UP = 16
/** The recent answers the percentile is taken over. */
const WINDOW = 2_000
/** The percentile reserved for, plus `MARGIN` of it and `MIN_EXTRA` tokens. */
const QUANTILE = 0.999
const MARGIN = 0.1
const MIN_EXTRA = 4
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

  /** The allowance to ask for now. */
  allowance(): number {
    if (this.seen < WARM_UP) return Math.max(START, this.cached ?? 0)
    if (this.cached !== undefined) return this.cached
    const sorted = this.recent.slice().sort((a, b) => a - b)
    const q = sorted[Math.min(sorted.length - 1, Math.ceil(QUANTILE * sorted.length) - 1)]!
    this.cached = Math.min(MAX_ALLOWANCE, Math.ceil(q * (1 + MARGIN) + MIN_EXTRA))
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
    // Before warm-up a cut-off raises the start figure for everyone after it.
    if (cutOff) this.cached = Math.min(MAX_ALLOWANCE, Math.max(this.cached ?? 0, length))
    else if (this.seen >= WARM_UP) this.cached = undefined
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
