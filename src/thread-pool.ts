/**
 * `sluice/thread-pool`: a blocking function run off the event loop in worker threads, as a `Processor`.
 *
 * @since 0.1.0
 */
/** @since 0.1.0 */
export * as ThreadPool from "./Stages/ThreadPool.js"
