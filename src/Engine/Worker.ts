/**
 * The worker: claims items from the store, runs them through classify → process → persist with
 * bounded concurrency, and writes their outcomes back in group commits. `sluice run`, `sluice worker`
 * and `sluice serve` all run this one loop.
 *
 * Shape: one claimer keeps a small inbox of leased items topped up; `concurrency` fibers take from it;
 * one committer writes whatever has finished in one transaction, then acknowledges the source.
 * Leases are renewed by a heartbeat, so a crashed worker's items return to pending when they expire.
 *
 * @since 0.1.0
 */
import { Clock, Duration, Effect, Exit, Fiber, Option, Queue, Ref, Scope } from "effect"
import type { StageError } from "../Domain/Errors.js"
import type { Item } from "../Domain/Item.js"
import * as Outcome from "../Domain/Outcome.js"
import type { RunMetrics, StopReason } from "../Domain/Run.js"
import { Classifier } from "../Stages/Classifier.js"
import { Persister } from "../Stages/Persister.js"
import { Processor } from "../Stages/Processor.js"
import { isSynchronous } from "../Stages/Synchronous.js"
import * as UsageModule from "../Domain/Usage.js"
import type { Usage } from "../Domain/Usage.js"
import { Store, type Completion, type Release, type ResultRow, type StoreError } from "../Store/Store.js"
import * as Tracing from "../Telemetry/Tracing.js"
import {
  attempt,
  defaultAttemptOptions,
  emptyStats,
  makePauseGate,
  type AttemptOptions,
  type AttemptStats,
  type Attempted
} from "./Attempt.js"
import { Admission } from "./Admission.js"
import { CircuitBreaker } from "./CircuitBreaker.js"
import * as Leases from "./Leases.js"
import * as Liveness from "./Liveness.js"
import { addCounts, Progress } from "./Progress.js"

/**
 * @since 0.1.0
 */
export interface WorkerOptions {
  /** This worker's lease owner id; unique per process. */
  readonly owner: string
  /** At most this many items in the stages at once. 1 is strictly sequential. */
  readonly concurrency: number
  /** Claim only from this run; every run when absent. */
  readonly run?: string | undefined
  /**
   * Claim only from the runs this lists (asked again at every claim that finds nothing), when `run`
   * is absent: a generic worker serves only runs whose stages it can rebuild.
   */
  readonly runs?: Effect.Effect<ReadonlyArray<string>, StoreError> | undefined
  /** How long a claim holds an item without a heartbeat. */
  readonly leaseMs?: number | undefined
  /** How often an idle worker looks for new items. */
  readonly pollMs?: number | undefined
  /** "idle": return once nothing is left to do; "forever": keep polling (a service). */
  readonly until: "idle" | "forever"
  /** With `until: "idle"`, the worker does not call the run finished before this says the source is fully recorded. */
  readonly sourceDone?: Effect.Effect<boolean> | undefined
  /** Wakes an idle claimer at once when new items were recorded. */
  readonly wake?: Queue.Queue<void> | undefined
  readonly attempt?: AttemptOptions | undefined
  /** On shutdown, how long items already in the stages may take to finish before they are handed back. */
  readonly drainTimeout?: Duration.DurationInput | undefined
  /** Called after outcomes are durably stored, with the completed items (acknowledge the source). */
  readonly onCommitted?: ((items: ReadonlyArray<Item>) => Effect.Effect<void, StageError>) | undefined
  /**
   * Called after every group commit with the result rows it wrote (any order): the ordered output
   * writes them without reading them back.
   */
  readonly onOutcomes?: ((rows: ReadonlyArray<ResultRow>) => Effect.Effect<void, StoreError>) | undefined
}

/**
 * @since 0.1.0
 */
export interface WorkerResult {
  readonly stoppedBy: StopReason
  /** Items this worker brought to an outcome. */
  readonly finished: number
  /** Why the upstream cannot be used, when `stoppedBy` is "upstream". */
  readonly stopMessage?: string | undefined
}

type Finished = (
  | {
      readonly _tag: "Done"
      readonly item: Item
      readonly completion: Completion
      readonly usage: Usage | undefined
      readonly stats: ItemStats
    }
  | {
      readonly _tag: "Release"
      readonly item: Item
      readonly release: Release
      readonly stop: boolean
      readonly stats: ItemStats
    }
) & {
  /** Whether this item holds an `uncommitted` permit, returned once its outcome is stored. */
  permit?: boolean
}

/** An effect that is already an Exit (it has finished), as that Exit; else undefined. */
const ready = <A, E>(effect: Effect.Effect<A, E>): Exit.Exit<A, E> | undefined =>
  Exit.isExit(effect) ? (effect as Exit.Exit<A, E>) : undefined

interface SyncResult {
  readonly outcome: Outcome.Outcome
  readonly route: string | undefined
  readonly usage: Usage | undefined
}

interface ItemStats {
  readonly retries: number
  readonly rateLimitHits: number
  readonly pausedMs: number
  readonly ms: number
}

const DEFAULT_LEASE_MS = 30_000
const METRICS_EVERY_MS = 1000
const MAX_BATCH = 1024

/**
 * Runs the worker until it is done (`until: "idle"`) or interrupted. Interruption drains: no new
 * claims, items in the stages get `drainTimeout` to finish, finished outcomes are committed, and the
 * leases of the rest are handed back, so a restart resumes with nothing lost.
 *
 * @since 0.1.0
 */
export const run = (
  options: WorkerOptions
): Effect.Effect<WorkerResult, StoreError, Store | Classifier | Processor | Persister | Progress> =>
  Effect.gen(function* () {
    const store = yield* Store
    const classifier = yield* Classifier
    const processor = yield* Processor
    const persister = yield* Persister
    const progress = yield* Progress

    const concurrency = Math.max(1, Math.floor(options.concurrency))
    const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS
    const pollMs = options.pollMs ?? 200
    const attemptOptions = options.attempt ?? defaultAttemptOptions
    const drainTimeout = options.drainTimeout ?? "10 seconds"
    const owner = options.owner
    const leases = Leases.make()
    const liveness = yield* Liveness.make({ owner, concurrency, leaseMs })

    // When the stages are governed by admission and a breaker, their totals feed the run's metrics.
    const admission = yield* Effect.serviceOption(Admission)
    const breaker = yield* Effect.serviceOption(CircuitBreaker)
    const admissionWaited = Option.match(admission, {
      onNone: () => Effect.succeed(0),
      onSome: (a) => Effect.map(a.state, (s) => s.totalWaitMs)
    })
    const circuitTrips = Option.match(breaker, { onNone: () => Effect.succeed(0), onSome: (b) => b.trips })
    let lastWaited = yield* admissionWaited
    let lastTrips = yield* circuitTrips

    const gate = yield* makePauseGate
    const inbox = yield* Queue.unbounded<Item>()
    const done = yield* Queue.unbounded<Finished>()
    const signal = options.wake ?? (yield* Queue.sliding<void>(1))
    /** Items leased by this worker and not yet committed or released. */
    const leased = yield* Ref.make(0)
    const stopping = yield* Ref.make<StopReason | undefined>(undefined)
    /** Why the upstream cannot be used, when that stopped the session. */
    const stopMessage = yield* Ref.make<string | undefined>(undefined)
    const holdUntil = yield* Ref.make(0)
    const finishedCount = yield* Ref.make(0)
    /** Mean milliseconds an item spends in the stages, to size how far ahead we claim. */
    const meanItemMs = yield* Ref.make<number | undefined>(undefined)

    const pending = (run: string, d: Parameters<typeof addCounts>[1]) =>
      progress.update(run, (p) => ({ ...p, counts: addCounts(p.counts, d) }))

    // ---- one item through the stages -------------------------------------------------------------

    /** A stage call under the policy; a synchronous stage gets no timeout and no span of its own. */
    const stage = <A>(
      service: object,
      name: string,
      call: Effect.Effect<A, StageError>,
      stats: AttemptStats,
      attributes?: Record<string, unknown>
    ): Effect.Effect<Attempted<A>> =>
      isSynchronous(service)
        ? attempt(call, attemptOptions, gate, stats, false)
        : attempt(
            Effect.withSpan(call, name, { attributes: attributes ?? {}, captureStackTrace: false }),
            attemptOptions,
            gate,
            stats
          )

    const processItem = (item: Item): Effect.Effect<Finished> =>
      Effect.gen(function* () {
        const startedAt = yield* Clock.currentTimeMillis
        const stats = emptyStats()
        const release = (attempts: number, notBefore: number, stop: boolean): Finished => ({
          _tag: "Release",
          item,
          release: { run: item.run, seq: item.seq, owner, notBefore, attempts, lease: item.deliveries },
          stop,
          stats: { ...stats, ms: 0 }
        })
        const finish = (
          outcome: Outcome.Outcome,
          attempts: number,
          route: string | undefined,
          usage: Usage | undefined
        ): Effect.Effect<Finished> =>
          Effect.map(Clock.currentTimeMillis, (finishedAt) => ({
            _tag: "Done",
            item,
            completion: {
              run: item.run,
              seq: item.seq,
              owner,
              outcome,
              attempts,
              route,
              startedAt,
              finishedAt,
              lease: item.deliveries
            },
            usage,
            stats: { ...stats, ms: finishedAt - startedAt }
          }))
        const held = (
          error:
            | { _tag: "CircuitOpen"; retryAtMs: number }
            | { _tag: "OverBudget" }
            | { _tag: "UpstreamUnusable"; message: string },
          attempts: number
        ) =>
          error._tag === "CircuitOpen"
            ? Effect.as(
                Ref.update(holdUntil, (u) => Math.max(u, error.retryAtMs)),
                release(attempts, error.retryAtMs, false)
              )
            : error._tag === "OverBudget"
              ? Effect.as(Ref.set(stopping, "budget"), release(attempts, 0, true))
              : Effect.as(
                  Effect.zipRight(
                    Ref.update(stopMessage, (m) => m ?? error.message),
                    Ref.update(stopping, (s) => s ?? "upstream")
                  ),
                  release(attempts, 0, true)
                )

        if ((yield* Ref.get(stopping)) !== undefined) return release(0, 0, true)

        const routed = yield* stage(classifier, "sluice.classify", classifier.classify(item), stats)
        if (routed._tag === "Held") return yield* held(routed.error, routed.attempts)
        // `attempts` everywhere: the tries of the stage that decided the outcome, summed over deliveries.
        if (routed._tag === "Failed") {
          const e = routed.error
          return yield* finish(
            Outcome.failed(e._tag, e.message, item.attempts + routed.attempts),
            routed.attempts,
            undefined,
            undefined
          )
        }
        const route = routed.value
        if (route._tag === "Skip")
          return yield* finish(Outcome.skipped(route.reason), routed.attempts, undefined, route.usage)

        const processed = yield* stage(processor, "sluice.process", processor.process(item, route), stats, {
          "sluice.route": route.label
        })
        if (processed._tag === "Held") return yield* held(processed.error, processed.attempts)
        if (processed._tag === "Failed") {
          const e = processed.error
          return yield* finish(
            Outcome.failed(e._tag, e.message, item.attempts + processed.attempts),
            processed.attempts,
            route.label,
            route.usage
          )
        }
        const output = processed.value.output
        const persisted = yield* stage(persister, "sluice.persist", persister.persist(item, output), stats)
        if (persisted._tag === "Held") return yield* held(persisted.error, processed.attempts)
        if (persisted._tag === "Failed") {
          const e = persisted.error
          return yield* finish(
            Outcome.failed(e._tag, `persist: ${e.message}`, item.attempts + persisted.attempts),
            persisted.attempts,
            route.label,
            UsageModule.combine(route.usage, processed.value.usage)
          )
        }
        return yield* finish(
          Outcome.completed(output),
          processed.attempts,
          route.label,
          UsageModule.combine(route.usage, processed.value.usage)
        )
      }).pipe(
        Effect.tap((f) =>
          f._tag === "Done"
            ? Tracing.annotateItem(item, f.completion.outcome, f.completion.attempts)
            : Tracing.annotateItem(item, undefined, f.release.attempts)
        ),
        Effect.withSpan("sluice.item", {
          attributes: {
            "sluice.run": item.run,
            "sluice.key": item.key,
            "sluice.seq": item.seq,
            "sluice.delivery": item.deliveries
          },
          captureStackTrace: false
        })
      )

    // While any stage may call an upstream, a fiber holds a permit from taking an item until that
    // item's outcome is committed: at most `concurrency` items are ever sent and not yet durable, so
    // a crash repeats at most that many upstream calls. A wholly synchronous pipeline (echo) calls no
    // upstream and skips the wait, which would only cap its commit batches.
    const synchronous = isSynchronous(classifier) && isSynchronous(processor) && isSynchronous(persister)
    const bounded = !synchronous
    const uncommitted = yield* Effect.makeSemaphore(concurrency)
    /**
     * A wholly synchronous pipeline has nothing to overlap: its items run one after another, in the
     * claiming fiber, a claimed batch at a time, without fibers, queues or timeouts per item. The
     * first failure of a batch sends that item through the general path, with the whole policy.
     */
    const processBatchSync = (items: ReadonlyArray<Item>): Effect.Effect<Array<Finished>> =>
      Effect.gen(function* () {
        const startedAt = yield* Clock.currentTimeMillis
        const out: Array<Finished> = []
        const stats = { retries: 0, rateLimitHits: 0, pausedMs: 0, ms: 0 }
        const done = (item: Item, outcome: Outcome.Outcome, route: string | undefined, usage: Usage | undefined) =>
          out.push({
            _tag: "Done",
            item,
            completion: {
              run: item.run,
              seq: item.seq,
              owner,
              outcome,
              attempts: 1,
              route,
              startedAt,
              finishedAt: startedAt,
              lease: item.deliveries
            },
            usage,
            stats
          })
        for (const item of items) {
          // An Exit is an Effect that has already finished: a stage that answers with one (as
          // `Effect.succeed` does) is read directly, without a step of the fiber per stage.
          const routed = ready(classifier.classify(item))
          if (routed !== undefined && Exit.isSuccess(routed)) {
            const route = routed.value
            if (route._tag === "Skip") {
              done(item, Outcome.skipped(route.reason), undefined, route.usage)
              continue
            }
            const processed = ready(processor.process(item, route))
            if (processed !== undefined && Exit.isSuccess(processed)) {
              const persisted = ready(persister.persist(item, processed.value.output))
              if (persisted !== undefined && Exit.isSuccess(persisted)) {
                done(
                  item,
                  Outcome.completed(processed.value.output),
                  route.label,
                  UsageModule.combine(route.usage, processed.value.usage)
                )
                continue
              }
            }
          }
          const quick = yield* Effect.either(
            Effect.flatMap(classifier.classify(item), (route): Effect.Effect<SyncResult, StageError> =>
              route._tag === "Skip"
                ? Effect.succeed({ outcome: Outcome.skipped(route.reason), route: undefined, usage: route.usage })
                : Effect.flatMap(processor.process(item, route), (p) =>
                    Effect.as(persister.persist(item, p.output), {
                      outcome: Outcome.completed(p.output),
                      route: route.label,
                      usage: UsageModule.combine(route.usage, p.usage)
                    })
                  )
            )
          )
          if (quick._tag === "Left") {
            out.push(yield* processItem(item))
            continue
          }
          const r = quick.right
          done(item, r.outcome, r.route, r.usage)
        }
        return out
      })

    const processorLoop = Effect.forever(
      (bounded ? uncommitted.take(1) : Effect.void).pipe(
        Effect.zipRight(Queue.take(inbox)),
        Effect.flatMap((item) =>
          Effect.flatMap(processItem(item), (f) => {
            f.permit = bounded
            return Queue.offer(done, f)
          })
        )
      )
    )

    // ---- group commit ----------------------------------------------------------------------------

    const commit = (batch: ReadonlyArray<Finished>) =>
      Effect.gen(function* () {
        const completions: Array<Completion> = []
        const doneItems: Array<Extract<Finished, { _tag: "Done" }>> = []
        const releases: Array<Release> = []
        const releasedItems: Array<Item> = []
        for (const f of batch) {
          if (f._tag === "Done") {
            completions.push(f.completion)
            doneItems.push(f)
          } else {
            releases.push(f.release)
            releasedItems.push(f.item)
          }
        }
        const written = yield* store.complete(completions)
        const refused = written.filter((w) => !w).length
        if (refused > 0)
          yield* Effect.logWarning(
            `${refused} finished item(s) not stored: their leases had expired and passed to another worker (this one was cut off from the database, or too slow to renew them)`
          )
        yield* store.release(releases)

        // Per-run bookkeeping: metrics in the store, counts in progress.
        const perRun = new Map<
          string,
          { metrics: Partial<Record<keyof RunMetrics, number>>; counts: Record<string, number>; acks: Array<Item> }
        >()
        const entry = (run: string) => {
          let e = perRun.get(run)
          if (e === undefined) {
            e = { metrics: {}, counts: { pending: 0, processing: 0, completed: 0, skipped: 0, failed: 0 }, acks: [] }
            perRun.set(run, e)
          }
          return e
        }
        const add = (m: Partial<Record<keyof RunMetrics, number>>, k: keyof RunMetrics, v: number) => {
          if (v !== 0) m[k] = (m[k] ?? 0) + v
        }
        let itemMsSum = 0
        for (let i = 0; i < doneItems.length; i++) {
          const f = doneItems[i]!
          const e = entry(f.item.run)
          e.counts["processing"]!--
          if (!written[i]) continue // our lease was lost; whoever holds it now will report it
          const status = Outcome.status(f.completion.outcome)
          e.counts[status]!++
          if (status === "completed") e.acks.push(f.item)
          add(e.metrics, "itemMs", f.stats.ms)
          add(e.metrics, "itemsTimed", 1)
          add(e.metrics, "retries", f.stats.retries)
          add(e.metrics, "rateLimitHits", f.stats.rateLimitHits)
          add(e.metrics, "admissionWaitMs", f.stats.pausedMs)
          if (f.usage !== undefined) {
            add(e.metrics, "tokensIn", f.usage.tokensIn)
            add(e.metrics, "tokensOut", f.usage.tokensOut)
            add(e.metrics, "costUsd", f.usage.costUsd)
            add(e.metrics, "cacheHits", f.usage.cacheHits)
            add(e.metrics, "cacheMisses", f.usage.cacheMisses)
          }
          itemMsSum += f.stats.ms
        }
        for (const f of batch) {
          if (f._tag !== "Release") continue
          const e = entry(f.item.run)
          e.counts["processing"]!--
          e.counts["pending"]!++
          add(e.metrics, "retries", f.stats.retries)
          add(e.metrics, "rateLimitHits", f.stats.rateLimitHits)
        }
        // Admission wait and circuit trips are process-wide: they go to the run with most items here.
        const busiest = [...perRun.entries()].sort((a, b) => b[1].acks.length - a[1].acks.length)[0]
        if (busiest !== undefined) {
          const waited = yield* admissionWaited
          const trips = yield* circuitTrips
          add(busiest[1].metrics, "admissionWaitMs", waited - lastWaited)
          add(busiest[1].metrics, "circuitTrips", trips - lastTrips)
          lastWaited = waited
          lastTrips = trips
        }
        const now = yield* Clock.currentTimeMillis
        for (const [run, e] of perRun) {
          const acc = metricsDue.get(run) ?? {}
          for (const [k, v] of Object.entries(e.metrics) as Array<[keyof RunMetrics, number]>)
            acc[k] = (acc[k] ?? 0) + v
          metricsDue.set(run, acc)
          const finished = e.counts["completed"]! + e.counts["skipped"]! + e.counts["failed"]!
          yield* progress.update(run, (p) => ({
            ...p,
            counts: addCounts(p.counts, e.counts),
            finishedThisSession: p.finishedThisSession + finished,
            retries: p.retries + (e.metrics.retries ?? 0),
            rateLimitHits: p.rateLimitHits + (e.metrics.rateLimitHits ?? 0),
            held: p.held + releasedItems.filter((it) => it.run === run).length,
            tokensIn: p.tokensIn + (e.metrics.tokensIn ?? 0),
            tokensOut: p.tokensOut + (e.metrics.tokensOut ?? 0),
            costUsd: p.costUsd + (e.metrics.costUsd ?? 0)
          }))
          if (options.onCommitted !== undefined && e.acks.length > 0) {
            // The outcome is stored; a failed acknowledgement is repeated when the source offers the item again.
            yield* options
              .onCommitted(e.acks)
              .pipe(
                Effect.catchAll((error) =>
                  Effect.logWarning(`could not acknowledge ${e.acks.length} item(s) at the source: ${error.message}`)
                )
              )
          }
        }
        if (now - metricsFlushedAt >= METRICS_EVERY_MS) yield* flushMetrics
        if (doneItems.length > 0) {
          yield* Ref.update(meanItemMs, (m) => {
            const batchMean = itemMsSum / doneItems.length
            return m === undefined ? batchMean : m * 0.8 + batchMean * 0.2
          })
        }
        yield* Ref.update(finishedCount, (n) => n + doneItems.length)
        const permits = batch.filter((f) => f.permit === true).length
        if (permits > 0) yield* uncommitted.release(permits)
        yield* Ref.update(leased, (n) => n - batch.length)
        leases.drop(batch)
        if (options.onOutcomes !== undefined) {
          const rows: Array<ResultRow> = []
          for (let i = 0; i < doneItems.length; i++) {
            if (!written[i]) continue
            const { completion: c, item } = doneItems[i]!
            const o = c.outcome
            rows.push({
              seq: item.seq,
              key: item.key,
              status: Outcome.status(o),
              outputJson: o._tag === "Completed" ? Outcome.outputJson(o.output) : null,
              errorTag: o._tag === "Failed" ? o.tag : null,
              errorMessage: o._tag === "Failed" ? o.message : o._tag === "Skipped" ? o.reason : null,
              attempts: item.attempts + c.attempts
            })
          }
          if (rows.length > 0) yield* options.onOutcomes(rows)
        }
        yield* Queue.offer(signal, undefined)
      })

    /** Metric deltas not yet written: they are summed in memory and written about once a second. */
    const metricsDue = new Map<string, Partial<Record<keyof RunMetrics, number>>>()
    let metricsFlushedAt = 0
    const flushMetrics = Effect.gen(function* () {
      metricsFlushedAt = yield* Clock.currentTimeMillis
      for (const [run, m] of metricsDue) yield* store.addMetrics(run, m)
      metricsDue.clear()
    })

    // Group commit without a timer: whatever finished while the last commit ran is the next batch,
    // so a busy worker writes many outcomes per transaction and an idle one commits at once. (A
    // linger would cost every item its wait: under the bound above, a fiber takes its next item only
    // once the last one is committed.) Once taken from the queue, a batch is committed even if
    // shutdown begins: a finished item is never thrown away.
    const committerStep = Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(restore(Queue.takeBetween(done, 1, MAX_BATCH)), (batch) => commit(Array.from(batch)))
    )
    const flush = Effect.flatMap(Queue.takeAll(done), (batch) =>
      batch.length === 0 ? Effect.void : commit(Array.from(batch))
    ).pipe(Effect.zipRight(Effect.suspend(() => flushMetrics)))

    // ---- claiming --------------------------------------------------------------------------------

    /** The claimer waits until at least this many can be claimed, so claims are not one-by-one. */
    const minBatch = Math.max(1, Math.floor(concurrency / 4))
    /**
     * How many items to keep leased: everyone busy, plus about 50 ms of work ahead, and never less
     * ahead than one claim batch, or the inbox runs dry while the claimer waits for a batch's worth.
     */
    const target = Effect.map(Ref.get(meanItemMs), (m) => {
      const ahead = m === undefined ? concurrency : Math.ceil((concurrency * 50) / Math.max(m, 0.001))
      return concurrency + Math.min(MAX_BATCH, Math.max(minBatch, ahead))
    })

    const waitForSignal = Effect.raceFirst(Queue.take(signal), Effect.sleep(Duration.millis(pollMs)))

    const nothingLeft = Effect.gen(function* () {
      if ((yield* Ref.get(leased)) > 0) return false
      if (options.sourceDone !== undefined && !(yield* options.sourceDone)) return false
      if (options.run === undefined && options.runs !== undefined) {
        for (const run of yield* options.runs) {
          const c = yield* store.counts(run)
          if (c.pending + c.processing > 0) return false
        }
        return true
      }
      const c = yield* store.counts(options.run)
      return c.pending + c.processing === 0
    })

    let eligible: ReadonlyArray<string> | undefined
    const claimer: Effect.Effect<StopReason, StoreError> = Effect.gen(function* () {
      while (true) {
        const stop = yield* Ref.get(stopping)
        if (stop !== undefined) return stop
        const now = yield* Clock.currentTimeMillis
        const hold = yield* Ref.get(holdUntil)
        if (hold > now) {
          yield* Effect.sleep(Duration.millis(Math.min(hold - now, 1000)))
          continue
        }
        const want = (yield* target) - (yield* Ref.get(leased))
        if (want < minBatch) {
          yield* waitForSignal
          continue
        }
        if (eligible === undefined && options.runs !== undefined) eligible = yield* options.runs
        const items = yield* store.claim({
          owner,
          limit: Math.min(want, MAX_BATCH),
          leaseMs,
          run: options.run,
          runs: eligible
        })
        if (items.length > 0) {
          yield* Ref.update(leased, (n) => n + items.length)
          leases.add(items)
          const byRun = new Map<string, number>()
          for (const it of items) byRun.set(it.run, (byRun.get(it.run) ?? 0) + 1)
          for (const [run, n] of byRun) yield* pending(run, { pending: -n, processing: n })
          if (synchronous) yield* Effect.flatMap(processBatchSync(items), (finished) => Queue.offerAll(done, finished))
          else yield* Queue.offerAll(inbox, items)
          continue
        }
        eligible = undefined
        if (options.until === "idle" && (yield* nothingLeft)) return "finished" as const
        yield* waitForSignal
      }
    })

    // ---- lifecycle -------------------------------------------------------------------------------

    const fibers = yield* Scope.make()
    yield* liveness.beat
    if (!synchronous) for (let i = 0; i < concurrency; i++) yield* Effect.forkIn(processorLoop, fibers)
    const committer = yield* Effect.forkIn(Effect.forever(committerStep), fibers)
    yield* Effect.forkIn(
      Effect.forever(
        Effect.sleep(Duration.millis(Math.max(50, Math.floor(leaseMs / 3)))).pipe(
          // Suspended: the leases held at each beat, not those held when the loop was built.
          Effect.zipRight(Effect.suspend(() => store.heartbeat(owner, leaseMs, leases.held()))),
          Effect.zipRight(liveness.beat),
          Effect.catchAll((e) => Effect.logWarning(`lease heartbeat failed: ${e.message}`))
        )
      ),
      fibers
    )

    const waitDrained = (deadline: Duration.DurationInput) =>
      Effect.gen(function* () {
        const until = (yield* Clock.currentTimeMillis) + Duration.toMillis(deadline)
        while ((yield* Ref.get(leased)) > 0 && (yield* Clock.currentTimeMillis) < until) {
          if (Option.isSome(yield* Fiber.poll(committer))) return
          yield* Effect.sleep("10 millis")
        }
      })

    /** Stop claiming, let the stages finish (bounded), commit, hand back what is left. */
    const shutdown = (deadline: Duration.DurationInput) =>
      Effect.gen(function* () {
        yield* liveness.stopping(deadline)
        if (Option.isSome(yield* Fiber.poll(committer))) {
          // The committer failed: nothing more can be written; release what we can and stop.
          yield* Scope.close(fibers, Exit.void)
          yield* store.releaseOwner(owner).pipe(Effect.ignore)
          return
        }
        yield* Ref.update(stopping, (s) => s ?? "interrupted")
        // Items not yet started go straight back to pending.
        const waiting = yield* Queue.takeAll(inbox)
        for (const item of waiting) {
          yield* Queue.offer(done, {
            _tag: "Release",
            item,
            release: { run: item.run, seq: item.seq, owner, notBefore: 0, attempts: 0, lease: item.deliveries },
            stop: true,
            stats: { retries: 0, rateLimitHits: 0, pausedMs: 0, ms: 0 }
          })
        }
        yield* waitDrained(deadline)
        yield* Scope.close(fibers, Exit.void)
        yield* flush
        yield* store.releaseOwner(owner)
        yield* liveness.retire
      })

    // The committer never ends on its own; if it fails (a full disk, a read-only file), the worker
    // fails with it instead of waiting forever for commits that will not come.
    const stoppedBy = yield* Effect.raceFirst(
      claimer,
      Fiber.join(committer).pipe(Effect.as("finished" as StopReason))
    ).pipe(
      Effect.onInterrupt(() =>
        shutdown(drainTimeout).pipe(Effect.catchAll((e) => Effect.logError(`shutdown: ${e.message}`)))
      ),
      Effect.onError(() =>
        Effect.zipRight(Scope.close(fibers, Exit.void), store.releaseOwner(owner).pipe(Effect.ignore))
      )
    )
    // Finished or stopped by the budget: everything leased drains through the committer.
    // An unusable upstream fails every call in flight too: hand them back at once.
    yield* shutdown(
      stoppedBy === "finished" ? Duration.infinity : stoppedBy === "upstream" ? Duration.zero : drainTimeout
    )
    return { stoppedBy, finished: yield* Ref.get(finishedCount), stopMessage: yield* Ref.get(stopMessage) }
  })
