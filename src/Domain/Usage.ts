/**
 * What a stage call cost: upstream tokens, estimated spend, and response-cache hits. Stages report
 * it so that items and runs can be accounted for. The one `Usage` in sluice: an LLM answer's raw
 * token counts are `Llm.TokenCounts`, a fleet's share of a limit is `FleetBudget.FleetUse`.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export interface Usage {
  readonly tokensIn: number
  readonly tokensOut: number
  readonly costUsd: number
  readonly cacheHits: number
  readonly cacheMisses: number
}

/** @since 0.1.0 */
export const empty: Usage = { tokensIn: 0, tokensOut: 0, costUsd: 0, cacheHits: 0, cacheMisses: 0 }

/** @since 0.1.0 */
export const add = (a: Usage, b: Usage): Usage => ({
  tokensIn: a.tokensIn + b.tokensIn,
  tokensOut: a.tokensOut + b.tokensOut,
  costUsd: a.costUsd + b.costUsd,
  cacheHits: a.cacheHits + b.cacheHits,
  cacheMisses: a.cacheMisses + b.cacheMisses
})

/**
 * Adds two optional usages; undefined when neither was reported.
 *
 * @since 0.1.0
 */
export const combine = (a: Usage | undefined, b: Usage | undefined): Usage | undefined =>
  a === undefined ? b : b === undefined ? a : add(a, b)
