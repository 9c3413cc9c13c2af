/**
 * Builds a run's classify and process stages from its stored `RunConfig`, on whatever `Llm` the
 * host provides.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import type { RunConfig } from "../Domain/RunConfig.js"
import type { Llm } from "../Llm/Llm.js"
import { Classifier, layerAll } from "./Classifier.js"
import * as LlmClassifier from "./LlmClassifier.js"
import * as LlmProcessor from "./LlmProcessor.js"
import { layerEcho, Processor } from "./Processor.js"

/** @since 0.1.0 */
export interface Stages {
  readonly classifier: Classifier["Type"]
  readonly processor: Processor["Type"]
}

const echo = Effect.runSync(Effect.provide(Processor, layerEcho))
const all = Effect.runSync(Effect.provide(Classifier, layerAll))

/**
 * @since 0.1.0
 */
export const stages = (
  config: RunConfig,
  llm: Llm["Type"],
  price?: LlmProcessor.LlmProcessorOptions["price"]
): Stages => ({
  classifier:
    config.classify === undefined
      ? all
      : LlmClassifier.make(
          {
            model: config.classify.model ?? config.model,
            system: config.classify.system,
            process: config.classify.process,
            price
          },
          llm
        ),
  processor:
    config.processor === "echo"
      ? echo
      : LlmProcessor.make(
          {
            model: config.model,
            system: config.system ?? LlmProcessor.DEFAULT_SYSTEM,
            maxTokens: config.maxTokens,
            temperature: config.temperature,
            json: config.json,
            price
          },
          llm
        )
})
