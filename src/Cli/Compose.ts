/**
 * The CLI's composition root: the only place that chooses production layers and provides them.
 *
 * @since 0.1.0
 */
import { Config, Context, Effect, Layer, Redacted } from "effect"
import * as RunConfig from "../Domain/RunConfig.js"
import * as Progress from "../Engine/Progress.js"
import { Llm } from "../Llm/Llm.js"
import * as OpenAi from "../Llm/OpenAi.js"
import * as FileSource from "../Sources/FileSource.js"
import { Classifier } from "../Stages/Classifier.js"
import { stages } from "../Stages/FromConfig.js"
import * as PerRun from "../Stages/PerRun.js"
import * as Persister from "../Stages/Persister.js"
import { Processor } from "../Stages/Processor.js"
import * as SqliteStore from "../Store/SqliteStore.js"

/**
 * Where the upstream is and how to treat it.
 *
 * @since 0.1.0
 */
export interface Upstream {
  readonly baseUrl: string
  readonly timeoutMs: number
  readonly rpm: number
  readonly tpm: number
  readonly cache: boolean
  readonly budgetUsd?: number | undefined
}

/** The API key, read only here, and kept `Redacted` until the client is built. */
const apiKey = Config.redacted("OPENAI_API_KEY").pipe(Config.withDefault(Redacted.make("sk-none")))

/**
 * The Llm the stages call.
 *
 * @since 0.1.0
 */
export const llm = (upstream: Upstream): Layer.Layer<Llm> =>
  Layer.unwrapEffect(
    Effect.map(Effect.orDie(apiKey), (key) =>
      OpenAi.layer({ baseUrl: upstream.baseUrl, apiKey: key, timeoutMs: upstream.timeoutMs })
    )
  )

/** @since 0.1.0 */
export const store = (db: string) => SqliteStore.layer({ filename: db })

/**
 * The stages of a run started here, from its settings.
 *
 * @since 0.1.0
 */
export const runStages = (config: RunConfig.RunConfig): Layer.Layer<Classifier | Processor, never, Llm> =>
  Layer.effectContext(
    Effect.map(Llm, (llm) => {
      const s = stages(config, llm)
      return Context.make(Classifier, s.classifier).pipe(Context.add(Processor, s.processor))
    })
  )

/**
 * Everything `sluice run` needs.
 *
 * @since 0.1.0
 */
export const runLayer = (options: { readonly db: string; readonly input: string; readonly config: RunConfig.RunConfig; readonly upstream: Upstream }) =>
  Layer.mergeAll(runStages(options.config), FileSource.layer(options.input), Persister.layerStoreOnly, Progress.layer).pipe(
    Layer.provideMerge(llm(options.upstream)),
    Layer.provideMerge(store(options.db))
  )

/**
 * Everything `sluice worker` needs: stages rebuilt per run from the settings stored with it.
 *
 * @since 0.1.0
 */
export const workerLayer = (options: { readonly db: string; readonly upstream: Upstream }) =>
  Layer.mergeAll(PerRun.layer(), Persister.layerStoreOnly, Progress.layer).pipe(
    Layer.provideMerge(llm(options.upstream)),
    Layer.provideMerge(store(options.db))
  )
