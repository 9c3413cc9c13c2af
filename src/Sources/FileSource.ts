/**
 * A file source chosen by extension: `.csv` is CSV, anything else is JSONL.
 *
 * @since 0.1.0
 */
import type { Layer, Stream } from "effect"
import type { StageError } from "../Domain/Errors.js"
import type { SourceRecord } from "../Domain/Item.js"
import type { Fetcher } from "../Stages/Fetcher.js"
import * as CsvFile from "./CsvFile.js"
import * as JsonlFile from "./JsonlFile.js"

/** @since 0.1.0 */
export const isCsv = (file: string): boolean => file.toLowerCase().endsWith(".csv")

/** @since 0.1.0 */
export const records = (file: string): Stream.Stream<SourceRecord, StageError> =>
  isCsv(file) ? CsvFile.records(file) : JsonlFile.records(file)

/** @since 0.1.0 */
export const layer = (file: string): Layer.Layer<Fetcher> => (isCsv(file) ? CsvFile.layer(file) : JsonlFile.layer(file))
