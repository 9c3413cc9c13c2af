/**
 * Where a command may write its results, and how: never onto a file it reads (the input, the
 * database or its `-wal`/`-shm`), and never by truncating the target before the new content is whole.
 *
 * Opening `--out` with "w" empties it at once: when it named the input, the items were gone before
 * they were read; when it named the database, every run was lost. Paths are compared by what they
 * resolve to (symlinks, `./`, hard links through the inode), not by their spelling.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { usage } from "./CliError.js"

/** The file a path names once symlinks are followed, or where it would be created. */
const resolved = (file: string): string => {
  const abs = path.resolve(file)
  try {
    return fs.realpathSync(abs)
  } catch {
    try {
      return path.join(fs.realpathSync(path.dirname(abs)), path.basename(abs))
    } catch {
      return abs
    }
  }
}

const inode = (file: string): string | undefined => {
  try {
    const st = fs.statSync(file)
    return `${st.dev}:${st.ino}`
  } catch {
    return undefined
  }
}

/** True when `a` and `b` are the same file (same real path, or the same inode when both exist). */
export const sameFile = (a: string, b: string): boolean => {
  if (resolved(a) === resolved(b)) return true
  const ia = inode(a)
  return ia !== undefined && ia === inode(b)
}

/**
 * Refuses (exit 2) an output that is one of the files the command reads. `db` is a SQLite file (its
 * `-wal`, `-shm` and `-journal` count too), or a URL, which no path can clash with.
 *
 * @since 0.1.0
 */
export const check = (out: string, reads: { readonly input?: string | undefined; readonly db: string }) =>
  Effect.suspend(() => {
    if (reads.input !== undefined && sameFile(out, reads.input)) {
      return Effect.fail(usage(`sluice: --out ${out} is the input file; writing it would destroy the items`))
    }
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(reads.db)) {
      for (const suffix of ["", "-wal", "-shm", "-journal"]) {
        if (sameFile(out, reads.db + suffix)) {
          return Effect.fail(
            usage(
              `sluice: --out ${out} is the database${suffix === "" ? "" : `'s ${suffix} file`}; choose another file`
            )
          )
        }
      }
    }
    return Effect.void
  })
