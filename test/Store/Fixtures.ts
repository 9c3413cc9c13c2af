/**
 * Records and completions for the store tests: the conformance suite and each store's own tests.
 */
import { SourceRecord, type Item } from "../../src/Domain/Item.js"
import * as Outcome from "../../src/Domain/Outcome.js"
import type { Completion } from "../../src/Store/Store.js"

/** One record, at `ordinal` (line `ordinal + 1`) when given. */
export const rec = (key: string, ordinal?: number, payload: unknown = { key }): SourceRecord =>
  SourceRecord.record(key, payload, ordinal, ordinal === undefined ? undefined : ordinal + 1)

/** Ordered records `prefix0…prefix{n-1}` at ordinals `from…`. */
export const recs = (n: number, prefix = "k", from = 0): Array<SourceRecord> =>
  Array.from({ length: n }, (_, i) => rec(`${prefix}${from + i}`, from + i))

/** `owner`'s completion of `item` with `outcome`. */
export const done = (
  item: Item,
  owner: string,
  outcome: Outcome.Outcome,
  attempts = 1,
  finishedAt = 0
): Completion => ({
  run: item.run,
  seq: item.seq,
  owner,
  outcome,
  attempts,
  startedAt: 0,
  finishedAt
})

/** `owner` completed `item` with `output`. */
export const completed = (item: Item, owner: string, output: unknown): Completion =>
  done(item, owner, Outcome.completed(output))
