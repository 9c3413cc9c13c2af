/**
 * A CSV file as a source: a header row, then one item per row, streamed by `csv-parse` (quotes,
 * embedded newlines and BOMs are its job, not ours).
 *
 * @since 0.1.0
 */
import { parse } from "csv-parse"
import { Layer, Option, Stream } from "effect"
import * as fs from "node:fs"
import { pipeline } from "node:stream"
import { Invalid, type StageError } from "../Domain/Errors.js"
import { SourceRecord } from "../Domain/Item.js"
import { Fetcher, make as makeFetcher } from "../Stages/Fetcher.js"
import { keyOf, lineKey } from "./Key.js"

interface Parsed {
  readonly record: ReadonlyArray<string>
  readonly info: { readonly lines: number }
}

/**
 * The rows of a CSV file as objects keyed by the header. A row with the wrong number of fields
 * becomes a `Malformed` record with its line number; every other row is still read.
 *
 * @since 0.1.0
 */
export const records = (file: string): Stream.Stream<SourceRecord, StageError> =>
  Stream.suspend(() => {
    let header: ReadonlyArray<string> | undefined
    let ordinal = 0
    // csv-parse counts a CRLF inside a quoted field as two lines; what it has overcounted so far.
    let overcount = 0
    // `pipeline`, not `pipe`: a read error (a missing file) must reach the parser's iterator, not
    // escape as an uncaught 'error' event while the stream waits forever.
    const parser = pipeline(
      fs.createReadStream(file),
      parse({ bom: true, relax_column_count: true, skip_empty_lines: true, info: true, trim: false }),
      () => {}
    )
    /** The line a record starts on (`info.lines` is where it ends), as an editor numbers lines. */
    const startLine = (record: ReadonlyArray<string>, endLine: number): number => {
      let breaks = 0
      for (const field of record) {
        if (field.indexOf("\n") === -1 && field.indexOf("\r") === -1) continue
        for (const m of field.matchAll(/\r\n|\r|\n/g)) {
          breaks++
          if (m[0].length === 2) overcount++
        }
      }
      return endLine - overcount - breaks
    }
    return Stream.fromAsyncIterable(
      parser as AsyncIterable<Parsed>,
      (cause) => new Invalid({ reason: "Input", message: `cannot read ${file}: ${(cause as Error).message}` })
    ).pipe(
      Stream.filterMap(({ info, record }) => {
        if (header === undefined) {
          startLine(record, info.lines)
          header = record.map((h) => h.trim())
          return undefinedOption
        }
        const n = ordinal++
        const line = startLine(record, info.lines)
        if (record.length !== header.length) {
          return some(
            SourceRecord.malformed(lineKey(line), line, `expected ${header.length} fields, found ${record.length}`, n)
          )
        }
        const payload: Record<string, string> = {}
        header.forEach((h, i) => (payload[h] = record[i]!))
        return some(SourceRecord.record(keyOf(payload, lineKey(line)), payload, n, line))
      })
    )
  })

const undefinedOption = Option.none<SourceRecord>()
const some = Option.some<SourceRecord>

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (file: string): Layer.Layer<Fetcher> => Layer.succeed(Fetcher, makeFetcher(records(file)))
