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
    let carry = ""
    let line = 0
    const split = (text: string, last: boolean): Chunk.Chunk<NumberedLine> => {
      const out: Array<NumberedLine> = []
      const all = carry + text
      let start = 0
      let nl = all.indexOf("\n", start)
      while (nl !== -1) {
        const end = nl > start && all.charCodeAt(nl - 1) === 13 ? nl - 1 : nl
        out.push({ line: ++line, text: all.slice(start, end) })
        start = nl + 1
        nl = all.indexOf("\n", start)
      }
      carry = all.slice(start)
      if (last && carry.length > 0) {
        out.push({ line: ++line, text: carry.endsWith("\r") ? carry.slice(0, -1) : carry })
        carry = ""
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
