/**
 * A JSONL file as a source: one item per non-blank line, streamed, never read whole.
 *
 * @since 0.1.0
 */
import { Layer, Stream } from "effect"
import type { StageError } from "../Domain/Errors.js"
import { SourceRecord } from "../Domain/Item.js"
import { Fetcher, make as makeFetcher } from "../Stages/Fetcher.js"
import { keyOf, lineKey } from "./Key.js"
import { lines } from "./Lines.js"

/**
 * The records of a JSONL file. A line that is not JSON becomes a `Malformed` record with its line
 * number; blank lines are not items. `ordinal` counts items, so a re-read after a crash gives every
 * item the same `seq` again.
 *
 * @since 0.1.0
 */
export const records = (file: string): Stream.Stream<SourceRecord, StageError> =>
  Stream.suspend(() => {
    let ordinal = 0
    return lines(file).pipe(
      Stream.filter((l) => l.text.trim().length > 0),
      Stream.map(({ line, text }) => {
        const n = ordinal++
        try {
          const payload: unknown = JSON.parse(text)
          return SourceRecord.record(keyOf(payload, lineKey(line)), payload, n, line, text)
        } catch (e) {
          return SourceRecord.malformed(lineKey(line), line, `not valid JSON (${(e as Error).message})`, n)
        }
      })
    )
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (file: string): Layer.Layer<Fetcher> => Layer.succeed(Fetcher, makeFetcher(records(file)))
