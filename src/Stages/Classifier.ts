/**
 * The classify stage port: decides whether, and how, an item is processed.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer } from "effect"
import type { StageError } from "../Domain/Errors.js"
import type { Item } from "../Domain/Item.js"
import { synchronous } from "./Synchronous.js"
import type { Usage } from "../Domain/Usage.js"

/**
 * Where an item goes: processed (with a label the processor may use), or skipped with a reason.
 *
 * @since 0.1.0
 */
export type Route =
  | { readonly _tag: "Process"; readonly label: string; readonly usage?: Usage | undefined }
  | { readonly _tag: "Skip"; readonly reason: string; readonly usage?: Usage | undefined }

/**
 * `usage`: what classifying cost (an LLM classifier's tokens), added to the item's accounting.
 *
 * @since 0.1.0
 */
export const Route = {
  process: (label = "default", usage?: Usage): Route => ({ _tag: "Process", label, usage }),
  skip: (reason: string, usage?: Usage): Route => ({ _tag: "Skip", reason, usage })
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Classifier extends Context.Tag("sluice/Stages/Classifier")<
  Classifier,
  {
    readonly classify: (item: Item) => Effect.Effect<Route, StageError>
  }
>() {}

const processAll = Effect.succeed(Route.process())

/**
 * Every item is processed (the default when a pipeline has nothing to sort).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerAll: Layer.Layer<Classifier> = Layer.succeed(
  Classifier,
  synchronous(Classifier.of({ classify: () => processAll }))
)

/**
 * Classifies with a plain function of the item, for rules that need no upstream.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFunction = (f: (item: Item) => Route): Layer.Layer<Classifier> =>
  Layer.succeed(Classifier, synchronous(Classifier.of({ classify: (item) => Effect.sync(() => f(item)) })))
