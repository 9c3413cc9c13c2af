/**
 * The persist stage port: the destination a completed item's output is written to, before the store
 * marks it completed and before the source is acknowledged.
 *
 * A crash between `persist` and the store's commit replays `persist` for that item, so an
 * implementation must be idempotent by `(item.run, item.key)` (an upsert, a PUT).
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer } from "effect"
import type { StageError } from "../Domain/Errors.js"
import type { Item } from "../Domain/Item.js"
import { synchronous } from "./Synchronous.js"

/**
 * @since 0.1.0
 * @category tags
 */
export class Persister extends Context.Tag("sluice/Stages/Persister")<
  Persister,
  {
    readonly persist: (item: Item, output: unknown) => Effect.Effect<void, StageError>
  }
>() {}

/**
 * Results live in the sluice store only (read them with `sluice export` or the run's output file):
 * there is no other destination to write.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerStoreOnly: Layer.Layer<Persister> = Layer.succeed(
  Persister,
  synchronous(Persister.of({ persist: () => Effect.void }))
)
