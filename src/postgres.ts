/**
 * `sluice/postgres`: the PostgreSQL durable queue. Loads `@effect/sql-pg`, which the root entry does not.
 *
 * @since 0.1.0
 */
/** @since 0.1.0 */
export * as PgStore from "./Store/PgStore.js"
