/**
 * Classify and process stages that follow each item's run: the stages are rebuilt from the run's
 * stored `RunConfig`, so one worker or service serves runs it did not start.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Option } from "effect"
import { Transient, Invalid } from "../Domain/Errors.js"
import type { Item } from "../Domain/Item.js"
import * as RunConfig from "../Domain/RunConfig.js"
import { Llm } from "../Llm/Llm.js"
import { Store } from "../Store/Store.js"
import { Classifier } from "./Classifier.js"
import { stages, type Stages } from "./FromConfig.js"
import type { LlmProcessorOptions } from "./LlmProcessor.js"
import { Processor } from "./Processor.js"

/**
 * The runs these stages can serve: those created with portable settings (a `RunConfig`). A run a
 * host program started with stages of its own is left to that program.
 *
 * @since 0.1.0
 */
export const portableRuns = Effect.gen(function* () {
  const store = yield* Store
  const runs = yield* store.listRuns
  return runs.filter((r) => Option.isSome(RunConfig.decodeOption(r.config))).map((r) => r.id)
})

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (price?: LlmProcessorOptions["price"]): Layer.Layer<Classifier | Processor, never, Store | Llm> =>
  Layer.effectContext(
    Effect.gen(function* () {
      const store = yield* Store
      const llm = yield* Llm
      const known = new Map<string, Stages>()
      const stagesOf = (item: Item) => {
        const cached = known.get(item.run)
        if (cached !== undefined) return Effect.succeed(cached)
        return store.getRun(item.run).pipe(
          Effect.mapError((e) => new Transient({ reason: "Connection", message: e.message })),
          Effect.flatMap(
            Option.match({
              onNone: () => Effect.fail(new Invalid({ reason: "Input", message: `run "${item.run}" has no settings` })),
              onSome: (run) =>
                RunConfig.decode(run.config).pipe(
                  Effect.mapError(
                    (e) =>
                      new Invalid({ reason: "Input", message: `run "${item.run}" has unusable settings: ${e.message}` })
                  )
                )
            })
          ),
          Effect.map((config) => {
            const s = stages(config, llm, price)
            known.set(item.run, s)
            return s
          })
        )
      }
      const classifier = Classifier.of({
        classify: (item) => Effect.flatMap(stagesOf(item), (s) => s.classifier.classify(item))
      })
      const processor = Processor.of({
        process: (item, route) => Effect.flatMap(stagesOf(item), (s) => s.processor.process(item, route))
      })
      return Context.make(Classifier, classifier).pipe(Context.add(Processor, processor))
    })
  )
