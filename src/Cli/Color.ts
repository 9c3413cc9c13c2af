/**
 * Whether the CLI may colour what it writes. Colour codes are for people at a terminal: in a pipe or
 * a file they are noise that breaks `grep` and diffs. The convention every tool follows:
 * `NO_COLOR` (set and not empty) turns colour off (https://no-color.org), `FORCE_COLOR` (set, not
 * `0`/`false`) turns it on, and otherwise a stream gets colour only when it is a terminal.
 *
 * `@effect/cli` writes its help and usage errors with ANSI styles whatever the stream, through
 * Effect's `Console`; `console` wraps that service so the styles are removed where colour is off.
 *
 * @since 0.1.0
 */
import { Console } from "effect"

/** A stream as far as colour is concerned. */
export interface Stream {
  readonly isTTY?: boolean | undefined
}

/**
 * Whether text written to `stream` may carry colour codes.
 *
 * @since 0.1.0
 */
export const enabled = (stream: Stream, env: NodeJS.ProcessEnv = process.env): boolean => {
  const no = env["NO_COLOR"]
  if (no !== undefined && no !== "") return false
  const force = env["FORCE_COLOR"]
  if (force !== undefined && force !== "" && force !== "0" && force.toLowerCase() !== "false") return true
  return stream.isTTY === true
}

// SGR sequences (colour, bold, reset): the only escapes @effect/cli's help uses.
const SGR = /\x1b\[[0-9;]*m/g

/**
 * `text` without colour and style codes.
 *
 * @since 0.1.0
 */
export const strip = (text: string): string => text.replace(SGR, "")

const plain = (args: ReadonlyArray<unknown>): Array<unknown> => args.map((a) => (typeof a === "string" ? strip(a) : a))

/**
 * `base` with colour codes removed from what goes to stdout (`log`, `info`, `debug`) and to stderr
 * (`error`, `warn`, `trace`) wherever that stream may not have colour.
 *
 * @since 0.1.0
 */
export const console = (
  base: Console.Console,
  streams: { readonly stdout: Stream; readonly stderr: Stream } = process,
  env: NodeJS.ProcessEnv = process.env
): Console.Console => {
  const out = enabled(streams.stdout, env)
  const err = enabled(streams.stderr, env)
  if (out && err) return base
  return {
    ...base,
    log: (...args) => base.log(...(out ? args : plain(args))),
    info: (...args) => base.info(...(out ? args : plain(args))),
    debug: (...args) => base.debug(...(out ? args : plain(args))),
    error: (...args) => base.error(...(err ? args : plain(args))),
    warn: (...args) => base.warn(...(err ? args : plain(args))),
    trace: (...args) => base.trace(...(err ? args : plain(args)))
  }
}
