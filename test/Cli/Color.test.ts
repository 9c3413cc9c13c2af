/**
 * When the CLI may colour its output: `NO_COLOR`, `FORCE_COLOR`, and whether the stream is a terminal.
 */
import { describe, expect, it } from "@effect/vitest"
import { Console, Effect } from "effect"
import * as Color from "../../src/Cli/Color.js"

const tty = { isTTY: true }
const pipe = { isTTY: false }

describe("Color", () => {
  it("colours a terminal only, unless NO_COLOR says no or FORCE_COLOR says yes", () => {
    expect(Color.enabled(tty, {})).toBe(true)
    expect(Color.enabled(pipe, {})).toBe(false)
    expect(Color.enabled(tty, { NO_COLOR: "1" })).toBe(false)
    expect(Color.enabled(tty, { NO_COLOR: "" })).toBe(true)
    expect(Color.enabled(pipe, { FORCE_COLOR: "1" })).toBe(true)
    expect(Color.enabled(pipe, { FORCE_COLOR: "0" })).toBe(false)
    expect(Color.enabled(pipe, { NO_COLOR: "1", FORCE_COLOR: "1" })).toBe(false)
  })

  it.effect("the console strips styles from the stream that may not have them, and only that one", () =>
    Effect.gen(function* () {
      const seen: Array<[string, unknown]> = []
      const base = yield* Console.consoleWith(Effect.succeed)
      const recording: Console.Console = {
        ...base,
        log: (...a) => Effect.sync(() => void seen.push(["out", a[0]])),
        error: (...a) => Effect.sync(() => void seen.push(["err", a[0]]))
      }
      const styled = "\x1b[0;1m--rpm n\x1b[0m"
      const c = Color.console(recording, { stdout: pipe, stderr: tty }, {})
      yield* c.log(styled)
      yield* c.error(styled)
      expect(seen).toEqual([
        ["out", "--rpm n"],
        ["err", styled]
      ])
    })
  )
})
