/**
 * A CSV file as a source: a header row, then one item per row, streamed by `csv-parse` (quotes,
 * embedded newlines and BOMs are its job, not ours).
 *
 * @since 0.1.0
 */
import { parse } from "csv-parse"
import { Layer, Option, Stream } from "effect"
import * as fs from "node:fs"
import { Invalid, type StageError } from "../Domain/Errors.js"
import { SourceRecord } from "../Domain/Item.js"
import { Fetcher, make as makeFetcher } from "../Stages/Fetcher.js"
import { keyOf } from "./Key.js"

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
    const parser = fs
      .createReadStream(file)
      .pipe(parse({ bom: true, relax_column_count: true, skip_empty_lines: true, info: true, trim: false }))
    return Stream.fromAsyncIterable(
      parser as AsyncIterable<Parsed>,
      (cause) => new Invalid({ reason: "Input", message: `cannot read ${file}: ${(cause as Error).message}` })
    ).pipe(
      Stream.filterMap(({ info, record }) => {
        if (header === undefined) {
          header = record.map((h) => h.trim())
          return undefinedOption
        }
        const n = ordinal++
        if (record.length !== header.length) {
          return some(
            SourceRecord.malformed(
              String(info.lines),
              info.lines,
              `expected ${header.length} fields, found ${record.length}`,
              n
            )
          )
        }
        const payload: Record<string, string> = {}
        header.forEach((h, i) => (payload[h] = record[i]!))
        return some(SourceRecord.record(keyOf(payload, info.lines), payload, n, info.lines))
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
