/**
 * A work item as the engine sees it once it is in the store.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * One item. `seq` is its position in the input and decides output order; `key` identifies it within
 * its run (the input's `id` field, else its line number), so a key completed once is never processed again.
 *
 * @since 0.1.0
 */
export const Item = Schema.Struct({
  run: Schema.String,
  seq: Schema.Number,
  key: Schema.String,
  payload: Schema.Unknown,
  /** Times this item was claimed, including this one. */
  deliveries: Schema.Number,
  /** Upstream attempts already spent on this item in earlier deliveries. */
  attempts: Schema.Number
})

/** @since 0.1.0 */
export type Item = typeof Item.Type

/**
 * What a source yields: a record to process, or a line that could not be read, which becomes a
 * `Failed` item with its line number so that nothing is lost silently.
 *
 * @since 0.1.0
 */
export type SourceRecord =
  | {
      readonly _tag: "Record"
      readonly key: string
      readonly payload: unknown
      /** The record's position in the source when the source has a stable order (a file), for resumable seqs. */
      readonly ordinal?: number | undefined
      readonly line?: number | undefined
      /** The payload's JSON text as read, when the source has it: stored as it is, not serialized again. */
      readonly json?: string | undefined
    }
  | {
      readonly _tag: "Malformed"
      readonly key: string
      readonly ordinal?: number | undefined
      readonly line: number
      readonly message: string
    }

/** @since 0.1.0 */
export const SourceRecord = {
  record: (key: string, payload: unknown, ordinal?: number, line?: number, json?: string): SourceRecord => ({
    _tag: "Record",
    key,
    payload,
    ordinal,
    line,
    json
  }),
  malformed: (key: string, line: number, message: string, ordinal?: number): SourceRecord => ({
    _tag: "Malformed",
    key,
    line,
    message,
    ordinal
  })
}
