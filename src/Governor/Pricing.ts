/**
 * What LLM calls cost: a price table in USD per million input and output tokens, per model.
 *
 * Models are matched exactly, else by the longest known prefix, so dated snapshots
 * ("gpt-4o-mini-2024-07-18") take their family's price. An unknown model gets the fallback, which by
 * default is priced like gpt-4o, so a budget errs on the side of stopping early; set the fallback to
 * zero for local models.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Schema } from "effect"
import type { ParseResult } from "effect"
import type { TokenCounts } from "../Domain/TokenCounts.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface ModelPrice {
  /** USD per 1,000,000 prompt tokens. */
  readonly input: number
  /** USD per 1,000,000 completion tokens. */
  readonly output: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface PriceTable {
  readonly models: Readonly<Record<string, ModelPrice>>
  /** The price of a model the table does not know. */
  readonly fallback: ModelPrice
}

/**
 * OpenAI's list prices for standard (not batch, not cached-input) calls.
 *
 * @since 0.1.0
 */
export const defaultPriceTable: PriceTable = {
  models: {
    "gpt-4o-mini": { input: 0.15, output: 0.6 },
    "gpt-4o": { input: 2.5, output: 10 },
    "gpt-4.1": { input: 2, output: 8 },
    "gpt-4.1-mini": { input: 0.4, output: 1.6 },
    "gpt-4.1-nano": { input: 0.1, output: 0.4 },
    "gpt-4-turbo": { input: 10, output: 30 },
    "gpt-3.5-turbo": { input: 0.5, output: 1.5 },
    "o3-mini": { input: 1.1, output: 4.4 }
  },
  fallback: { input: 2.5, output: 10 }
}

const Price = Schema.Struct({
  input: Schema.NonNegative.annotations({ description: "USD per 1M prompt tokens" }),
  output: Schema.NonNegative.annotations({ description: "USD per 1M completion tokens" })
})

/**
 * The JSON form of a table: `{ "gpt-4o-mini": { "input": 0.15, "output": 0.6 }, "*": { … } }`, where
 * `"*"` is the fallback. Entries are added to (and override) the defaults.
 *
 * @since 0.1.0
 */
export const PriceTableJson = Schema.Record({ key: Schema.String, value: Price })

/**
 * Decodes a JSON price table and merges it over `base` (the defaults unless given).
 *
 * @since 0.1.0
 */
export const fromJson = (
  json: unknown,
  base: PriceTable = defaultPriceTable
): Effect.Effect<PriceTable, ParseResult.ParseError> =>
  Effect.map(Schema.decodeUnknown(PriceTableJson)(json), (entries) => {
    const { "*": fallback, ...models } = entries
    return { models: { ...base.models, ...models }, fallback: fallback ?? base.fallback }
  })

/**
 * The price of `model`: exact, else the longest known prefix, else the fallback.
 *
 * @since 0.1.0
 */
export const priceOf = (table: PriceTable, model: string): ModelPrice => {
  const exact = table.models[model]
  if (exact !== undefined) return exact
  let best: string | undefined
  for (const name of Object.keys(table.models)) {
    if (model.startsWith(name) && (best === undefined || name.length > best.length)) best = name
  }
  return best === undefined ? table.fallback : table.models[best]!
}

/**
 * USD for a call's tokens.
 *
 * @since 0.1.0
 */
export const costWith = (
  table: PriceTable,
  model: string,
  usage: Pick<TokenCounts, "promptTokens" | "completionTokens">
): number => {
  const price = priceOf(table, model)
  return (usage.promptTokens * price.input + usage.completionTokens * price.output) / 1_000_000
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Pricing extends Context.Tag("sluice/Llm/Pricing")<
  Pricing,
  {
    readonly table: PriceTable
    /** USD for a call's tokens. */
    readonly cost: (model: string, usage: Pick<TokenCounts, "promptTokens" | "completionTokens">) => number
  }
>() {}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (table: PriceTable = defaultPriceTable): Pricing["Type"] =>
  Pricing.of({ table, cost: (model, usage) => costWith(table, model, usage) })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (table: PriceTable = defaultPriceTable): Layer.Layer<Pricing> =>
  Layer.succeed(Pricing, make(table))

/**
 * The defaults with a JSON table (see `PriceTableJson`) merged over them.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerJson = (json: unknown): Layer.Layer<Pricing, ParseResult.ParseError> =>
  Layer.effect(Pricing, Effect.map(fromJson(json), make))
