/**
 * `sluice/files`: JSONL and CSV files as sources, and the drop directory that ingests files put into it.
 *
 * @since 0.1.0
 */
/** @since 0.1.0 */
export * as JsonlFile from "./Sources/JsonlFile.js"

/** @since 0.1.0 */
export * as CsvFile from "./Sources/CsvFile.js"

/** @since 0.1.0 */
export * as FileSource from "./Sources/FileSource.js"

/** @since 0.1.0 */
export * as DropDirectory from "./Service/DropDirectory.js"
