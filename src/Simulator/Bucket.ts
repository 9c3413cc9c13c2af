/**
 * A continuous token bucket holding one second of a per-minute limit.
 *
 * OpenAI enforces a per-minute limit over short windows (its guide: 60,000 RPM may be enforced as
 * 1,000 requests per second), so the simulator never lets a minute's worth burst. This is a plain
 * synchronous class on purpose: it runs inside a request handler, takes the time as an argument
 * (a monotonic `performance.now()` in the server, a fake clock in tests) and must be exact, so
 * refill keeps full fractional precision.
 *
 * @since 0.1.0
 */

/**
 * Float refill accumulates rounding error of about 1e-12 per step. A client that waits exactly the
 * time we told it must not be refused for that, so comparisons allow this relative slack.
 */
const SLACK = 1e-9

/**
 * @since 0.1.0
 * @category models
 */
export class Bucket {
  /** The per-minute limit, as configured and as reported in `x-ratelimit-limit-*`. */
  readonly limit: number
  /** The enforcement window's share of the limit (one second unless told otherwise). */
  readonly capacity: number
  /** Units refilled per millisecond. */
  readonly ratePerMs: number
  private level: number
  private last: number

  /**
   * @param limit units per minute, greater than zero
   * @param now the current monotonic time in milliseconds
   * @param minCapacity the smallest useful capacity: below a limit of 60 RPM one second holds less
   *   than one request, which would refuse everything, so the request bucket passes 1 here
   * @param windowMs the span of the limit the bucket holds: the window the limit is enforced over
   */
  constructor(limit: number, now: number, minCapacity = 0, windowMs = 1_000) {
    this.limit = limit
    this.capacity = Math.max((limit * windowMs) / 60_000, minCapacity)
    this.ratePerMs = limit / 60_000
    this.level = this.capacity
    this.last = now
  }

  /** The level at `now`, after refill. */
  levelAt(now: number): number {
    // A clock read out of order (two reads in one handler) must not drain the bucket.
    if (now > this.last) {
      this.level = Math.min(this.capacity, this.level + (now - this.last) * this.ratePerMs)
      this.last = now
    }
    return this.level
  }

  /**
   * True when `cost` can never pass: it is more than the whole per-minute limit (what OpenAI refuses
   * as "Request too large"). A cost between one second's worth and the limit passes once the bucket
   * is full, and leaves a debt the next calls wait for: large requests are allowed, the rate is not.
   */
  exceedsCapacity(cost: number): boolean {
    return cost > this.limit * (1 + SLACK)
  }

  /** Milliseconds until the bucket can take `cost` (holds it, or is full); 0 when it already can. */
  waitMs(cost: number, now: number): number {
    const missing = Math.min(cost, this.capacity) - this.levelAt(now)
    return missing <= this.capacity * SLACK ? 0 : missing / this.ratePerMs
  }

  /** Charges `cost`. The caller checks `waitMs` first; a cost above a full bucket leaves a debt. */
  take(cost: number, now: number): void {
    const level = this.levelAt(now)
    this.level = level - cost < 0 && cost <= level * (1 + SLACK) ? 0 : level - cost
  }

  /** Gives back an allowance that was charged but not used, up to a full bucket. */
  refund(amount: number, now: number): void {
    this.level = Math.min(this.capacity, this.levelAt(now) + amount)
  }

  /** What the bucket lacks of full. */
  deficit(now: number): number {
    return this.capacity - this.levelAt(now)
  }

  /**
   * `x-ratelimit-remaining-*`: the minute limit less what is still owed. A client recovers its
   * own one-second level as `capacity - (limit - remaining)`.
   */
  remaining(now: number): number {
    return Math.max(0, Math.floor(this.limit - this.deficit(now) + this.capacity * SLACK))
  }

  /** What the enforcement window holds now: the `remaining` some gateways send (beside a per-minute limit). */
  remainingInWindow(now: number): number {
    return Math.max(0, Math.floor(this.levelAt(now) + this.capacity * SLACK))
  }

  /** `x-ratelimit-reset-*` in milliseconds: time until the bucket is full again. */
  resetMs(now: number): number {
    return this.deficit(now) / this.ratePerMs
  }

  /** Back to full, as at start. */
  reset(now: number): void {
    this.level = this.capacity
    this.last = now
  }
}
