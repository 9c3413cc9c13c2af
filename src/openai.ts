/**
 * `sluice/openai`: the `Llm` port on the OpenAI API or any OpenAI-compatible server. Loads the `openai`
 * client, which the root entry does not.
 *
 * @since 0.1.0
 */
/** @since 0.1.0 */
export * as OpenAi from "./Llm/OpenAi.js"
