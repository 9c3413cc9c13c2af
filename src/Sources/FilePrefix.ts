/**
 * Hashes of a file's first bytes. A file taken while it may still be written is known by the hash of
 * what was read: the same hash over the same number of bytes later means the file only grew (its new
 * lines are a continuation), another hash means it was rewritten.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"

/**
 * The SHA-256 of the file's first `size` bytes, and of its first `also` bytes when `also` is given
 * (at most `size`), in one read.
 *
 * @since 0.1.0
 */
export const hashes = (file: string, size: number, also?: number): Effect.Effect<readonly [string, string], Error> =>
  Effect.tryPromise({
    try: async () => {
      const whole = createHash("sha256")
      let prefix = also === undefined || also >= size ? undefined : also === 0 ? whole.copy().digest("hex") : undefined
      let read = 0
      if (size > 0) {
        for await (const chunk of fs.createReadStream(file, { start: 0, end: size - 1 }) as AsyncIterable<Buffer>) {
          if (also !== undefined && prefix === undefined && read < also && read + chunk.length >= also) {
            whole.update(chunk.subarray(0, also - read))
            prefix = whole.copy().digest("hex")
            whole.update(chunk.subarray(also - read))
          } else whole.update(chunk)
          read += chunk.length
        }
      }
      if (read < size) throw new Error(`it has ${read} bytes, fewer than the ${size} it had`)
      const all = whole.digest("hex")
      return [all, prefix ?? all] as const
    },
    catch: (e) => e as Error
  })
