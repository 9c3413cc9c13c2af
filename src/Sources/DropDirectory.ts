/**
 * A drop directory as a source: every JSONL or CSV file that appears in it becomes a run. The file's
 * records are stored, then the file is moved to `<dir>/.done/`, so it is not taken twice.
 *
 * The run id is the file's name and a hash of its content, so taking a file again — after a crash
 * between storing and moving it, or because the same content was dropped twice — finds its run
 * already recorded and stores nothing new. A file is taken once its size and modification time are
 * the same on two scans in a row (still being written otherwise); writing it elsewhere and renaming it
 * in is safer still. Names starting with `.` and ending in `.tmp` or `.part` are ignored. A file that
 * cannot be read is moved to `<dir>/.failed/`.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Layer, Stream } from "effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { pipeline } from "node:stream/promises"
import type { StageError } from "../Domain/Errors.js"
import { Store, type StoreError } from "../Store/Store.js"
import * as FileSource from "./FileSource.js"

/**
 * @since 0.1.0
 */
export interface DropDirectoryOptions {
  readonly dir: string
  /** How often the directory is scanned. */
  readonly pollInterval: Duration.DurationInput
  /** The pipeline settings of each run made from a file (`source` is set to the file's final path). */
  readonly config: Record<string, unknown>
  /** Called once a file's records are all stored (wake the workers, seed progress). */
  readonly onRecorded?: ((run: string) => Effect.Effect<void>) | undefined
  /** Records per store transaction. Default 1000. */
  readonly recordBatch?: number | undefined
}

const DONE = ".done"
const FAILED = ".failed"

/** @since 0.1.0 */
export const accepts = (name: string): boolean =>
  !name.startsWith(".") && !/\.(tmp|part)$/i.test(name) && /\.(jsonl|ndjson|csv)$/i.test(name)

/**
 * `orders.jsonl` with content hash `9f86d08…` → `orders.jsonl-9f86d081884c`.
 *
 * @since 0.1.0
 */
export const runIdOf = (name: string, hash: string): string => `${name.replace(/[^\w.-]+/g, "_")}-${hash.slice(0, 12)}`

const hashFile = (file: string) =>
  Effect.tryPromise({
    try: async () => {
      const hash = createHash("sha256")
      await pipeline(fs.createReadStream(file), hash)
      return hash.digest("hex")
    },
    catch: (e) => e as Error
  })

/** Moves `file` into `sub`, keeping its name unless one is already there; returns the new path. */
const moveInto = (dir: string, sub: string, name: string, hash: string) =>
  Effect.try({
    try: () => {
      const target = path.join(dir, sub)
      fs.mkdirSync(target, { recursive: true })
      let to = path.join(target, name)
      if (fs.existsSync(to)) {
        const ext = path.extname(name)
        to = path.join(target, `${name.slice(0, name.length - ext.length)}.${hash.slice(0, 12)}${ext}`)
      }
      fs.renameSync(path.join(dir, name), to)
      return to
    },
    catch: (e) => e as Error
  })

interface Seen {
  readonly size: number
  readonly mtimeMs: number
}

/**
 * The scanning loop; it runs until interrupted. Interrupted while storing a file, it leaves the file
 * in place, and the next start stores it again into the same run, adding nothing twice.
 *
 * @since 0.1.0
 */
export const loop = (options: DropDirectoryOptions): Effect.Effect<never, never, Store> =>
  Effect.gen(function* () {
    const store = yield* Store
    const dir = path.resolve(options.dir)
    const batch = options.recordBatch ?? 1000
    let previous = new Map<string, Seen>()
    /** Files that could not be moved away: not taken again until they change. */
    const stuck = new Map<string, Seen>()

    /** "taken", "retry" (try again next scan) or "stuck" (stored, but it cannot be moved away). */
    const take = (name: string): Effect.Effect<"taken" | "retry" | "stuck"> =>
      Effect.gen(function* () {
        const file = path.join(dir, name)
        const hash = yield* hashFile(file)
        const run = runIdOf(name, hash)
        const existing = yield* store.getRun(run)
        const recorded = existing._tag === "Some" && existing.value.fetchedAt !== null
        if (!recorded) {
          yield* store.openRun(run, { ...options.config, source: path.join(dir, DONE, name) })
          const read = yield* FileSource.records(file).pipe(
            Stream.grouped(batch),
            Stream.runForEach((chunk) => store.record(run, Array.from(chunk))),
            Effect.either
          )
          if (read._tag === "Left") {
            const error: StageError | StoreError = read.left
            if (error._tag === "StoreError") return yield* Effect.fail(error)
            yield* Effect.logError(
              `drop directory: ${name} could not be read (${error.message}); moving it to ${FAILED}/`
            )
            return yield* moveInto(dir, FAILED, name, hash).pipe(
              Effect.as("taken" as const),
              Effect.catchAll(() => Effect.succeed("stuck" as const))
            )
          }
          yield* store.markFetched(run)
        }
        const moved = yield* Effect.either(moveInto(dir, DONE, name, hash))
        if (moved._tag === "Left") {
          yield* Effect.logError(
            `drop directory: ${name} is stored as run ${run} but cannot be moved: ${moved.left.message}`
          )
        } else {
          yield* Effect.logInfo(
            recorded
              ? `drop directory: ${name} was already run ${run}; moved to ${moved.right}`
              : `drop directory: ${name} is run ${run}`
          )
        }
        if (!recorded && options.onRecorded !== undefined) yield* options.onRecorded(run)
        return moved._tag === "Left" ? ("stuck" as const) : ("taken" as const)
      }).pipe(
        Effect.catchAll((e: Error | StoreError) =>
          Effect.logWarning(`drop directory: could not take ${name} yet: ${e.message}`).pipe(
            Effect.as("retry" as const)
          )
        )
      )

    const scan = Effect.gen(function* () {
      const entries = yield* Effect.sync(() => {
        try {
          return fs.readdirSync(dir, { withFileTypes: true })
        } catch {
          return []
        }
      })
      const now = new Map<string, Seen>()
      for (const e of entries) {
        if (!e.isFile() || !accepts(e.name)) continue
        const st = yield* Effect.sync(() => {
          try {
            return fs.statSync(path.join(dir, e.name))
          } catch {
            return undefined
          }
        })
        if (st !== undefined) now.set(e.name, { size: st.size, mtimeMs: st.mtimeMs })
      }
      for (const [name, seen] of [...now].sort(([a], [b]) => (a < b ? -1 : 1))) {
        const before = previous.get(name)
        if (before === undefined || before.size !== seen.size || before.mtimeMs !== seen.mtimeMs) continue
        const s = stuck.get(name)
        if (s !== undefined && s.size === seen.size && s.mtimeMs === seen.mtimeMs) continue
        const result = yield* take(name)
        if (result === "stuck") stuck.set(name, seen)
        else stuck.delete(name)
      }
      previous = now
    })

    yield* Effect.logInfo(`drop directory: watching ${dir}`)
    return yield* Effect.forever(Effect.zipRight(scan, Effect.sleep(Duration.decode(options.pollInterval))))
  })

/**
 * The loop in a scoped layer: it starts with the layer and stops when the layer's scope closes.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: DropDirectoryOptions): Layer.Layer<never, never, Store> =>
  Layer.scopedDiscard(Effect.forkScoped(loop(options)))
