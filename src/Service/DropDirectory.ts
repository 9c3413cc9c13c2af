/**
 * A drop directory as a source: every JSONL or CSV file that appears in it becomes a run. The file's
 * records are stored, then the file is moved to `<dir>/.done/`, so it is not taken twice.
 *
 * The run id is the file's name and a hash of its content, so taking a file again — after a crash
 * between storing and moving it, or because the same content was dropped twice — finds its run
 * already recorded and stores nothing new. A file is taken once its size and modification time have
 * not changed for `settle` (still being written otherwise); writing it elsewhere and renaming it in is
 * safer still. A taken file that grows afterwards (a writer that paused longer than `settle`, still
 * writing through its open file into `.done/`) is read again once it settles: its new lines join the
 * same run after the ones already recorded, and nothing recorded is processed twice. It is followed
 * so until it has not changed for `follow`, and only while this process runs. Names starting with `.`
 * and ending in `.tmp` or `.part` are ignored. A file that cannot be read is moved to `<dir>/.failed/`.
 *
 * @since 0.1.0
 */
import { Clock, Duration, Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import type { StageError } from "../Domain/Errors.js"
import type { RunCounts } from "../Domain/Run.js"
import { Events } from "../Engine/Events.js"
import * as Ingest from "../Engine/Ingest.js"
import { Store, type StoreError } from "../Store/Store.js"
import * as FileSource from "../Sources/FileSource.js"
import * as FilePrefix from "../Sources/FilePrefix.js"

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
  /** How long a file must keep its size and modification time before it is taken. Default: `pollInterval`. */
  readonly settle?: Duration.DurationInput | undefined
  /** How long a taken file is watched for growth after its last change. Default 10 minutes. */
  readonly follow?: Duration.DurationInput | undefined
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

const same = (a: Seen | undefined, b: Seen): boolean => a !== undefined && a.size === b.size && a.mtimeMs === b.mtimeMs

/** A state of a file and when a scan first saw it (by the Clock, so tests can drive it). */
interface Settling extends Seen {
  readonly since: number
}

/** A taken file, watched for growth: what was read of it, and into which run. */
interface Followed {
  readonly name: string
  readonly run: string
  readonly ino: number
  /** Bytes read into the run so far, and their hash. */
  readonly size: number
  readonly hash: string
  /** The file's state when last read or seen changing. */
  readonly seen: Seen
  readonly changedAt: number
  readonly settling: Settling | undefined
  readonly warned: boolean
}

const statOf = (file: string) =>
  Effect.sync(() => {
    try {
      return fs.statSync(file)
    } catch {
      return undefined
    }
  })

/**
 * A drop directory's scanner: `scan` looks at the directory once, taking the files that have settled
 * and reading again the taken files that grew. `loop` calls it every poll interval.
 *
 * @since 0.1.0
 */
export const make = (
  options: DropDirectoryOptions
): Effect.Effect<{ readonly scan: Effect.Effect<void> }, never, Store | Events> =>
  Effect.gen(function* () {
    const store = yield* Store
    const events = yield* Events
    const dir = path.resolve(options.dir)
    const batch = options.recordBatch ?? 1000
    const settleMs = Duration.toMillis(Duration.decode(options.settle ?? options.pollInterval))
    const followMs = Duration.toMillis(Duration.decode(options.follow ?? Duration.minutes(10)))
    let settling = new Map<string, Settling>()
    /** Files that could not be moved away: not taken again until they change. */
    const stuck = new Map<string, Seen>()
    /** Taken files in `.done/`, by path. */
    const followed = new Map<string, Followed>()

    /** Reads the file's records into the run, `batch` per transaction; a store error fails, a read error is returned. */
    const readInto = (run: string, file: string) =>
      Ingest.run(run, FileSource.records(file), { batch, announce: "counts" }).pipe(
        Effect.provideService(Events, events),
        Effect.provideService(Store, store),
        Effect.either,
        Effect.flatMap((read) => {
          if (read._tag === "Right") return Effect.succeed(undefined)
          const error: StageError | StoreError = read.left
          return error._tag === "StoreError" ? Effect.fail(error) : Effect.succeed(error)
        })
      )

    /** "taken", "retry" (try again next scan) or "stuck" (stored, but it cannot be moved away). */
    const take = (name: string, seen: Seen, now: number): Effect.Effect<"taken" | "retry" | "stuck"> =>
      Effect.gen(function* () {
        const file = path.join(dir, name)
        const st = yield* statOf(file)
        if (st === undefined) return "retry" as const
        // Only the bytes there now: a writer appending meanwhile is followed, never half-counted.
        const [hash] = yield* FilePrefix.hashes(file, st.size)
        const run = runIdOf(name, hash)
        const existing = yield* store.getRun(run)
        const recorded = existing._tag === "Some" && existing.value.fetchedAt !== null
        if (!recorded) {
          yield* store.openRun(run, { ...options.config, source: path.join(dir, DONE, name) })
          const error = yield* readInto(run, file)
          if (error !== undefined) {
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
          if (!recorded) {
            followed.set(moved.right, {
              name,
              run,
              ino: st.ino,
              size: st.size,
              hash,
              seen,
              changedAt: now,
              settling: undefined,
              warned: false
            })
          }
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

    /**
     * A taken file that grew: once it has settled, its lines are read again into its run. Lines
     * already recorded are left as they are (their keys and positions are in the store); new ones
     * follow them, and a last line that was cut off mid-write is recorded whole in its place.
     */
    const follow = (file: string, f: Followed, now: number): Effect.Effect<void> =>
      Effect.gen(function* () {
        const st = yield* statOf(file)
        if (st === undefined || st.ino !== f.ino) return followed.delete(file)
        const seen: Seen = { size: st.size, mtimeMs: st.mtimeMs }
        if (same(f.seen, seen)) {
          if (now - f.changedAt >= followMs) followed.delete(file)
          return
        }
        const since = same(f.settling, seen) ? f.settling!.since : now
        if (now - since < settleMs) {
          followed.set(file, { ...f, settling: { ...seen, since }, changedAt: now })
          return
        }
        const [hash, prefix] = yield* FilePrefix.hashes(file, st.size, f.size)
        if (st.size < f.size || prefix !== f.hash) {
          yield* Effect.logWarning(
            `drop directory: ${f.name} was rewritten after it was taken as run ${f.run}; the run keeps what it read, the new content is not taken (drop it as a new file)`
          )
          return followed.delete(file)
        }
        if (st.size > f.size) {
          const counts = yield* store.counts(f.run)
          const error = yield* readInto(f.run, file)
          if (error !== undefined) {
            yield* Effect.logError(`drop directory: ${f.name} grew but could not be read again: ${error.message}`)
            return followed.delete(file)
          }
          const after = yield* store.counts(f.run)
          const added = total(after) - total(counts)
          const message = `drop directory: ${f.name} grew after it was taken (still being written?): ${added} new item(s) added to run ${f.run}`
          yield* f.warned
            ? Effect.logInfo(message)
            : Effect.logWarning(`${message}. Write files elsewhere and rename them in, so they are whole when taken`)
          if (options.onRecorded !== undefined) yield* options.onRecorded(f.run)
        }
        followed.set(file, { ...f, size: st.size, hash, seen, changedAt: now, settling: undefined, warned: true })
      }).pipe(
        Effect.catchAll((e: Error | StoreError) =>
          Effect.logWarning(`drop directory: could not read ${f.name} again yet: ${e.message}`)
        )
      )

    const scan = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const entries = yield* Effect.sync(() => {
        try {
          return fs.readdirSync(dir, { withFileTypes: true })
        } catch {
          return []
        }
      })
      const next = new Map<string, Settling>()
      for (const e of entries) {
        if (!e.isFile() || !accepts(e.name)) continue
        const st = yield* statOf(path.join(dir, e.name))
        if (st === undefined) continue
        const seen = { size: st.size, mtimeMs: st.mtimeMs }
        const before = settling.get(e.name)
        next.set(e.name, { ...seen, since: same(before, seen) ? before!.since : now })
      }
      settling = next
      for (const [name, state] of [...next].sort(([a], [b]) => (a < b ? -1 : 1))) {
        if (now - state.since < settleMs) continue
        const s = stuck.get(name)
        if (same(s, state)) continue
        const result = yield* take(name, state, now)
        if (result === "stuck") stuck.set(name, state)
        else stuck.delete(name)
        if (result !== "retry") next.delete(name)
      }
      for (const [file, f] of [...followed]) yield* follow(file, f, now)
    })

    return { scan }
  })

const total = (c: RunCounts): number => c.pending + c.processing + c.completed + c.skipped + c.failed

/**
 * The scanning loop; it runs until interrupted. Interrupted while storing a file, it leaves the file
 * in place, and the next start stores it again into the same run, adding nothing twice.
 *
 * @since 0.1.0
 */
export const loop = (options: DropDirectoryOptions): Effect.Effect<never, never, Store | Events> =>
  Effect.gen(function* () {
    const { scan } = yield* make(options)
    yield* Effect.logInfo(`drop directory: watching ${path.resolve(options.dir)}`)
    return yield* Effect.forever(Effect.zipRight(scan, Effect.sleep(Duration.decode(options.pollInterval))))
  })

/**
 * The loop in a scoped layer: it starts with the layer and stops when the layer's scope closes.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: DropDirectoryOptions): Layer.Layer<never, never, Store | Events> =>
  Layer.scopedDiscard(Effect.forkScoped(loop(options)))
