/**
 * A marker for stage services that never wait on I/O (echo, process-everything, store-only). The
 * engine calls them without a per-attempt timeout or a span of their own: such a call can neither
 * hang nor fail transiently, and at tens of thousands of items a second the timeout's race costs more
 * than the work it guards.
 *
 * @since 0.1.0
 */

const SynchronousTypeId: unique symbol = Symbol.for("sluice/Stages/Synchronous")

/**
 * Marks a stage service as synchronous.
 *
 * @since 0.1.0
 */
export const synchronous = <A extends object>(service: A): A => Object.assign(service, { [SynchronousTypeId]: true })

/** @since 0.1.0 */
export const isSynchronous = (service: object): boolean => SynchronousTypeId in service
