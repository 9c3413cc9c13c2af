/**
 * `sluice status --watch` on a terminal narrower than its lines: each frame replaces the last one
 * on screen, wrapped rows included. The frames are played on a small terminal model (cursor moves,
 * erases, wrapping at the right margin) and the screen must then show the last frame and nothing else.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import * as path from "node:path"
import { Writable } from "node:stream"
import { watch } from "../../src/Cli/Commands/Status.js"
import * as SqliteStore from "../../src/Store/SqliteStore.js"
import { Store } from "../../src/Store/Store.js"
import { tempDir } from "../support/Temp.js"
import { waitUntil } from "../support/Wait.js"
import { recs } from "../Store/Fixtures.js"

/** A terminal `columns` wide: applies text, `\r`, `\n` and the CSI sequences a redraw uses. */
const terminal = (columns: number) => {
  const screen: Array<Array<string>> = [[]]
  let row = 0
  let col = 0
  const line = () => (screen[row] ??= [])
  const apply = (data: string) => {
    for (let i = 0; i < data.length; i++) {
      const ch = data[i]!
      if (ch === "\x1b" && data[i + 1] === "[") {
        const m = /^\x1b\[([?\d;]*)([A-Za-z])/.exec(data.slice(i))!
        const n = m[1] === "" || m[1]!.startsWith("?") ? undefined : Number(m[1])
        if (m[2] === "A") row = Math.max(0, row - (n ?? 1))
        else if (m[2] === "B") row += n ?? 1
        else if (m[2] === "G") col = (n ?? 1) - 1
        else if (m[2] === "K") line().splice(n === 2 ? 0 : col, Infinity, ...(n === 2 ? Array(col).fill(" ") : []))
        else if (m[2] === "J") {
          line().splice(col)
          screen.splice(row + 1)
        }
        i += m[0].length - 1
      } else if (ch === "\r") col = 0
      else if (ch === "\n") {
        row++
        col = 0
      } else {
        // The right margin: the next character goes to the start of the next row.
        if (col === columns) {
          row++
          col = 0
        }
        line()[col++] = ch
      }
    }
  }
  const text = () =>
    Array.from(screen, (cells) =>
      Array.from(cells ?? [], (c) => c ?? " ")
        .join("")
        .trimEnd()
    )
      .join("\n")
      .replace(/\n+$/, "")
  return { apply, text }
}

/** A stream that looks like a terminal `columns` wide and remembers every write. */
const fakeTty = (columns: number) => {
  const writes: Array<string> = []
  const stream = new Writable({
    write(chunk, _encoding, done) {
      writes.push(String(chunk))
      done()
    }
  })
  Object.assign(stream, { isTTY: true, columns, rows: 100 })
  return { stream: stream as unknown as NodeJS.WriteStream, writes }
}

/** `text` as rows of a terminal `columns` wide. */
const wrapped = (text: string, columns: number) =>
  text
    .split("\n")
    .flatMap((l) => (l.length === 0 ? [""] : (l.match(new RegExp(`.{1,${columns}}`, "g")) ?? [])))
    .map((l) => l.trimEnd())
    .join("\n")

describe("status --watch on a terminal", () => {
  it.scopedLive(
    "each frame replaces the last one exactly when its lines wrap: no stale rows above or below (real time)",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const store = yield* SqliteStore.make({ filename: path.join(dir, "sluice.db") })
        // Run ids longer than the terminal is wide: each row of the report takes three rows on screen.
        for (const run of ["a-run-whose-name-is-longer-than-this-narrow-terminal", "another-run-with-a-long-name"]) {
          yield* store.openRun(run, {})
          yield* store.record(run, recs(3))
        }
        const columns = 40
        const tty = fakeTty(columns)
        const fiber = yield* Effect.fork(watch(undefined, tty.stream).pipe(Effect.provideService(Store, store)))
        yield* waitUntil(() => tty.writes.length >= 3, 30_000, "three frames")
        yield* Fiber.interrupt(fiber)

        const screen = terminal(columns)
        for (const w of tty.writes) screen.apply(w)
        const last = tty.writes.at(-1)!
        // The last frame's own text: what follows its erase sequence.
        const frame = last.replace(/^(\x1b\[[\d;]*[A-Za-z])+/, "").replace(/\n$/, "")
        expect(frame).toContain("a-run-whose-name")
        expect(screen.text()).toBe(wrapped(frame, columns))
        // The report really wraps here, so the test means something.
        expect(
          screen
            .text()
            .split("\n")
            .filter((l) => l.length === columns).length
        ).toBeGreaterThan(2)
      }),
    { timeout: 60_000 }
  )
})
