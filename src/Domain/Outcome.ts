/**
 * How every item ends: `Completed`, `Skipped(reason)` or `Failed(error tag, attempts, message)`.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/** @since 0.1.0 */
export const Completed = Schema.TaggedStruct("Completed", {
  output: Schema.Unknown
})

/** @since 0.1.0 */
export const Skipped = Schema.TaggedStruct("Skipped", {
  reason: Schema.String
})

/** @since 0.1.0 */
export const Failed = Schema.TaggedStruct("Failed", {
  tag: Schema.String,
  message: Schema.String,
  attempts: Schema.Number
})

/** @since 0.1.0 */
export const Outcome = Schema.Union(Completed, Skipped, Failed)

/** @since 0.1.0 */
export type Outcome = typeof Outcome.Type
/** @since 0.1.0 */
export type Completed = typeof Completed.Type
/** @since 0.1.0 */
export type Skipped = typeof Skipped.Type
/** @since 0.1.0 */
export type Failed = typeof Failed.Type

/** @since 0.1.0 */
export const completed = (output: unknown): Outcome => ({ _tag: "Completed", output })
/** @since 0.1.0 */
export const skipped = (reason: string): Outcome => ({ _tag: "Skipped", reason })
/** @since 0.1.0 */
export const failed = (tag: string, message: string, attempts: number): Outcome => ({
  _tag: "Failed",
  tag,
  message,
  attempts
})

/**
 * A completed item's output as stored and written: the text `JSON.stringify` makes (`null` for
 * nothing). Every store keeps exactly this text, so output read back is byte for byte what was written.
 *
 * @since 0.1.0
 */
export const outputJson = (output: unknown): string => JSON.stringify(output === undefined ? null : output) ?? "null"

/**
 * The status an outcome leaves in the store and in the output file.
 *
 * @since 0.1.0
 */
export const status = (outcome: Outcome): "completed" | "skipped" | "failed" =>
  outcome._tag === "Completed" ? "completed" : outcome._tag === "Skipped" ? "skipped" : "failed"
