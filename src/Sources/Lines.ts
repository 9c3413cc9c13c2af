/**
 * A file's lines as a stream of chunks, with their 1-based line numbers.
 *
 * Reading 256 KiB at a time and splitting by hand keeps one stream step per buffer instead of one
 * per line (readline's async iterator costs a promise per line, which shows at a million items).
 *
 * @since 0.1.0
 */
import { Chunk, Stream } from "effect"
import * as fs from "node:fs"
import { Invalid, type StageError } from "../Domain/Errors.js"

/** @since 0.1.0 */
export interface NumberedLine {
  readonly line: number
  readonly text: string
}

/**
 * @since 0.1.0
 */
export const lines = (file: string): Stream.Stream<NumberedLine, StageError> =>
  Stream.suspend(() => {
    const decoder = new TextDecoder("utf-8")
    // The pieces of a line not yet ended, joined once when its newline comes: each byte is scanned and
    // copied a bounded number of times, however long the line (`carry + text` then a search from the
    // start made one 50 MB line take 16 s).
    let pending: Array<string> = []
    let line = 0
    const ended = (piece: string): string => {
      const whole = pending.length === 0 ? piece : (pending.push(piece), pending.join(""))
      pending = []
      return whole.charCodeAt(whole.length - 1) === 13 ? whole.slice(0, -1) : whole
    }
    const split = (text: string, last: boolean): Chunk.Chunk<NumberedLine> => {
      const out: Array<NumberedLine> = []
      let start = 0
      let nl = text.indexOf("\n")
      while (nl !== -1) {
        out.push({ line: ++line, text: ended(text.slice(start, nl)) })
        start = nl + 1
        nl = text.indexOf("\n", start)
      }
      if (start < text.length) pending.push(text.slice(start))
      if (last && pending.length > 0) {
        const rest = ended("")
        if (rest.length > 0) out.push({ line: ++line, text: rest })
      }
      return Chunk.unsafeFromArray(out)
    }
    return Stream.fromAsyncIterable(
      fs.createReadStream(file, { highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>,
      (cause) => new Invalid({ reason: "Input", message: `cannot read ${file}: ${(cause as Error).message}` })
    ).pipe(
      Stream.mapChunks((buffers) => Chunk.flatMap(buffers, (b) => split(decoder.decode(b, { stream: true }), false))),
      Stream.concat(Stream.suspend(() => Stream.fromChunk(split(decoder.decode(), true))))
    )
  })
