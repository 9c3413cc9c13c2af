/**
 * The simulator's counters and request log, kept in memory and, when asked, appended to a file.
 *
 * The file is written synchronously, one JSON line per admitted request, before the answer is sent:
 * a client that saw an answer can be SIGKILLed and the line is already with the kernel. The crash
 * test counts these lines to prove that no item was processed twice.
 *
 * @since 0.1.0
 */
import { closeSync, openSync, writeSync } from "node:fs"
import { emptyStats, type LogEntry, type Stats } from "./Stats.js"

/**
 * The in-memory log keeps this many recent entries, so a long-running `sluice simulate` stays
 * bounded; the log file keeps everything.
 *
 * @since 0.1.0
 */
export const LOG_CAPACITY = 100_000

type Counters = { -readonly [K in keyof Stats]: Stats[K] }

/**
 * @since 0.1.0
 * @category models
 */
export class Recorder {
  /** Counters, bumped directly by the handler. */
  readonly counts: Counters = { ...emptyStats }
  private entries: Array<LogEntry> = []
  private fd: number | undefined
  /**
   * Bumped by `reset`. A request admitted before a reset but answered after it must not touch the
   * fresh counters, log or buckets, so it carries the generation it was admitted in.
   */
  generation = 0

  /** Opens `logFile` for appending (creating it), or keeps the log in memory only. */
  constructor(logFile: string | undefined) {
    this.fd = logFile === undefined ? undefined : openSync(logFile, "a")
  }

  /** A request was charged `tokens`, of which `promptTokens` are its prompt. */
  admitted(promptTokens: number, tokens: number): void {
    const c = this.counts
    c.inFlight++
    if (c.inFlight > c.peakInFlight) c.peakInFlight = c.inFlight
    c.promptTokens += promptTokens
    c.tokensCharged += tokens
  }

  /**
   * A request admitted in `generation` was answered, using `completionTokens` and giving back
   * `refunded`; then logged, in the file first so the line survives whatever happens next.
   */
  settled(generation: number, completionTokens: number, refunded: number, entry: LogEntry): void {
    const c = this.counts
    c.inFlight--
    if (this.fd !== undefined) writeSync(this.fd, JSON.stringify(entry) + "\n")
    if (generation !== this.generation) return
    if (entry.status === 200) c.accepted++
    else c.errors++
    c.completionTokens += completionTokens
    c.tokensCharged -= refunded
    this.entries.push(entry)
    // Trimming in halves keeps the cost amortised O(1) per entry.
    if (this.entries.length >= 2 * LOG_CAPACITY) this.entries = this.entries.slice(-LOG_CAPACITY)
  }

  stats(): Stats {
    return { ...this.counts }
  }

  log(): ReadonlyArray<LogEntry> {
    return this.entries.length > LOG_CAPACITY ? this.entries.slice(-LOG_CAPACITY) : this.entries.slice()
  }

  /**
   * Counters and the in-memory log back to start. Requests still in flight stay in `inFlight` until
   * answered, and touch nothing else. The log file is an append-only record and is left as it is.
   */
  reset(): void {
    const inFlight = this.counts.inFlight
    Object.assign(this.counts, emptyStats, { inFlight, peakInFlight: inFlight })
    this.entries = []
    this.generation++
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd)
    this.fd = undefined
  }
}
