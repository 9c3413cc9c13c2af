/**
 * Admission's line of waiters: strict FIFO, so a costly call at the head blocks cheaper ones behind it
 * and cannot starve. Thousands of waiters do not poll: each holds a `Deferred`, and `serve` grants
 * every head that fits and says how long until the next one does, for the one pump fiber to sleep.
 *
 * @since 0.3.0
 */
import { Deferred, Exit, FiberId } from "effect"
import type { Invalid } from "../Domain/Errors.js"
import type { Bound } from "./Admission.js"
import type { Ledger } from "./AdmissionLedger.js"
import { type Costs, Ticket } from "./AdmissionLimit.js"

/**
 * @since 0.3.0
 * @category models
 */
export interface Waiter {
  readonly costs: Costs
  readonly enqueuedAt: number
  readonly deferred: Deferred.Deferred<Ticket, Invalid>
  status: "waiting" | "granted" | "failed" | "cancelled"
  ticket: Ticket | undefined
  boundBy: Bound | undefined
}

/**
 * @since 0.3.0
 * @category models
 */
export class WaitQueue {
  private readonly queue: Array<Waiter> = []
  private head = 0
  /** Waiters still waiting. */
  live = 0

  push(costs: Costs, now: number): Waiter {
    const w: Waiter = {
      costs,
      enqueuedAt: now,
      deferred: Deferred.unsafeMake<Ticket, Invalid>(FiberId.none),
      status: "waiting",
      ticket: undefined,
      boundBy: undefined
    }
    this.queue.push(w)
    this.live++
    return w
  }

  /** The first waiter still waiting, if any. */
  first(): Waiter | undefined {
    while (this.head < this.queue.length && this.queue[this.head]!.status !== "waiting") this.head++
    return this.queue[this.head]
  }

  /** A waiter interrupted before its grant: its place is given up. */
  cancel(w: Waiter): void {
    w.status = "cancelled"
    this.live--
  }

  /**
   * Serves every head that fits; returns how long until the next one does (undefined: queue empty),
   * and the milliseconds the granted ones waited. `hungry` is told when a head lacks budget.
   */
  serve(
    ledger: Ledger,
    now: number,
    hungry: () => void
  ): { readonly delay: number | undefined; readonly waited: number } {
    ledger.refill(now)
    let waited = 0
    while (this.head < this.queue.length) {
      const w = this.queue[this.head]!
      if (w.status !== "waiting") {
        this.head++
        continue
      }
      // Limits learned while it waited may have made it impossible.
      const invalid = ledger.tooLarge(w.costs)
      if (invalid !== undefined) {
        w.status = "failed"
        this.live--
        this.head++
        Deferred.unsafeDone(w.deferred, Exit.fail(invalid))
        continue
      }
      if (now < ledger.pausedUntil) return { delay: ledger.pausedUntil - now, waited }
      const { bound, ms } = ledger.waitFor(w.costs)
      if (ms > 0) {
        w.boundBy = bound
        ledger.boundBy = bound
        hungry()
        return { delay: ms, waited }
      }
      ledger.take(w.costs)
      const c = w.costs
      const ticket = new Ticket(c.requests, c.tokens, c.input, c.output, now, now - w.enqueuedAt, w.boundBy)
      w.status = "granted"
      w.ticket = ticket
      this.live--
      this.head++
      waited += ticket.waitedMs
      Deferred.unsafeDone(w.deferred, Exit.succeed(ticket))
    }
    this.queue.length = 0
    this.head = 0
    return { delay: undefined, waited }
  }

  /** Drops the served part of a long line, now and then, instead of shifting on every grant. */
  compact(): void {
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head)
      this.head = 0
    }
  }

  /** Shutting down: whoever still waits is interrupted rather than left hanging on a dead pump. */
  interruptAll(): void {
    for (let i = this.head; i < this.queue.length; i++) {
      const w = this.queue[i]!
      if (w.status !== "waiting") continue
      w.status = "cancelled"
      Deferred.unsafeDone(w.deferred, Exit.interrupt(FiberId.none))
    }
    this.live = 0
  }
}
