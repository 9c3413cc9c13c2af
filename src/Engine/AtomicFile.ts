/**
 * A file written whole or not at all: the content goes to a temporary file beside the target (same
 * folder, so same file system) and is renamed over it when the scope closes. Until then the target
 * keeps its old content; a crash leaves it untouched and a stray temporary file that the next writer
 * of the same target removes.
 *
 * @since 0.1.0
 */
import { Effect, Exit } from "effect"
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { StoreError } from "../Store/Store.js"

const writeError = (file: string, cause: unknown) =>
  new StoreError({
    reason: "Write",
    location: file,
    message: `cannot write ${file}: ${cause instanceof Error ? cause.message : String(cause)}`
  })

const TEMP = /^\.(.+)\.(\d+)-[0-9a-f]+\.tmp$/

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** Temporary files of this target left by writers that died (kill -9) before renaming them. */
const removeStale = (dir: string, base: string) => {
  let names: Array<string>
  try {
    names = fs.readdirSync(dir)
  } catch {
    return
  }
  for (const name of names) {
    const m = TEMP.exec(name)
    if (m === null || m[1] !== base || alive(Number(m[2]))) continue
    fs.rmSync(path.join(dir, name), { force: true })
  }
}

/**
 * @since 0.1.0
 */
export interface AtomicFile {
  readonly fd: number
  /** Where the content goes until the scope closes. */
  readonly temp: string
}

/**
 * Opens a temporary file for `file`; closing the scope renames it into place. On failure or
 * interruption it is renamed too when `keepPartial` says the partial content is worth having (an
 * ordered prefix of results), else removed and the target left as it was.
 *
 * @since 0.1.0
 */
export const open = (file: string, options: { readonly keepPartial: boolean }) =>
  Effect.acquireRelease(
    Effect.try({
      try: (): AtomicFile => {
        const dir = path.dirname(path.resolve(file))
        const base = path.basename(file)
        // What opening the target itself would have refused, refused now rather than after the work.
        const st = fs.statSync(file, { throwIfNoEntry: false })
        if (st?.isDirectory() === true) throw new Error("it is a directory")
        if (st !== undefined) fs.accessSync(file, fs.constants.W_OK)
        removeStale(dir, base)
        const temp = path.join(dir, `.${base}.${process.pid}-${randomBytes(4).toString("hex")}.tmp`)
        return { fd: fs.openSync(temp, "wx", st === undefined ? 0o666 : st.mode & 0o777), temp }
      },
      catch: (e) => writeError(file, e)
    }),
    (f, exit) =>
      Effect.suspend(() => {
        fs.closeSync(f.fd)
        if (Exit.isSuccess(exit) || options.keepPartial) {
          try {
            fs.renameSync(f.temp, file)
            return Effect.void
          } catch (e) {
            // The target's folder went away or became read-only meanwhile: say where the content is.
            return Effect.logError(`${writeError(file, e).message}; the results are in ${f.temp}`)
          }
        }
        fs.rmSync(f.temp, { force: true })
        return Effect.void
      })
  )

/**
 * Appends text at the file's end.
 *
 * @since 0.1.0
 */
export const write = (f: AtomicFile, file: string, text: string) =>
  Effect.try({ try: () => void fs.writeSync(f.fd, text), catch: (e) => writeError(file, e) })
