/**
 * A classifier that asks an LLM for a label; items whose label is not one to process are skipped.
 *
 * @since 0.1.0
 */
import { Effect, Layer } from "effect"
import type { Item } from "../Domain/Item.js"
import { Llm, type ChatResponse } from "../Llm/Llm.js"
import { Classifier, Route } from "./Classifier.js"
import { usageOf } from "./LlmProcessor.js"

/**
 * @since 0.1.0
 */
export interface LlmClassifierOptions {
  readonly model: string
  /** The classification task. The model is asked to answer `{"label": "…"}`. */
  readonly system: string
  /** Labels whose items are processed; every other label is skipped with the label as reason. */
  readonly process: ReadonlyArray<string>
  readonly maxTokens?: number | undefined
  /** The user message for an item; default: the item's payload as JSON. */
  readonly render?: ((item: Item) => string) | undefined
  /** The price of a response, for accounting (see `Governor/Pricing.ts`). */
  readonly price?: ((response: ChatResponse) => number) | undefined
}

/**
 * Reads a label from an answer: `{"label": "x"}`, `{"category": "x"}`, or a bare word.
 *
 * @since 0.1.0
 */
export const labelOf = (output: unknown): string => {
  if (typeof output === "string") return output.replace(/^[\s"'`]+|[\s"'`.!]+$/g, "").toLowerCase()
  if (typeof output === "object" && output !== null) {
    const o = output as Record<string, unknown>
    const v = o["label"] ?? o["category"] ?? o["class"]
    if (typeof v === "string") return v.trim().toLowerCase()
  }
  return JSON.stringify(output)
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: LlmClassifierOptions, llm: Llm["Type"]): Classifier["Type"] => {
  const render = options.render ?? ((item: Item) => JSON.stringify(item.payload))
  const wanted = new Set(options.process.map((l) => l.toLowerCase()))
  return Classifier.of({
    classify: (item) =>
      Effect.map(
        llm.complete({
          model: options.model,
          messages: [
            { role: "system", content: options.system },
            { role: "user", content: render(item) }
          ],
          maxTokens: options.maxTokens ?? 32,
          json: true
        }),
        (response) => {
          const label = labelOf(response.output)
          const usage = usageOf(response, options.price?.(response) ?? 0)
          return wanted.has(label) ? Route.process(label, usage) : Route.skip(`classified as ${label}`, usage)
        }
      )
  })
}

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: LlmClassifierOptions): Layer.Layer<Classifier, never, Llm> =>
  Layer.effect(
    Classifier,
    Effect.map(Llm, (llm) => make(options, llm))
  )
