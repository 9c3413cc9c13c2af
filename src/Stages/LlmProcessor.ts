/**
 * A processor that asks an LLM: the system prompt is the task, the user message is the item.
 *
 * @since 0.1.0
 */
import { Effect, Layer, Schema, ParseResult } from "effect"
import { Invalid, type StageError } from "../Domain/Errors.js"
import type { Item } from "../Domain/Item.js"
import { Llm, type ChatRequest, type ChatResponse } from "../Llm/Llm.js"
import type { Route } from "./Classifier.js"
import * as UsageModule from "../Domain/Usage.js"
import type { Usage } from "../Domain/Usage.js"
import { Processor, type Processed } from "./Processor.js"

/**
 * @since 0.1.0
 */
export interface LlmProcessorOptions {
  readonly model: string
  /** The task, as the system prompt. */
  readonly system: string
  readonly maxTokens?: number | undefined
  readonly temperature?: number | undefined
  /** Ask the upstream for a JSON object answer. */
  readonly json?: boolean | undefined
  /** The user message for an item; default: the item's payload as JSON. */
  readonly render?: ((item: Item, route: Extract<Route, { _tag: "Process" }>) => string) | undefined
  /**
   * A Schema the answer must decode with. An answer that does not decode is asked again (bypassing
   * the cache) up to `decodeAttempts` times, then the item fails as `Invalid`: a model that keeps
   * answering off-format will not be fixed by the engine's transient retries.
   */
  readonly decode?: Schema.Schema<any, any> | undefined
  readonly decodeAttempts?: number | undefined
  /** The price of a response, for accounting (see `Governor/Pricing.ts`). */
  readonly price?: ((response: ChatResponse) => number) | undefined
}

/** @since 0.1.0 */
export const DEFAULT_SYSTEM =
  "You process one work item. The user message is the item as JSON. Answer with a JSON object and nothing else."

/**
 * Usage of one response, for the run's accounting.
 *
 * @since 0.1.0
 */
export const usageOf = (response: ChatResponse, costUsd: number): Usage => ({
  tokensIn: response.cached ? 0 : response.usage.promptTokens,
  tokensOut: response.cached ? 0 : response.usage.completionTokens,
  costUsd: response.cached ? 0 : costUsd,
  cacheHits: response.cached ? 1 : 0,
  cacheMisses: response.cached ? 0 : 1
})

/** @since 0.1.0 */
export const addUsage = UsageModule.add

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: LlmProcessorOptions, llm: Llm["Type"]): Processor["Type"] => {
  const render = options.render ?? ((item: Item) => JSON.stringify(item.payload))
  const decodeAttempts = Math.max(1, options.decodeAttempts ?? 3)
  const decode = options.decode === undefined ? undefined : Schema.decodeUnknown(options.decode)
  const price = options.price ?? (() => 0)
  return Processor.of({
    process: (item, route) =>
      Effect.gen(function* () {
        const request: ChatRequest = {
          model: options.model,
          messages: [
            { role: "system", content: options.system },
            { role: "user", content: render(item, route) }
          ],
          maxTokens: options.maxTokens,
          temperature: options.temperature,
          json: options.json
        }
        let usage: Usage = { tokensIn: 0, tokensOut: 0, costUsd: 0, cacheHits: 0, cacheMisses: 0 }
        for (let i = 1; ; i++) {
          const response = yield* llm.complete(i === 1 ? request : { ...request, cache: "refresh" })
          usage = addUsage(usage, usageOf(response, price(response)))
          if (decode === undefined) return { output: response.output, usage } satisfies Processed
          const decoded = yield* Effect.either(decode(response.output))
          if (decoded._tag === "Right") return { output: decoded.right, usage } satisfies Processed
          if (i >= decodeAttempts) {
            return yield* Effect.fail<StageError>(
              new Invalid({
                reason: "Output",
                message: `the answer did not match its schema after ${i} tries: ${ParseResult.TreeFormatter.formatErrorSync(decoded.left).split("\n").slice(0, 3).join(" ")}`
              })
            )
          }
        }
      })
  })
}

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: LlmProcessorOptions): Layer.Layer<Processor, never, Llm> =>
  Layer.effect(
    Processor,
    Effect.map(Llm, (llm) => make(options, llm))
  )
