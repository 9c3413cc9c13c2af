/**
 * Discovery of the request rate when no limit is known (none configured, no rate headers): grow fast
 * until a 429, halve on it, return at once to most of the rate the 429 came at, then probe gently
 * upward, so the next 429 comes rarely. It only resizes the request bucket of the `Ledger`.
 *
 * @since 0.3.0
 */
import type { Ledger } from "./AdmissionLedger.js"
import type { Ticket } from "./AdmissionLimit.js"

/** Before the first 429, the rate doubles every this many admitted calls that had to wait for it. */
const SLOW_START_CALLS = 8
/** After a 429, the rate returns at once to this fraction of the rate the 429 came at... */
const RECOVER_TO = 0.9
/** ...then creeps up by this fraction of that rate per second. */
const CREEP_PER_SECOND = 0.002

/**
 * @since 0.3.0
 * @category models
 */
export class Discovery {
  /** The rate a 429 last came at; undefined before the first. */
  ceiling: number | undefined
  lastDecreaseAt = Number.NEGATIVE_INFINITY

  constructor(readonly ledger: Ledger) {}

  /**
   * A call went through. Only calls that waited for the request bucket count: when the caller, not
   * admission, is the bottleneck, success says nothing about how much more the upstream would take.
   */
  succeeded(ticket: Ticket): void {
    const r = this.ledger.limits.requests
    if (!this.ledger.discovering() || r === undefined || ticket.boundBy !== "rpm") return
    const rate = r.bucket.limit
    if (this.ceiling === undefined) {
      this.ledger.setRate(rate * (1 + 1 / SLOW_START_CALLS))
      return
    }
    const target = this.ceiling * RECOVER_TO
    const creep = (this.ceiling * CREEP_PER_SECOND * 60) / rate
    this.ledger.setRate(rate < target ? Math.min(target, rate + Math.max(creep, (target - rate) / 4)) : rate + creep)
  }

  /**
   * A 429 while discovering halves the rate, once per congestion event: a 429 answering a call that
   * was admitted before the last decrease does not halve again. Returns what to log.
   */
  rateLimited(now: number, admittedAt: number): string | undefined {
    const r = this.ledger.limits.requests
    if (r === undefined || admittedAt < this.lastDecreaseAt) return undefined
    this.ceiling = r.bucket.limit
    this.ledger.setRate(r.bucket.limit / 2)
    this.lastDecreaseAt = now
    return `admission: 429 at ${this.ceiling.toFixed(1)} RPM, discovery rate now ${r.bucket.limit.toFixed(1)} RPM`
  }
}
