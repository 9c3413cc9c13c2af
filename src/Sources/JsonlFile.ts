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
 * The longest line an item may be, in characters: 4 MiB, about a million tokens, more than any
 * model's context window holds. A longer line is an error in the file, not a request to send.
 *
 * @since 0.1.0
 */
export const MAX_ITEM_CHARS = 4 * 1024 * 1024

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
        // Refused before it is parsed or sent: no upstream takes it, and holding it costs memory.
        if (text.length > MAX_ITEM_CHARS) {
          return SourceRecord.malformed(
            lineKey(line),
            line,
            `${text.length.toLocaleString("en-US")} characters, more than an item may have (${MAX_ITEM_CHARS.toLocaleString("en-US")})`,
            n
          )
        }
        let payload: unknown
        try {
          payload = JSON.parse(text)
        } catch (e) {
          return SourceRecord.malformed(lineKey(line), line, `not valid JSON (${(e as Error).message})`, n)
        }
        // An item is an object (its fields are what prompts and CSV columns name); a bare 42, "text",
        // [1,2] or null is more likely a broken file than work to send to a model.
        if (typeof payload !== "object" || payload === null || Array.isArray(payload)) {
          return SourceRecord.malformed(
            lineKey(line),
            line,
            `not a JSON object (${payload === null ? "null" : Array.isArray(payload) ? "an array" : `a ${typeof payload}`})`,
            n
          )
        }
        return SourceRecord.record(keyOf(payload, lineKey(line)), payload, n, line, text)
      })
    )
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (file: string): Layer.Layer<Fetcher> => Layer.succeed(Fetcher, makeFetcher(records(file)))
