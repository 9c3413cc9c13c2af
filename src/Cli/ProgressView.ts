/**
 * Draws a run's progress on stderr: a bar redrawn in place on a terminal, a plain line every few
 * seconds otherwise (logs, CI). Counts, the rate over the last seconds, and an ETA that names what
 * bounds the run ("bound by RPM: ~3 min") when admission knows the limits.
 *
 * @since 0.1.0
 */
import { Clock, Effect, Fiber, Option, Schedule } from "effect"
import { Admission, type AdmissionState } from "../Engine/Admission.js"
import * as Eta from "../Engine/Eta.js"
import * as Progress from "../Engine/Progress.js"

/** The rate is taken over this much recent time, so the start's burst and stalls fade out. */
const WINDOW_MS = 10_000
const PLAIN_EVERY_MS = 5_000

/**
 * Upstream calls and tokens spent so far in this session, when the caller can count them (the demo
 * reads its simulator's meter). Without it, an item is taken to cost one call and the tokens the
 * processor reported.
 *
 * @since 0.1.0
 */
export type Usage = Effect.Effect<{ readonly requests: number; readonly tokens: number }>

/**
 * @since 0.1.0
 */
export interface FollowOptions {
  readonly usage?: Usage | undefined
}

const bar = (fraction: number, width: number) => {
  const full = Math.round(Math.max(0, Math.min(1, fraction)) * width)
  return "█".repeat(full) + "░".repeat(width - full)
}

const rateText = (perSecond: number) => `${perSecond.toFixed(perSecond < 10 ? 1 : 0)}/s`

const elapsedText = (ms: number) => {
  const s = Math.floor(ms / 1000)
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`
}

/**
 * What one line shows besides the counts.
 *
 * @since 0.1.0
 */
export interface LineExtras {
  /** Items per second over the recent window. */
  readonly perSecond: number
  readonly eta: Eta.Eta | undefined
  readonly elapsedMs: number
}

/**
 * One line describing a run's progress.
 *
 * @since 0.1.0
 */
export const line = (p: Progress.RunProgress, extras: LineExtras, tty: boolean): string => {
  const c = p.counts
  const done = Progress.finished(c)
  const total = done + Progress.remaining(c)
  const pct = total === 0 ? 0 : Math.floor((done / total) * 100)
  const counts = `${done}/${total}${p.sourceDone ? "" : "+"} ✓${c.completed} ↷${c.skipped} ✗${c.failed} ⟳${c.processing}`
  const parts = [counts]
  if (p.retries > 0) parts.push(`↻${p.retries}`)
  if (p.rateLimitHits > 0) parts.push(`429×${p.rateLimitHits}`)
  parts.push(rateText(extras.perSecond))
  const eta = p.sourceDone && extras.eta !== undefined ? Eta.format(extras.eta) : undefined
  if (eta !== undefined) parts.push(eta)
  return tty
    ? `${bar(total === 0 ? 0 : done / total, 24)} ${String(pct).padStart(3)}% ${parts.join(" ")} ${elapsedText(extras.elapsedMs)}`
    : `sluice: ${pct}% ${parts.join(" ")} (${elapsedText(extras.elapsedMs)})`
}

/**
 * The ETA of a run from its progress, the admission state (limits, queue) and the usage so far.
 *
 * @since 0.1.0
 */
export const estimate = (
  p: Progress.RunProgress,
  window: { readonly finished: number; readonly elapsedMs: number },
  admission: AdmissionState | undefined,
  usage: { readonly requests: number; readonly tokens: number } | undefined
): Eta.Eta => {
  // The usage so far also paid for the items in the stages now, about half of their calls on average.
  const worth = p.finishedThisSession + p.counts.processing / 2
  return Eta.estimate({
    remaining: Progress.remaining(p.counts),
    finished: window.finished,
    elapsedMs: window.elapsedMs,
    requestsPerItem: usage !== undefined && worth > 0 ? usage.requests / worth : undefined,
    tokensPerItem: usage !== undefined && worth > 0 ? usage.tokens / worth : Progress.tokensPerItem(p),
    rpm: admission?.rpm ?? admission?.discoveredRpm,
    tpm: admission?.tpm,
    waiting: admission?.waiting,
    waitingFor: admission?.boundBy
  })
}

/**
 * Follows a run until interrupted.
 *
 * @since 0.1.0
 */
export const follow = (run: string, options: FollowOptions = {}) =>
  Effect.gen(function* () {
    const progress = yield* Progress.Progress
    const admission = yield* Effect.serviceOption(Admission)
    const tty = process.stderr.isTTY === true
    let samples: Array<Eta.Sample> = []
    let printedAt = 0
    let last = ""

    const render = Effect.gen(function* () {
      const p = yield* progress.get(run)
      if (p === undefined) return undefined
      const now = yield* Clock.currentTimeMillis
      // Until the first item finishes, the window restarts: start-up (reading the source, the first
      // calls) is not throughput, and would make the first rates look latency-bound.
      const sample = { atMs: now, finished: p.finishedThisSession }
      samples = p.finishedThisSession === 0 ? [sample] : Eta.addSample(samples, sample, WINDOW_MS)
      const window = Eta.windowed(samples)
      const state = Option.isSome(admission) ? yield* admission.value.state : undefined
      const usage = options.usage === undefined ? undefined : yield* options.usage
      const eta = estimate(p, window, state, usage)
      const perSecond = window.elapsedMs > 0 ? (window.finished * 1000) / window.elapsedMs : 0
      const text = line(p, { perSecond, eta, elapsedMs: now - p.startedAt }, tty)
      const width = process.stderr.columns ?? 0
      return tty && width > 10 && text.length >= width ? text.slice(0, width - 1) : text
    })

    const draw = Effect.gen(function* () {
      const text = yield* render
      if (text === undefined) return
      if (tty) {
        last = text
        return yield* Effect.sync(() => process.stderr.write(`\r\x1b[2K${text}`))
      }
      const now = yield* Clock.currentTimeMillis
      if (now - printedAt < PLAIN_EVERY_MS) return
      printedAt = now
      yield* Effect.sync(() => process.stderr.write(`${text}\n`))
    })

    // Sampled often (the window needs points) but printed every few seconds off a terminal. A first
    // sample is taken at once, so the first rate is measured from the start.
    yield* draw.pipe(
      Effect.repeat(Schedule.spaced(tty ? "250 millis" : "1 second")),
      Effect.ensuring(
        tty
          ? Effect.zipRight(
              draw.pipe(Effect.catchAllCause(() => Effect.void)),
              Effect.sync(() => last.length > 0 && process.stderr.write("\n"))
            )
          : Effect.void
      )
    )
  })

/**
 * Follows a run in the background of the current scope, and returns the effect that stops it: the
 * final state is drawn and the line ended, so a summary printed next starts on a line of its own.
 *
 * @since 0.1.0
 */
export const start = (run: string, options: FollowOptions = {}) =>
  Effect.map(Effect.forkScoped(follow(run, options)), (fiber) => Effect.asVoid(Fiber.interrupt(fiber)))
