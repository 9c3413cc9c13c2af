/**
 * Admission's accounting, without Effect: the buckets of every limit, our own ledger of what the
 * upstream is owed, the pause a 429 imposes, and the window a surprising 429 shrinks. Every method is
 * one synchronous step, which the single JS thread runs atomically; `Admission.ts` calls them from
 * inside `Effect.clockWith`, and the queue of waiters (`AdmissionQueue.ts`) and the pump sit on top.
 * Discovery (`AdmissionDiscovery.ts`) and header resynchronisation (`AdmissionResync.ts`) change this
 * same state.
 *
 * @since 0.3.0
 */
import { Invalid } from "../Domain/Errors.js"
import type { AdmissionOptions, Bound, Used } from "./Admission.js"
import * as Bucket from "./Bucket.js"
import * as HeaderBelief from "./HeaderBelief.js"
import { type Costs, costOf, KINDS, type Kind, type Limit, makeLimit, positive, type Ticket } from "./AdmissionLimit.js"

/**
 * A snapshot for progress and ETA ("bound by TPM").
 *
 * @since 0.1.0
 */
export interface AdmissionState {
  /** The request limit in force, configured or learned from headers; undefined while discovering or unknown. */
  readonly rpm: number | undefined
  /** The token limit in force; undefined when unknown (tokens are then not limited). */
  readonly tpm: number | undefined
  readonly rpmSource: "configured" | "headers" | "discovered" | "unknown"
  readonly tpmSource: "configured" | "headers" | "unknown"
  /** The request rate currently used while discovering, per minute. */
  readonly discoveredRpm: number | undefined
  readonly requestLevel: number | undefined
  readonly requestCapacity: number | undefined
  readonly tokenLevel: number | undefined
  readonly tokenCapacity: number | undefined
  /** Calls waiting in the queue. */
  readonly waiting: number
  /** Until when everyone waits because of a 429 (Clock milliseconds; 0 when never paused). */
  readonly pausedUntilMs: number
  /** Milliseconds all admitted calls spent waiting, summed. */
  readonly totalWaitMs: number
  /** The bucket that most recently made a call wait. */
  readonly boundBy: Bound | undefined
  /** 429s reported through `pause`. */
  readonly rateLimitHits: number
  /** The span of each limit a bucket holds now (shrinks on a 429 our accounting did not predict). */
  readonly windowMs: number
  /** Whether the upstream is believed to give back unused token allowance (learned; false until shown). */
  readonly refunds: boolean
  /** Separate input/output token limits, when the upstream reports them. */
  readonly inputTpm: number | undefined
  readonly outputTpm: number | undefined
}

const SLACK = Bucket.SLACK
/** The lowest rate discovery goes down to, per minute. */
export const MIN_DISCOVERY_RPM = 1
const DEFAULT_DISCOVERY_START_RPM = 60
/**
 * The span of a limit each bucket holds. OpenAI's guide says a per-minute limit may be enforced over
 * a second or less; a smaller burst is the weaker assumption, and while the limit binds (a queue is
 * waiting) the burst size costs nothing. Below ~200 ms an event loop that lags on a busy machine would
 * lose refill to the cap, so the window stops shrinking at `MIN_WINDOW_MS`.
 *
 * @since 0.2.0
 */
export const DEFAULT_WINDOW_MS = 250
const MIN_WINDOW_MS = 50
/** After a 429, header readings are believed beyond our own ledger for this long. */
const CONTESTED_MS = 10_000

/**
 * The whole accounting state of one Admission.
 *
 * @since 0.3.0
 */
export class Ledger {
  readonly configuredRpm: number | undefined
  readonly configuredTpm: number | undefined
  readonly configuredInputTpm: number | undefined
  readonly configuredOutputTpm: number | undefined
  readonly startFull: boolean
  readonly assumeRefunds: boolean
  readonly limits: Partial<Record<Kind, Limit>> = {}
  windowMs: number
  rpmSource: AdmissionState["rpmSource"]
  tpmSource: AdmissionState["tpmSource"]
  /** Until when everyone waits because of a 429 (0: never paused). */
  pausedUntil = 0
  /** Until when header readings are believed beyond our ledger (after a 429). */
  contestedUntil = Number.NEGATIVE_INFINITY
  lastShrinkAt = Number.NEGATIVE_INFINITY
  rateLimitHits = 0
  totalWaitMs = 0
  boundBy: Bound | undefined
  /** Clock milliseconds of the last refill. */
  last: number
  /** When the first answer (or its headers) arrived; undefined before. */
  heardAt: number | undefined
  /**
   * Until the first call arrives, time refills nothing: the start margin is for the first calls, and a
   * host that builds its layers and claims items before calling (0.1–1 s) would otherwise have
   * refilled it away by then.
   */
  called: boolean

  constructor(
    options: AdmissionOptions,
    now: number,
    /** Whether the fleet budget, not the clock, fills a limit's bucket. */
    readonly supplied: (ledger: Ledger, limit: Limit) => boolean = () => false
  ) {
    this.configuredRpm = positive(options.rpm)
    this.configuredTpm = positive(options.tpm)
    this.configuredInputTpm = positive(options.inputTpm)
    this.configuredOutputTpm = positive(options.outputTpm)
    this.startFull = options.startFull === true
    this.assumeRefunds = options.assumeRefunds === true
    this.windowMs = positive(options.windowMs) ?? DEFAULT_WINDOW_MS
    this.last = now
    this.called = this.startFull
    const discover = options.discover ?? true
    this.rpmSource = this.configuredRpm !== undefined ? "configured" : discover ? "discovered" : "unknown"
    this.tpmSource = this.configuredTpm !== undefined ? "configured" : "unknown"
    if (this.configuredRpm !== undefined)
      this.limits.requests = makeLimit("requests", this.configuredRpm, this.windowMs, this.startFull, false)
    // The discovery rate is a guess far below any real limit: a margin on it would only hold the first call back.
    else if (discover) {
      const startRpm = positive(options.discoveryStartRpm) ?? DEFAULT_DISCOVERY_START_RPM
      this.limits.requests = makeLimit("requests", startRpm, this.windowMs, true, false)
    }
    if (this.configuredTpm !== undefined)
      this.limits.tokens = makeLimit("tokens", this.configuredTpm, this.windowMs, this.startFull, this.assumeRefunds)
    if (this.configuredInputTpm !== undefined)
      this.limits.input = makeLimit("input", this.configuredInputTpm, this.windowMs, this.startFull, this.assumeRefunds)
    // Only Anthropic limits output apart, and it documents adjusting output to actual use at the answer.
    if (this.configuredOutputTpm !== undefined)
      this.limits.output = makeLimit(
        "output",
        this.configuredOutputTpm,
        this.windowMs,
        this.startFull,
        this.assumeRefunds,
        HeaderBelief.documentedRefund(now)
      )
    // Supplied buckets hold only what the fleet budget grants.
    this.each((l) => {
      if (this.supplied(this, l)) l.bucket.level = 0
    })
  }

  each(f: (limit: Limit) => void): void {
    for (const kind of KINDS) {
      const l = this.limits[kind]
      if (l !== undefined) f(l)
    }
  }

  discovering(): boolean {
    return this.rpmSource === "discovered"
  }

  /** THE CLOCK REFILL: the one place time turns into budget (`Bucket.refill`); the ledgers pay off alike. */
  refill(now: number): void {
    if (now <= this.last) return
    const dt = now - this.last
    this.last = now
    if (!this.called) return
    this.each((l) => {
      if (!this.supplied(this, l)) Bucket.refill(l.bucket, dt)
      const paid = dt * l.bucket.perMs
      l.owedKept = Math.max(0, l.owedKept - paid)
      l.owedRefunded = Math.max(0, l.owedRefunded - paid)
    })
  }

  /** While discovering, the capacity is a guess that grows: clamp rather than refuse. */
  costIn(l: Limit, costs: Costs): number {
    const c = costOf(costs, l.kind)
    return l.kind === "requests" && this.discovering() ? Math.min(c, l.bucket.capacity) : c
  }

  /** Why `costs` can never be admitted, or undefined. */
  tooLarge(costs: Costs): Invalid | undefined {
    for (const kind of ["tokens", "input", "output"] as const) {
      const l = this.limits[kind]
      const c = costOf(costs, kind)
      if (l !== undefined && c > l.bucket.limit * (1 + SLACK)) {
        const what = kind === "tokens" ? "TPM" : `${kind} TPM`
        return new Invalid({
          reason: "TooLarge",
          message: `a call of ${Math.ceil(c)} ${kind === "tokens" ? "" : `${kind} `}tokens can never be admitted: it is more than the whole ${l.bucket.limit} ${what} limit`
        })
      }
    }
    const r = this.limits.requests
    if (r !== undefined && !this.discovering() && costs.requests > r.bucket.limit * (1 + SLACK)) {
      return new Invalid({
        reason: "TooLarge",
        message: `a cost of ${costs.requests} requests can never be admitted: it is more than the whole ${r.bucket.limit} RPM limit`
      })
    }
    return undefined
  }

  /** How long until `costs` fit, and which bucket binds. */
  waitFor(costs: Costs): { readonly ms: number; readonly bound: Bound | undefined } {
    let ms = 0
    let bound: Bound | undefined
    this.each((l) => {
      const m = Bucket.missingMs(l.bucket, this.costIn(l, costs))
      if (m > ms) {
        ms = m
        bound = l.kind === "requests" ? "rpm" : "tpm"
      }
    })
    return { ms, bound }
  }

  take(costs: Costs): void {
    this.each((l) => {
      const c = this.costIn(l, costs)
      Bucket.take(l.bucket, c)
      l.owedKept += c
      l.owedRefunded += c
    })
  }

  setRate(rpm: number): void {
    const r = this.limits.requests
    if (r !== undefined) Bucket.resize(r.bucket, Math.max(MIN_DISCOVERY_RPM, rpm))
  }

  /** Adds `amounts` back to the buckets and the ledgers (`"both"`, or only the refunding one). */
  giveBack(amounts: Partial<Record<Kind, number>>, ledger: "both" | "refunded", now: number): void {
    this.refill(now)
    this.each((l) => {
      const a = amounts[l.kind] ?? 0
      if (a === 0) return
      if (l.kind === "requests") Bucket.adjust(l.bucket, Math.min(a, l.bucket.capacity - l.bucket.level))
      else Bucket.adjust(l.bucket, a)
      l.owedRefunded = Math.max(0, l.owedRefunded - a)
      if (ledger === "both") l.owedKept = Math.max(0, l.owedKept - a)
    })
  }

  /**
   * What the answer used against each token limit. Usage above the reservation is charged to the
   * bucket and both ledgers at once; the unused part goes to the refunding ledger always (so the
   * headers can show which ledger the upstream keeps), and to the bucket only while refunds are
   * believed. True when budget came back.
   */
  settle(ticket: Ticket, used: Used, now: number): boolean {
    const total = typeof used === "number" ? used : used.promptTokens + used.completionTokens
    const usedOf: Record<Exclude<Kind, "requests">, number> = {
      tokens: Number.isFinite(total) ? Math.max(0, total) : ticket.tokens,
      input: typeof used === "number" ? ticket.inputTokens : Math.max(0, used.promptTokens),
      output: typeof used === "number" ? ticket.outputTokens : Math.max(0, used.completionTokens)
    }
    const reserved: Record<Exclude<Kind, "requests">, number> = {
      tokens: ticket.tokens,
      input: ticket.inputTokens,
      output: ticket.outputTokens
    }
    this.refill(now)
    this.heard(now)
    let changed = false
    this.each((l) => {
      if (l.kind === "requests") return
      const diff = reserved[l.kind] - usedOf[l.kind]
      if (diff === 0) return
      if (diff < 0) {
        Bucket.adjust(l.bucket, diff)
        l.owedKept -= diff
        l.owedRefunded -= diff
        return
      }
      l.owedRefunded = Math.max(0, l.owedRefunded - diff)
      if (l.belief.refunds) {
        Bucket.adjust(l.bucket, diff)
        changed = true
      }
    })
    return changed
  }

  /**
   * Before the call is sent, it will ask for less than it waited for: the difference goes back to the
   * buckets and both ledgers, since the upstream never sees it. False when nothing changed.
   */
  lower(ticket: Ticket, tokens: number, input: number, output: number, now: number): boolean {
    const back = {
      tokens: Math.max(0, ticket.tokens - tokens),
      input: Math.max(0, ticket.inputTokens - input),
      output: Math.max(0, ticket.outputTokens - output)
    }
    if (back.tokens === 0 && back.input === 0 && back.output === 0) return false
    ticket.tokens -= back.tokens
    ticket.inputTokens -= back.input
    ticket.outputTokens -= back.output
    this.giveBack(back, "both", now)
    return true
  }

  /** An answer arrived: from now on, a 429 can be judged against what the answers told. */
  heard(now: number): void {
    if (this.heardAt === undefined) this.heardAt = now
  }

  /**
   * Sent before any answer had arrived: a 429 for it says only that the first wave went out before the
   * upstream could tell its limits (say an output limit nobody configured), not that our accounting of
   * the limits it told since is wrong: it makes no reading believed beyond our ledger (coarse Anthropic
   * readings believed for ten seconds cost a third of the run). It still pauses everyone, counts, and
   * halves the window: a burst too big for the upstream's window (compat's 200 ms) shows first there.
   */
  blind(admittedAt: number): boolean {
    return this.heardAt === undefined || admittedAt < this.heardAt
  }

  /**
   * A 429: everyone waits `ms`, header readings are believed beyond our ledger for
   * a while, a believed refund is taken back, and (once per congestion event) the window halves,
   * because the upstream enforces over a shorter one than our bursts assumed (`shrinkWindow`; while
   * discovering, the rate halves instead: `AdmissionDiscovery.ts`).
   */
  rateLimited(now: number, ms: number, admittedAt: number): void {
    this.refill(now)
    this.rateLimitHits++
    if (Number.isFinite(ms) && ms > 0) this.pausedUntil = Math.max(this.pausedUntil, now + ms)
    if (this.blind(admittedAt)) return
    this.contestedUntil = now + CONTESTED_MS
    this.each((l) => HeaderBelief.unexpected429(l.belief, admittedAt))
  }

  /** Halves the window once per congestion event (a 429 answering a call admitted since is the same event). */
  shrinkWindow(now: number, admittedAt: number): string | undefined {
    if (admittedAt < this.lastShrinkAt || this.windowMs <= MIN_WINDOW_MS) return undefined
    this.windowMs = Math.max(MIN_WINDOW_MS, this.windowMs / 2)
    this.lastShrinkAt = now
    this.each((l) => Bucket.resize(l.bucket, l.bucket.limit, this.windowMs))
    return `admission: unexpected 429, bursts now hold ${this.windowMs} ms of each limit`
  }

  /** A snapshot for progress and the ETA. */
  state(now: number, waiting: number): AdmissionState {
    this.refill(now)
    const r = this.limits.requests?.bucket
    const t = this.limits.tokens?.bucket
    const discovering = this.discovering()
    return {
      rpm: discovering ? undefined : r?.limit,
      tpm: t?.limit,
      rpmSource: this.rpmSource,
      tpmSource: this.tpmSource,
      discoveredRpm: discovering ? r?.limit : undefined,
      requestLevel: r?.level,
      requestCapacity: r?.capacity,
      tokenLevel: t?.level,
      tokenCapacity: t?.capacity,
      waiting,
      pausedUntilMs: this.pausedUntil,
      totalWaitMs: this.totalWaitMs,
      boundBy: this.boundBy,
      rateLimitHits: this.rateLimitHits,
      windowMs: this.windowMs,
      refunds: (this.limits.tokens ?? this.limits.output ?? this.limits.input)?.belief.refunds ?? this.assumeRefunds,
      inputTpm: this.limits.input?.bucket.limit,
      outputTpm: this.limits.output?.bucket.limit
    }
  }
}
