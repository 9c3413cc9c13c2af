/**
 * Draws a run's progress on stderr: a bar redrawn in place on a terminal, a plain line every few
 * seconds otherwise (logs, CI).
 *
 * @since 0.1.0
 */
import { Clock, Duration, Effect, Schedule } from "effect"
import * as Progress from "../Engine/Progress.js"

const bar = (fraction: number, width: number) => {
  const full = Math.round(Math.max(0, Math.min(1, fraction)) * width)
  return "█".repeat(full) + "░".repeat(width - full)
}

/**
 * One line describing a run's progress.
 *
 * @since 0.1.0
 */
export const line = (p: Progress.RunProgress, now: number, tty: boolean): string => {
  const c = p.counts
  const done = c.completed + c.skipped + c.failed
  const total = done + c.pending + c.processing
  const elapsed = Math.max(1, now - p.startedAt) / 1000
  const rate = p.finishedThisSession / elapsed
  const remaining = c.pending + c.processing
  const eta = rate > 0 && p.sourceDone ? ` eta ${Duration.format(Duration.seconds(Math.ceil(remaining / rate)))}` : ""
  const counts = `${done}/${total}${p.sourceDone ? "" : "+"} ✓${c.completed} ↷${c.skipped} ✗${c.failed} ⟳${c.processing}`
  const speed = `${rate.toFixed(rate < 10 ? 1 : 0)}/s`
  return tty
    ? `${bar(total === 0 ? 0 : done / total, 24)} ${counts} ${speed}${eta}`
    : `sluice: ${counts} ${speed}${eta}`
}

/**
 * Follows a run until interrupted.
 *
 * @since 0.1.0
 */
export const follow = (run: string) =>
  Effect.gen(function* () {
    const progress = yield* Progress.Progress
    const tty = process.stderr.isTTY === true
    const draw = Effect.gen(function* () {
      const p = yield* progress.get(run)
      if (p === undefined) return
      const text = line(p, yield* Clock.currentTimeMillis, tty)
      yield* Effect.sync(() => (tty ? process.stderr.write(`\r\x1b[2K${text}`) : process.stderr.write(`${text}\n`)))
    })
    yield* draw.pipe(
      Effect.repeat(Schedule.spaced(tty ? "200 millis" : "5 seconds")),
      Effect.ensuring(tty ? Effect.zipRight(draw, Effect.sync(() => process.stderr.write("\n"))) : Effect.void)
    )
  })
