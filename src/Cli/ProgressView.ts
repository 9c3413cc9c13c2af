/**
 * Draws a run's progress on stderr: a bar redrawn in place on a terminal, a plain line every few
 * seconds otherwise (logs, CI). Counts, the rate over the last seconds, and an ETA that names what
 * bounds the run ("bound by RPM: ~3 min") when admission knows the limits.
 *
 * @since 0.1.0
 */
import * as HelpDoc from "@effect/cli/HelpDoc"
import { Clock, Effect, Fiber, Option, Schedule } from "effect"
import { Admission, type AdmissionState } from "../Governor/Admission.js"
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
export type SessionUse = Effect.Effect<{ readonly requests: number; readonly tokens: number }>

/**
 * @since 0.1.0
 */
export interface FollowOptions {
  readonly usage?: SessionUse | undefined
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
 * What the progress line's symbols mean, for `--help`.
 *
 * @since 0.1.0
 */
export const LEGEND =
  "Progress: done/total (+ while the input is still being read), ✓ completed, ↷ skipped, ✗ failed, ⟳ in the stages now, ↻ retries, 429× rate-limit answers, items/s, ETA (and the limit that bounds it), elapsed. A narrow terminal drops the bar, then elapsed, rate, retries, 429s and the per-status counts; never the ETA."

/**
 * A command's description followed by the legend of its progress line, as `--help` shows it.
 *
 * @since 0.1.0
 */
export const describedWithLegend = (description: string): HelpDoc.HelpDoc =>
  HelpDoc.sequence(HelpDoc.p(description), HelpDoc.p(LEGEND))

/**
 * The width a progress line must fit in: the terminal's, else 80 columns (logs, CI).
 *
 * @since 0.1.0
 */
export const DEFAULT_WIDTH = 80

interface Field {
  readonly text: string
  /** Fields are dropped lowest first until the line fits. */
  readonly keep: number
}

/** The fields in display order, joined by spaces; the ones least worth keeping dropped until it fits. */
const fit = (fields: ReadonlyArray<Field>, width: number): string => {
  let shown = fields.filter((f) => f.text !== "")
  const length = (fs: ReadonlyArray<Field>) => fs.reduce((n, f) => n + f.text.length, 0) + fs.length - 1
  while (length(shown) > width) {
    const least = shown.reduce((a, b) => (b.keep < a.keep ? b : a))
    if (least.keep === Infinity) break
    shown = shown.filter((f) => f !== least)
  }
  return shown.map((f) => f.text).join(" ")
}

/**
 * One line describing a run's progress, at most `width` characters: when the whole line does not
 * fit, the bar goes first, then elapsed time, rate, retries, 429s and the per-status counts, so what
 * is left is done/total and the ETA; the ETA is never cut.
 *
 * @since 0.1.0
 */
export const line = (
  p: Progress.RunProgress,
  extras: LineExtras,
  tty: boolean,
  width: number = DEFAULT_WIDTH
): string => {
  const c = p.counts
  const done = Progress.finished(c)
  const total = done + Progress.remaining(c)
  const pct = total === 0 ? 0 : Math.floor((done / total) * 100)
  const eta = p.sourceDone && extras.eta !== undefined ? Eta.format(extras.eta) : undefined
  const elapsed = elapsedText(extras.elapsedMs)
  const fields = (barWidth: number): Array<Field> => [
    ...(tty ? [{ text: barWidth > 0 ? bar(total === 0 ? 0 : done / total, barWidth) : "", keep: 0 }] : []),
    { text: tty ? `${String(pct).padStart(3)}%` : `sluice: ${pct}%`, keep: tty ? 8 : Infinity },
    // Last to go, on a terminal too narrow for it and the ETA together.
    { text: `${done}/${total}${p.sourceDone ? "" : "+"}`, keep: 100 },
    { text: `✓${c.completed}`, keep: 7 },
    { text: `↷${c.skipped}`, keep: 5 },
    { text: `✗${c.failed}`, keep: 9 },
    { text: `⟳${c.processing}`, keep: 6 },
    { text: p.retries > 0 ? `↻${p.retries}` : "", keep: 3 },
    { text: p.rateLimitHits > 0 ? `429×${p.rateLimitHits}` : "", keep: 4 },
    { text: rateText(extras.perSecond), keep: 2 },
    { text: eta ?? "", keep: Infinity },
    { text: tty ? elapsed : `(${elapsed})`, keep: 1 }
  ]
  // On a terminal the bar shrinks before anything else goes; below 8 cells it says nothing.
  const whole = fit(fields(24), Infinity)
  const spare = width - whole.length
  return fit(fields(spare >= 0 ? 24 : Math.max(0, 24 + spare) >= 8 ? 24 + spare : 0), width)
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
      // One column short of the terminal's width: a line that reaches the last column wraps on some
      // terminals, and `\r` would then redraw only its second half.
      const columns = process.stderr.columns ?? 0
      return line(
        p,
        { perSecond, eta, elapsedMs: now - p.startedAt },
        tty,
        tty && columns > 0 ? columns - 1 : DEFAULT_WIDTH
      )
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
