/**
 * The process stage port: the slow, rate-limited work an item exists for (usually an LLM call).
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer } from "effect"
import type { StageError } from "../Domain/Errors.js"
import type { Item } from "../Domain/Item.js"
import type { Route } from "./Classifier.js"
import { synchronous } from "./Synchronous.js"
import type { Usage } from "../Domain/Usage.js"

/**
 * The output, and what producing it cost (`Domain/Usage.ts`), for per-item and per-run accounting.
 *
 * @since 0.1.0
 */
export interface Processed {
  readonly output: unknown
  readonly usage?: Usage | undefined
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Processor extends Context.Tag("sluice/Stages/Processor")<
  Processor,
  {
    readonly process: (item: Item, route: Extract<Route, { _tag: "Process" }>) => Effect.Effect<Processed, StageError>
  }
>() {}

/**
 * The output is the item's payload, with no network: for overhead measurements and dry runs.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerEcho: Layer.Layer<Processor> = Layer.succeed(
  Processor,
  synchronous(Processor.of({ process: (item) => Effect.succeed({ output: item.payload }) }))
)
