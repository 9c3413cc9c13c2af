/**
 * The tokens an answer took, as the upstream counted them (or as estimated when it did not say). In
 * the domain, not the LLM port, because pricing (Governor/) and the adapters (Llm/) both speak it.
 *
 * @since 0.3.0
 */
export interface TokenCounts {
  readonly promptTokens: number
  readonly completionTokens: number
  readonly totalTokens: number
}
