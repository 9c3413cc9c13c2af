/**
 * `sluice/llm`: the governed LLM layer (admission, circuit breaker, budget, pricing, cache around any
 * `Llm`) and the response cache, which keeps answers in SQLite (so this entry loads the SQLite driver).
 *
 * @since 0.1.0
 */
/** @since 0.1.0 */
export * as LlmGoverned from "./Llm/LlmGoverned.js"

/** @since 0.1.0 */
export * as ResponseCache from "./Llm/ResponseCache.js"
