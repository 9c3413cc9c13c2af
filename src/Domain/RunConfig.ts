/**
 * The pipeline settings a run is created with, stored beside it so that a worker or a service that
 * did not start the run can rebuild the same stages. Secrets are never part of it.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/** @since 0.1.0 */
export const ClassifyConfig = Schema.Struct({
  /** The classification task; the model answers `{"label": "…"}`. */
  system: Schema.String,
  /** Labels whose items are processed; others are skipped. */
  process: Schema.Array(Schema.String),
  model: Schema.optional(Schema.String)
})

/**
 * A run created with these settings is portable: any `sluice worker` or `sluice serve` can rebuild
 * its stages. A run started by a host program with stages of its own stores other settings (or
 * none), does not decode, and is left to that program.
 *
 * @since 0.1.0
 */
export const RunConfig = Schema.Struct({
  /** Where the items came from (a file path, a mailbox), for `sluice status`. */
  source: Schema.optional(Schema.String),
  /** Required: it is what marks the settings as sluice's own. */
  processor: Schema.Literal("llm", "echo"),
  model: Schema.optionalWith(Schema.String, { default: () => "gpt-4o-mini" }),
  /** The system prompt of the process stage. */
  system: Schema.optional(Schema.String),
  /** Unset: learned from the answers (`Llm/CompletionLength.ts`). */
  maxTokens: Schema.optional(Schema.Int.pipe(Schema.positive())),
  temperature: Schema.optional(Schema.Number),
  json: Schema.optional(Schema.Boolean),
  classify: Schema.optional(ClassifyConfig)
})

/** @since 0.1.0 */
export type RunConfig = typeof RunConfig.Type
/** @since 0.1.0 */
export type RunConfigEncoded = typeof RunConfig.Encoded

/** @since 0.1.0 */
export const decode = Schema.decodeUnknown(RunConfig)

/** @since 0.1.0 */
export const decodeOption = Schema.decodeUnknownOption(RunConfig)
