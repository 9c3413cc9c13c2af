/**
 * Opening a database in WAL mode creates its `-wal` and `-shm` files, owned by whoever opened it. When
 * that is a user who may only read the database (`sluice status` on a colleague's file), the files
 * stay behind, owned by the reader, and the owner's next write fails: it cannot write a `-shm` it does
 * not own. So a process that cannot write the database removes, on close, the side files it created.
 *
 * Only those: files that did not exist when it opened the database, that it owns, and, for the `-wal`,
 * that are empty. A writer can never have used them: it cannot write files this reader owns.
 *
 * @since 0.1.0
 */
import { Effect, type Scope } from "effect"
import * as fs from "node:fs"

const writable = (file: string): boolean => {
  try {
    fs.accessSync(file, fs.constants.W_OK)
    return true
  } catch {
    return false
  }
}

/**
 * Call before opening `filename`: when this process cannot write it, the side files it is about to
 * create are removed when the scope closes (after the connection, which was opened later, closed).
 *
 * @since 0.1.0
 */
export const removeOnClose = (filename: string): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function* () {
    if (!fs.existsSync(filename) || writable(filename)) return
    const uid = process.getuid?.()
    const created = [`${filename}-wal`, `${filename}-shm`].filter((f) => !fs.existsSync(f))
    if (created.length === 0 || uid === undefined) return
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        for (const f of created) {
          try {
            const st = fs.statSync(f)
            if (st.uid !== uid || (f.endsWith("-wal") && st.size > 0)) continue
            fs.rmSync(f, { force: true })
          } catch {
            // Gone already, or not ours to remove.
          }
        }
      })
    )
  })
