/**
 * One continuous budget bucket, pure: no clock, no fibers, no effects. `Admission` keeps one per limit
 * (requests, tokens, input tokens, output tokens) and is the only caller that passes time in.
 *
 * The bucket holds `windowMs` of its per-minute limit (at least `minCapacity`), refills at the limit's
 * rate with fractional precision, and may go below zero: a charge larger than the estimate, or a cost
 * larger than the bucket, leaves a debt later calls wait for, so the average rate always holds.
 *
 * THE REFILL SEAM: `refill` is the one place budget is created. A process that shares its budget with
 * others (a fleet on one database) replaces "time passed, so `dt × perMs` arrived" with "the shared row
 * granted me this slice" by calling `grant` instead of `refill`; everything else (charges, refunds,
 * waits) stays as it is.
 *
 * @since 0.2.0
 */

/**
 * Float refill drifts by about 1e-12 per step; a waiter that waited exactly as told must fit.
 *
 * @since 0.2.0
 */
export const SLACK = 1e-9

/**
 * @since 0.2.0
 * @category models
 */
export interface Bucket {
  /** Units per minute. */
  limit: number
  /** What it holds when full: `windowMs` of the limit, at least `minCapacity`. */
  capacity: number
  /** Units refilled per millisecond. */
  perMs: number
  /** May go below zero: a debt later calls wait for. */
  level: number
  /** The span of the limit it holds. */
  windowMs: number
  readonly minCapacity: number
}

const capacityOf = (limit: number, windowMs: number, minCapacity: number): number =>
  Math.max((limit * windowMs) / 60_000, minCapacity)

/**
 * A bucket holding `windowMs` of `limit`, starting `margin` short of full.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (limit: number, windowMs: number, minCapacity: number, margin: number): Bucket => {
  const capacity = capacityOf(limit, windowMs, minCapacity)
  return {
    limit,
    capacity,
    perMs: limit / 60_000,
    level: capacity - Math.min(capacity, Math.max(0, margin)),
    windowMs,
    minCapacity
  }
}

/**
 * Time passed: `dtMs × perMs` arrives, up to full. The clock-driven source of budget.
 *
 * @since 0.2.0
 */
export const refill = (bucket: Bucket, dtMs: number): void => {
  if (dtMs > 0) bucket.level = Math.min(bucket.capacity, bucket.level + dtMs * bucket.perMs)
}

/**
 * Budget granted from elsewhere (a shared fleet budget), up to full; returns what did not fit.
 *
 * @since 0.2.0
 */
export const grant = (bucket: Bucket, amount: number): number => {
  const room = Math.max(0, bucket.capacity - bucket.level)
  const taken = Math.min(room, Math.max(0, amount))
  bucket.level += taken
  return amount - taken
}

/**
 * A new limit and/or window; the level is kept, capped at the new capacity.
 *
 * @since 0.2.0
 */
export const resize = (bucket: Bucket, limit: number, windowMs: number = bucket.windowMs): void => {
  bucket.limit = limit
  bucket.windowMs = windowMs
  bucket.capacity = capacityOf(limit, windowMs, bucket.minCapacity)
  bucket.perMs = limit / 60_000
  bucket.level = Math.min(bucket.level, bucket.capacity)
}

/**
 * Milliseconds until the bucket can take `cost`; 0 when it can (within float slack). A cost larger
 * than the bucket waits for a full bucket and leaves a debt, as upstreams do.
 *
 * @since 0.2.0
 */
export const missingMs = (bucket: Bucket, cost: number): number => {
  // A call that needs none of this bucket does not wait for its debt.
  if (cost <= 0) return 0
  const missing = Math.min(cost, bucket.capacity) - bucket.level
  return missing <= bucket.capacity * SLACK ? 0 : missing / bucket.perMs
}

/**
 * Charges `cost` (only once it fits, or the bucket is full); the floor at 0 only absorbs float slack.
 *
 * @since 0.2.0
 */
export const take = (bucket: Bucket, cost: number): void => {
  if (cost <= 0) return
  const level = bucket.level
  bucket.level = level - cost < 0 && cost <= level * (1 + SLACK) ? 0 : level - cost
}

/**
 * Gives back (`amount` > 0) or charges more (`amount` < 0) after the fact. A debt is bounded to one
 * bucket, so one wild answer cannot stall everyone for long.
 *
 * @since 0.2.0
 */
export const adjust = (bucket: Bucket, amount: number): void => {
  if (amount === 0) return
  bucket.level = Math.max(-bucket.capacity, Math.min(bucket.capacity, bucket.level + amount))
}

/**
 * What the bucket lacks of full (0 when full).
 *
 * @since 0.2.0
 */
export const deficit = (bucket: Bucket): number => Math.max(0, bucket.capacity - bucket.level)
