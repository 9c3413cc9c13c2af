/**
 * `sluice/http`: a paged HTTP API as a source. Loads `@effect/platform`'s HTTP client.
 *
 * @since 0.1.0
 */
/** @since 0.1.0 */
export * as PagedHttp from "./Sources/PagedHttp.js"
