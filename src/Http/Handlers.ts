/**
 * The implementation of the API's groups. Handlers only compose: the store, progress and the worker
 * state do the work.
 *
 * @since 0.1.0
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Chunk, Clock, Effect, Layer, Option, Stream } from "effect"
import { randomBytes } from "node:crypto"
import { total } from "../Domain/Run.js"
import type { SourceRecord } from "../Domain/Item.js"
import * as RunConfig from "../Domain/RunConfig.js"
import * as FleetBudget from "../Governor/FleetBudget.js"
import * as OrderedOutput from "../Engine/OrderedOutput.js"
import { Progress } from "../Engine/Progress.js"
import { keyOf } from "../Sources/Key.js"
import { Store, type ResultRow, type StoreError } from "../Store/Store.js"
import * as Prometheus from "../Telemetry/Prometheus.js"
import { Api, InvalidRequest, NotReady, RunConflict, RunNotFound, StoreUnavailable } from "./Api.js"
import * as RequestBody from "./RequestBody.js"
import { LimitsMeter } from "./LimitsMeter.js"
import * as LimitsFamilies from "./LimitsFamilies.js"
import * as RunView from "./RunView.js"
import { Engine } from "../Service/Workers.js"
import { Events } from "../Engine/Events.js"
import * as Ingest from "../Engine/Ingest.js"

/**
 * @since 0.1.0
 */
export interface HandlerOptions {
  /** Settings of runs created without them (the service's flags); a request's options override them. */
  readonly defaults: Partial<RunConfig.RunConfigEncoded>
  /** Largest accepted request body, in bytes. */
  readonly maxBodyBytes: number
}

const unavailable = (e: StoreError) => new StoreUnavailable({ message: e.message })

/** `run-20260102T030405Z-1a2b3c`: sortable, and unique without coordination. */
const newRunId = (now: number) =>
  `run-${new Date(now).toISOString().replace(/[-:]|\.\d+/g, "")}-${randomBytes(3).toString("hex")}`

const RESULTS_PAGE = 1024

const newBatchId = () => `batch-${randomBytes(4).toString("hex")}`

/**
 * Records sent to a run that already exists, appended after its items. An item without an id is
 * keyed by its position in its own request (`line:1`, `item:1`), which the run's earlier requests
 * used too: it is keyed under this request's batch id instead (`batch-1a2b3c4d/line:1`), so it is
 * never taken for an item the run already has. An item with an id keeps it: sending it again is
 * idempotent.
 */
const appended = (records: ReadonlyArray<SourceRecord>, batch: string): Array<SourceRecord> =>
  records.map((r) =>
    r._tag === "Record" && keyOf(r.payload, "") === ""
      ? { ...r, key: `${batch}/${r.key}`, ordinal: undefined }
      : { ...r, ordinal: undefined }
  )

const finished = (r: ResultRow) => r.status === "completed" || r.status === "skipped" || r.status === "failed"

/**
 * The finished items of a run in seq order as JSONL lines, read a page at a time only as the consumer
 * pulls, so a large run streams in constant memory.
 *
 * @since 0.1.0
 */
export const resultLines = (run: string, status?: ResultRow["status"]): Stream.Stream<string, StoreError, Store> =>
  Stream.unwrap(
    Effect.map(Store, (store) =>
      Stream.paginateChunkEffect(-1, (afterSeq: number) =>
        Effect.map(store.results(run, { afterSeq, limit: RESULTS_PAGE }), (rows) => {
          let text = ""
          for (const r of rows) {
            if (finished(r) && (status === undefined || r.status === status)) text += OrderedOutput.line(r)
          }
          const last = rows[rows.length - 1]
          return [
            text.length > 0 ? Chunk.of(text) : Chunk.empty<string>(),
            rows.length < RESULTS_PAGE || last === undefined ? Option.none<number>() : Option.some(last.seq)
          ] as const
        })
      )
    )
  )

/**
 * Fails with 409 when a request names settings other than those an existing run was created with:
 * the run keeps its own, and silently processing the items under them would not be what was asked.
 */
const sameSettings = (run: string, stored: unknown, asked: Record<string, unknown>) => {
  // With the defaults filled in, so that asking for the default model is not a difference.
  const decoded = Option.getOrUndefined(RunConfig.decodeOption(stored)) ?? stored
  const current = (typeof decoded === "object" && decoded !== null ? decoded : {}) as Record<string, unknown>
  const differ = Object.entries(asked).filter(
    ([k, v]) => v !== undefined && JSON.stringify(v) !== JSON.stringify(current[k])
  )
  if (differ.length === 0) return Effect.void
  const describe = differ
    .map(([k, v]) => `${k} ${JSON.stringify(current[k]) ?? "unset"}, not ${JSON.stringify(v)}`)
    .join("; ")
  return Effect.fail(
    new RunConflict({
      run,
      message: `run "${run}" exists with other settings (${describe}); send the items without options, or to a new run`
    })
  )
}

/**
 * `/v1/runs…`
 *
 * @since 0.1.0
 * @category layers
 */
export const layerRuns = (options: HandlerOptions) =>
  HttpApiBuilder.group(Api, "runs", (handlers) =>
    Effect.gen(function* () {
      const store = yield* Store
      const progress = yield* Progress
      const engine = yield* Engine
      const context = yield* Effect.context<Store | Progress | Events>()

      const requireRun = (id: string) =>
        store.getRun(id).pipe(
          Effect.mapError(unavailable),
          Effect.flatMap(
            Option.match({
              onNone: () => Effect.fail(new RunNotFound({ run: id, message: `no run "${id}"` })),
              onSome: Effect.succeed
            })
          )
        )

      return handlers
        .handleRaw("createRun", ({ request, urlParams }) =>
          Effect.gen(function* () {
            const body = yield* RequestBody.fromRequest(request, options.maxBodyBytes)
            // The body's options win over the query's.
            const { run: requested, concurrency, ...settings } = { ...urlParams, ...body.options }
            const now = yield* Clock.currentTimeMillis
            const id = requested ?? newRunId(now)
            const config = {
              ...options.defaults,
              ...settings,
              source: "http",
              ...(concurrency === undefined ? {} : { concurrency })
            }
            yield* RunConfig.decode(config).pipe(
              Effect.mapError((e) => new InvalidRequest({ message: `options: ${RequestBody.describeIssues(e)}` }))
            )
            const before = yield* store.getRun(id).pipe(Effect.mapError(unavailable))
            if (Option.isSome(before)) yield* sameSettings(id, before.value.config, settings)
            // Once the body is in hand, the run is recorded whole even if the client goes away.
            const accepted = yield* Effect.uninterruptible(
              Effect.gen(function* () {
                const existing = yield* store.getRun(id)
                // A new run takes each item's position as its seq, as `sluice run` does; items sent to an
                // existing run are appended (see `appended`). An existing run keeps its settings.
                if (Option.isNone(existing)) yield* store.openRun(id, config)
                const records = Option.isSome(existing) ? appended(body.records, newBatchId()) : body.records
                // One transaction for the whole body, as a new run's positions are the body's.
                const result = yield* Ingest.run(id, Stream.fromIterable(records), {
                  batch: Math.max(1, records.length),
                  announce: "counts"
                }).pipe(Effect.provide(context))
                if (Option.isNone(existing)) {
                  yield* store.markFetched(id)
                  if (concurrency !== undefined) yield* store.addMetrics(id, { concurrency })
                }
                const counts = yield* store.counts(id)
                yield* engine.wake
                return { run: id, recorded: result.inserted, total: total(counts) }
              })
            ).pipe(Effect.mapError(unavailable))
            return {
              ...accepted,
              links: {
                self: `/v1/runs/${encodeURIComponent(id)}`,
                results: `/v1/runs/${encodeURIComponent(id)}/results`
              }
            }
          })
        )
        .handle("listRuns", ({ urlParams }) =>
          Effect.gen(function* () {
            const runs = yield* store.listRuns
            const newest = runs.slice(-(urlParams.limit ?? 50)).reverse()
            return { runs: yield* Effect.forEach(newest, RunView.load) }
          }).pipe(Effect.mapError(unavailable), Effect.provide(context))
        )
        .handle("getRun", ({ path }) =>
          Effect.flatMap(requireRun(path.id), (info) =>
            RunView.load(info).pipe(Effect.mapError(unavailable), Effect.provide(context))
          )
        )
        .handle("getResults", ({ path, urlParams }) =>
          Effect.map(requireRun(path.id), () =>
            HttpServerResponse.stream(
              resultLines(path.id, urlParams.status).pipe(Stream.encodeText, Stream.provideContext(context)),
              { contentType: "application/x-ndjson; charset=utf-8" }
            )
          )
        )
        .handle("retryRun", ({ path }) =>
          Effect.gen(function* () {
            yield* requireRun(path.id)
            const requeued = yield* store.retryFailed(path.id).pipe(Effect.mapError(unavailable))
            if (requeued > 0) {
              const counts = yield* store.counts(path.id).pipe(Effect.mapError(unavailable))
              const now = yield* Clock.currentTimeMillis
              // The rate is measured afresh from here: the re-queued items are new work.
              yield* progress.update(path.id, (p) => ({ ...p, counts, startedAt: now, finishedThisSession: 0 }))
              yield* engine.wake
            }
            return { run: path.id, requeued }
          })
        )
    })
  )

/**
 * `/healthz`, `/readyz`
 *
 * @since 0.1.0
 * @category layers
 */
export const layerHealth = HttpApiBuilder.group(Api, "health", (handlers) =>
  Effect.gen(function* () {
    const store = yield* Store
    const engine = yield* Engine
    return handlers
      .handle("healthz", () => Effect.succeed({ status: "ok" as const }))
      .handle("readyz", () =>
        Effect.gen(function* () {
          const [ping, workers] = yield* Effect.all([store.ping, engine.status])
          const state = { ready: ping && workers === "running", store: ping, workers }
          return state.ready ? state : yield* new NotReady(state)
        })
      )
  })
)

const STATUSES = ["pending", "processing", "completed", "skipped", "failed"] as const

/**
 * `/metrics`: Effect's registry, plus the queue depth read from the store at scrape time.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMetrics = HttpApiBuilder.group(Api, "metrics", (handlers) =>
  Effect.gen(function* () {
    const store = yield* Store
    const engine = yield* Engine
    const meter = yield* LimitsMeter
    const runtime = yield* LimitsFamilies.runtimeMetrics
    return handlers.handle("metrics", () =>
      Effect.gen(function* () {
        const counts = yield* Effect.option(store.counts())
        const fleet = yield* Effect.option(store.fleetRead)
        const now = yield* Clock.currentTimeMillis
        const status = yield* engine.status
        const extra: Array<Prometheus.Family> = [
          {
            name: "sluice_workers_running",
            help: "1 while this process's workers claim and process items",
            type: "gauge",
            samples: [{ labels: {}, value: status === "running" ? 1 : 0 }]
          }
        ]
        if (Option.isSome(counts)) {
          extra.push({
            name: "sluice_queue_items",
            help: "Items in the store by status, over all runs and all processes",
            type: "gauge",
            samples: STATUSES.map((s) => ({ labels: { status: s }, value: counts.value[s] }))
          })
        }
        extra.push(...LimitsFamilies.families(yield* meter.view))
        if (Option.isSome(fleet)) extra.push(...FleetBudget.families(FleetBudget.usage(fleet.value, now)))
        return yield* Prometheus.exposition(extra, { runtime })
      })
    )
  })
)

/**
 * Every group.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: HandlerOptions) => Layer.mergeAll(layerRuns(options), layerHealth, layerMetrics)
