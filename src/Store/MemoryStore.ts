/**
 * The durable queue port kept in memory, for tests and for hosts that want the engine without a
 * database. Nothing survives the process: use `sluice/sqlite` or `sluice/postgres` where a crash must
 * lose nothing. It passes the same conformance suite as the SQL stores (`test/Store/StoreSuite.ts`),
 * so a test written against it holds on them too.
 *
 * Every method runs as one synchronous step over plain maps, which is what makes each one atomic:
 * JavaScript runs one step at a time, so no two fibers see a half-made claim or commit. Payloads and
 * outputs are kept as JSON text, as the SQL stores keep them, so an item claimed is a copy and a host
 * cannot change a stored payload by mutating what it was handed.
 *
 * @since 0.1.0
 */
import { Clock, Effect, Layer, Option } from "effect"
import type { Item, SourceRecord } from "../Domain/Item.js"
import { legacyKey } from "../Domain/ItemKey.js"
import { outputJson } from "../Domain/Outcome.js"
import { addMetrics, emptyMetrics } from "../Domain/Run.js"
import { emptyRow, type FleetHolder, type FleetRow } from "./Fleet.js"
import { holds, insertOrdered, makeReads, type Row, type RunState, runInfo, type WorkerState } from "./MemoryRows.js"
import {
  type ClaimOptions,
  type Completion,
  type Lease,
  type Release,
  Store,
  StoreError,
  type WorkerBeat
} from "./Store.js"

const LOCATION = "memory"

/**
 * A fresh, empty store.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Store["Type"]> = Effect.sync(() => {
  const runs = new Map<string, RunState>()
  const workerRows = new Map<string, WorkerState>()
  const fleetRows = new Map<string, FleetRow>()
  const fleetHolders = new Map<string, Map<string, FleetHolder>>()

  const noRun = (run: string) =>
    new StoreError({ reason: "Read", location: LOCATION, message: `no run "${run}" in memory` })
  const requireRun = (run: string): Effect.Effect<RunState, StoreError> => {
    const state = runs.get(run)
    return state === undefined ? Effect.fail(noRun(run)) : Effect.succeed(state)
  }
  const withNow = <A>(f: (now: number) => A) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => f(now)))

  const openRun = (id: string, config: unknown) =>
    withNow((now) => {
      const text = JSON.stringify(config ?? null)
      const existing = runs.get(id)
      if (existing !== undefined) {
        existing.config = text
        return runInfo(existing)
      }
      const state: RunState = {
        info: { id, config: null, createdAt: now, fetchedAt: null },
        config: text,
        metrics: emptyMetrics,
        nextSeq: 0,
        bySeq: new Map(),
        byKey: new Map(),
        ordered: []
      }
      runs.set(id, state)
      return runInfo(state)
    })

  const newRow = (
    seq: number,
    key: string,
    payload: string | null,
    line: number | null,
    error: string | null,
    now: number
  ): Row => ({
    seq,
    key,
    payload: error === null ? payload : null,
    line,
    status: error === null ? "pending" : "failed",
    result: null,
    errorTag: error === null ? null : "Invalid",
    errorMessage: error,
    attempts: 0,
    deliveries: 0,
    route: null,
    leaseOwner: null,
    leaseExpires: 0,
    notBefore: 0,
    startedAt: null,
    finishedAt: error === null ? null : now
  })

  const record = (run: string, records: ReadonlyArray<SourceRecord>) =>
    Effect.gen(function* () {
      if (records.length === 0) return { inserted: 0, alreadyCompleted: [] as ReadonlyArray<Item> }
      const state = yield* requireRun(run)
      const now = yield* Clock.currentTimeMillis
      // Checked before anything is written, so a refused batch leaves the store as it was (one transaction).
      let next = state.nextSeq
      for (const r of records) {
        if (r.ordinal === undefined) continue
        if (!Number.isSafeInteger(r.ordinal) || r.ordinal < 0) {
          return yield* new StoreError({
            reason: "Write",
            location: LOCATION,
            message: `cannot record "${r.key}" in memory: seq ${r.ordinal} is not a whole number from 0`
          })
        }
      }
      const insert = (row: Row) => {
        if (state.bySeq.has(row.seq) || state.byKey.has(row.key)) return false
        state.bySeq.set(row.seq, row)
        state.byKey.set(row.key, row)
        insertOrdered(state.ordered, row)
        return true
      }
      /**
       * A line recorded as unreadable (failed, no payload) that reads now takes its place, pending, under
       * its own key, unless another item holds that key (as both SQL stores do).
       */
      const revive = (row: Row): boolean => {
        const held = state.bySeq.get(row.seq)
        if (row.payload === null || held === undefined || held.status !== "failed" || held.payload !== null)
          return false
        const other = state.byKey.get(row.key)
        if (other !== undefined && other !== held) return false
        state.byKey.delete(held.key)
        state.bySeq.set(row.seq, row)
        state.byKey.set(row.key, row)
        const at = state.ordered.indexOf(held)
        if (at >= 0) state.ordered[at] = row
        return true
      }
      let inserted = 0
      let revived = 0
      let maxSeq = next - 1
      const seenInBatch = new Set<string>()
      const changed: Array<{ line: number; key: string; held: string }> = []
      for (const r of records) {
        const isOrdered = r.ordinal !== undefined
        if (!isOrdered && (state.byKey.has(r.key) || seenInBatch.has(r.key))) continue
        const s = isOrdered ? r.ordinal! : next++
        if (s > maxSeq) maxSeq = s
        const line = r.line ?? null
        // Two lines with one key fail the later one with its line, rather than vanishing.
        const dup = isOrdered && (seenInBatch.has(r.key) || (state.byKey.has(r.key) && !state.bySeq.has(s)))
        seenInBatch.add(r.key)
        const row =
          r._tag === "Malformed"
            ? newRow(s, r.key, null, r.line, `line ${r.line}: ${r.message}`, now)
            : dup
              ? newRow(s, `${r.key}#${s}`, null, line, `line ${line ?? s + 1}: duplicate key "${r.key}"`, now)
              : newRow(s, r.key, r.json ?? JSON.stringify(r.payload === undefined ? null : r.payload), line, null, now)
        if (insert(row)) inserted++
        else if (isOrdered && revive(row)) revived++
        else if (isOrdered) {
          const held = state.bySeq.get(s)
          // A run recorded before keys had namespaces holds "3" where this release reads "line:3": the same line.
          if (held !== undefined && held.key !== r.key && held.key !== legacyKey(r.key)) {
            changed.push({ line: line ?? s + 1, key: r.key, held: held.key })
          }
        }
      }
      state.nextSeq = Math.max(state.nextSeq, maxSeq + 1)
      if (changed.length > 0) {
        const c = changed[0]!
        yield* Effect.logWarning(
          `memory: the source of run "${run}" changed since it began: line ${c.line} now has key "${c.key}" where the run recorded "${c.held}"; the recorded item is kept` +
            (changed.length > 1 ? ` (and ${changed.length - 1} more)` : "")
        )
      }
      let alreadyCompleted: ReadonlyArray<Item> = []
      if (inserted < records.length) {
        const keys = new Set(records.map((r) => r.key))
        alreadyCompleted = state.ordered
          .filter((row) => row.status === "completed" && keys.has(row.key))
          .map((row) => toItem(run, row))
      }
      return { inserted, alreadyCompleted, revived }
    })

  const toItem = (run: string, r: Row): Item => ({
    run,
    seq: r.seq,
    key: r.key,
    payload: r.payload === null ? null : JSON.parse(r.payload),
    deliveries: r.deliveries,
    attempts: r.attempts
  })

  const claim = (opts: ClaimOptions) =>
    withNow((now) => {
      const items: Array<Item> = []
      if (opts.limit <= 0) return items
      const only = opts.run !== undefined ? [opts.run] : opts.runs
      // Lowest seq first within a run, runs in the order they were opened (the SQL stores' id order).
      for (const state of runs.values()) {
        if (only !== undefined && !only.includes(state.info.id)) continue
        for (const row of state.ordered) {
          if (items.length >= opts.limit) return items
          const claimable =
            (row.status === "pending" && row.notBefore <= now) ||
            (row.status === "processing" && row.leaseExpires < now)
          if (!claimable) continue
          row.status = "processing"
          row.leaseOwner = opts.owner
          row.leaseExpires = now + opts.leaseMs
          row.deliveries++
          row.startedAt ??= now
          items.push(toItem(state.info.id, row))
        }
      }
      return items
    })

  const rowOf = (run: string, seq: number) => Effect.map(requireRun(run), (state) => state.bySeq.get(seq))
  const heartbeat = (owner: string, leaseMs: number, held?: ReadonlyArray<Lease>) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      let n = 0
      if (held !== undefined) {
        for (const h of held) {
          const row = yield* rowOf(h.run, h.seq)
          if (holds(row, owner, h.lease)) {
            row.leaseExpires = now + leaseMs
            n++
          }
        }
        return n
      }
      for (const state of runs.values()) {
        for (const row of state.ordered) {
          if (holds(row, owner, undefined)) {
            row.leaseExpires = now + leaseMs
            n++
          }
        }
      }
      return n
    })

  const complete = (completions: ReadonlyArray<Completion>) =>
    Effect.gen(function* () {
      // Every run is checked first, so an unknown one refuses the whole batch (one transaction).
      const rows = yield* Effect.forEach(completions, (c) => rowOf(c.run, c.seq))
      return completions.map((c, i) => {
        const row = rows[i]
        if (!holds(row, c.owner, c.lease)) return false
        const o = c.outcome
        row.status = o._tag === "Completed" ? "completed" : o._tag === "Skipped" ? "skipped" : "failed"
        row.result = o._tag === "Completed" ? outputJson(o.output) : null
        row.errorTag = o._tag === "Failed" ? o.tag : null
        row.errorMessage = o._tag === "Failed" ? o.message : o._tag === "Skipped" ? o.reason : null
        row.attempts += c.attempts
        row.route = c.route ?? null
        row.finishedAt = c.finishedAt
        row.leaseOwner = null
        row.leaseExpires = 0
        return true
      })
    })

  const release = (releases: ReadonlyArray<Release>) =>
    Effect.gen(function* () {
      const rows = yield* Effect.forEach(releases, (r) => rowOf(r.run, r.seq))
      releases.forEach((r, i) => {
        const row = rows[i]
        if (!holds(row, r.owner, r.lease)) return
        row.status = "pending"
        row.notBefore = r.notBefore
        row.attempts += r.attempts
        row.leaseOwner = null
        row.leaseExpires = 0
      })
    })

  const releaseOwner = (owner: string) =>
    Effect.sync(() => {
      let n = 0
      for (const state of runs.values()) {
        for (const row of state.ordered) {
          if (holds(row, owner, undefined)) {
            row.status = "pending"
            row.leaseOwner = null
            row.leaseExpires = 0
            n++
          }
        }
      }
      return n
    })

  const reads = makeReads(runs, workerRows)
  const { allRows } = reads

  const retryFailed = (run?: string, tag?: string) =>
    Effect.sync(() => {
      let n = 0
      // A line that could not be read has no payload to process again: it stays failed.
      for (const { row } of allRows(run)) {
        if (row.status !== "failed" || row.payload === null || (tag !== undefined && row.errorTag !== tag)) continue
        row.status = "pending"
        row.notBefore = 0
        row.result = null
        row.errorTag = null
        row.errorMessage = null
        row.finishedAt = null
        n++
      }
      return n
    })

  const announce = (beat: WorkerBeat) =>
    withNow((now) => {
      const known = workerRows.get(beat.owner)
      workerRows.set(
        beat.owner,
        known === undefined
          ? { ...beat, seenAt: now }
          : { ...known, seenAt: now, concurrency: beat.concurrency, leaseMs: beat.leaseMs }
      )
    })

  const holdersOf = (upstream: string) =>
    [...(fleetHolders.get(upstream)?.values() ?? [])].sort((a, b) => (a.holder < b.holder ? -1 : 1))

  return Store.of({
    location: LOCATION,
    openRun,
    getRun: (id) => Effect.sync(() => Option.map(Option.fromNullable(runs.get(id)), runInfo)),
    listRuns: Effect.sync(() => [...runs.values()].map(runInfo)),
    markFetched: (run) =>
      withNow((now) => {
        const state = runs.get(run)
        if (state !== undefined) state.info = { ...state.info, fetchedAt: now }
      }),
    record,
    claim,
    heartbeat,
    complete,
    release,
    releaseOwner,
    counts: reads.counts,
    results: reads.results,
    lastErrors: reads.lastErrors,
    retryFailed,
    failures: reads.failures,
    failureTags: reads.failureTags,
    finishedOverTime: reads.finishedOverTime,
    addMetrics: (run, delta) =>
      Effect.sync(() => {
        const state = runs.get(run)
        if (state !== undefined) state.metrics = addMetrics(state.metrics, delta)
      }),
    metrics: (run) => Effect.sync(() => runs.get(run)?.metrics ?? emptyMetrics),
    announce,
    retire: (owner) => Effect.sync(() => void workerRows.delete(owner)),
    workers: reads.workers,
    fleetUpdate: (upstream, step) =>
      Effect.sync(() => {
        const row = fleetRows.get(upstream) ?? emptyRow(upstream)
        const change = step({ row, holders: holdersOf(upstream) })
        fleetRows.set(upstream, change.row)
        const held = fleetHolders.get(upstream) ?? new Map<string, FleetHolder>()
        fleetHolders.set(upstream, held)
        for (const h of change.upsert) held.set(h.holder, h)
        for (const h of change.remove) held.delete(h)
        return change.result
      }),
    fleetRead: Effect.sync(() =>
      [...fleetRows.values()]
        .sort((a, b) => (a.upstream < b.upstream ? -1 : 1))
        .map((row) => ({ row, holders: holdersOf(row.upstream) }))
    ),
    ping: Effect.succeed(true)
  })
})

/**
 * The store in memory: a fresh, empty one each time the layer is built.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<Store> = Layer.effect(Store, make)
