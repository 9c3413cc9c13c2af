/**
 * Writes a run's results as JSONL in input order, one line per item:
 * `{"seq":0,"key":"…","status":"completed","output":…}` (plus `"reason"` when skipped and
 * `"error":{"tag","message","attempts"}` when failed).
 *
 * The store is the reorder buffer: the writer follows it and appends the longest finished prefix, so
 * memory stays flat however far one slow item lags behind, and a restarted run rewrites the file from
 * the store with every item exactly once.
 *
 * @since 0.1.0
 */
import { Clock, Effect } from "effect"
import { Store, type StoreError, type ResultRow } from "../Store/Store.js"
import * as AtomicFile from "./AtomicFile.js"

const PAGE = 4096

/**
 * The output line of one finished item (with its newline).
 *
 * @since 0.1.0
 */
export const line = (r: ResultRow): string => {
  let s = `{"seq":${r.seq},"key":${JSON.stringify(r.key)},"status":"${r.status}","output":${
    r.status === "completed" ? (r.outputJson ?? "null") : "null"
  }`
  if (r.status === "skipped") s += `,"reason":${JSON.stringify(r.errorMessage ?? "")}`
  if (r.status === "failed") {
    s += `,"error":{"tag":${JSON.stringify(r.errorTag ?? "Unknown")},"message":${JSON.stringify(
      r.errorMessage ?? ""
    )},"attempts":${r.attempts}}`
  }
  return s + "}\n"
}

const isFinished = (r: ResultRow) => r.status === "completed" || r.status === "skipped" || r.status === "failed"

/**
 * A writer that follows a run. `advance` appends what has finished since, up to the first unfinished
 * item; `close` closes the file.
 *
 * @since 0.1.0
 */
export interface Follower {
  /** Reads the store past the written prefix and writes what has finished. */
  readonly advance: Effect.Effect<void, StoreError>
  /**
   * Rows just committed, in any order: lines that continue the written prefix are written at once,
   * without reading the store; the rest wait (a bounded buffer) for the items before them. When the
   * prefix stalls (an item recorded failed, a gap), the store is read, at most every 50 ms.
   */
  readonly offer: (rows: ReadonlyArray<ResultRow>) => Effect.Effect<void, StoreError>
  /** Items written so far. */
  readonly written: Effect.Effect<number>
}

/** Lines held for items that finished ahead of earlier ones; past this the store is read instead. */
const BUFFER_MAX = 8192
const STALL_READ_MS = 50

/**
 * Follows `run` into `file`. The lines go to a temporary file beside it, renamed over `file` when
 * the scope closes (also when interrupted: what is written is always an ordered prefix), so `file`
 * keeps its old content until then and is never left half-truncated.
 *
 * @since 0.1.0
 */
export const follow = (run: string, file: string) =>
  Effect.gen(function* () {
    const store = yield* Store
    const out = yield* AtomicFile.open(file, { keepPartial: true })
    let afterSeq = -1
    let written = 0
    // Read just past the written prefix: a small page while the next item is still in flight (the
    // usual case under concurrency), doubling while pages come back wholly finished.
    let page = 64
    const step = Effect.gen(function* () {
      while (true) {
        const rows = yield* store.results(run, { afterSeq, limit: page })
        let text = ""
        let blocked = false
        for (const r of rows) {
          if (!isFinished(r)) {
            blocked = true
            break
          }
          text += line(r)
          afterSeq = r.seq
          written++
        }
        if (text.length > 0) {
          yield* AtomicFile.write(out, file, text)
        }
        if (blocked || rows.length < page) {
          page = 64
          return
        }
        page = Math.min(PAGE, page * 2)
      }
    })
    /** Lines of committed items past the written prefix, by seq. */
    const held = new Map<number, string>()
    let lastRead = 0
    /** Writes the held lines that continue the prefix (seqs are dense within a run). */
    const drain = Effect.suspend(() => {
      let text = ""
      for (let next = held.get(afterSeq + 1); next !== undefined; next = held.get(afterSeq + 1)) {
        held.delete(afterSeq + 1)
        text += next
        afterSeq++
        written++
      }
      return text.length === 0 ? Effect.void : AtomicFile.write(out, file, text)
    })
    const readStore = Effect.gen(function* () {
      lastRead = yield* Clock.currentTimeMillis
      yield* step
      for (const seq of held.keys()) if (seq <= afterSeq) held.delete(seq)
      yield* drain
    })
    const offer = (rows: ReadonlyArray<ResultRow>) =>
      Effect.gen(function* () {
        for (const r of rows) if (r.seq > afterSeq) held.set(r.seq, line(r))
        yield* drain
        if (held.size === 0) return
        if (held.size > BUFFER_MAX || (yield* Clock.currentTimeMillis) - lastRead >= STALL_READ_MS) yield* readStore
        // A long stall (a slow item far behind): the store holds every line, so the memory need not.
        if (held.size > BUFFER_MAX) held.clear()
      })
    // The committer, a periodic catch-up and the final one all write: one at a time, or two reads from
    // the same `afterSeq` would write the same lines twice.
    const lock = yield* Effect.makeSemaphore(1)
    return {
      advance: lock.withPermits(1)(readStore),
      offer: (rows) => lock.withPermits(1)(offer(rows)),
      written: Effect.sync(() => written)
    } satisfies Follower
  })

/**
 * Writes every finished item of a run, in order, to `file` (`sluice export`). Unfinished items are
 * left out; `status` keeps only one kind.
 *
 * @since 0.1.0
 */
export const exportRun = (
  run: string,
  write: (chunk: string) => Effect.Effect<void, StoreError>,
  status?: ResultRow["status"]
) =>
  Effect.gen(function* () {
    const store = yield* Store
    let afterSeq = -1
    let count = 0
    while (true) {
      const rows = yield* store.results(run, { afterSeq, limit: PAGE })
      let text = ""
      for (const r of rows) {
        afterSeq = r.seq
        if (!isFinished(r) || (status !== undefined && r.status !== status)) continue
        text += line(r)
        count++
      }
      if (text.length > 0) yield* write(text)
      if (rows.length < PAGE) return count
    }
  })

/**
 * `exportRun` into a file, which is replaced only once the export is whole.
 *
 * @since 0.1.0
 */
export const exportToFile = (run: string, file: string, status?: ResultRow["status"]) =>
  Effect.scoped(
    Effect.flatMap(AtomicFile.open(file, { keepPartial: false }), (out) =>
      exportRun(run, (text) => AtomicFile.write(out, file, text), status)
    )
  )
