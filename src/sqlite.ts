/**
 * `sluice/sqlite`: the SQLite durable queue and the SQLite table persister. Loads the SQLite driver
 * (`@effect/sql-sqlite-node`), which the root entry does not.
 *
 * @since 0.1.0
 */
/** @since 0.1.0 */
export * as SqliteStore from "./Store/SqliteStore.js"

/** @since 0.1.0 */
export * as SqlTablePersister from "./Stages/SqlTablePersister.js"
