/**
 * The sluice service as one Layer: the HTTP API (runs, results, health, metrics, docs, dashboard) on
 * Node, the workers over every run in the store, and the drop-directory source. A host program
 * provides a `Store` and an `Llm` and gets it all; `sluice serve` is one such host. With `inbox`, a
 * mailbox is polled into a run too (`Inbox.ts`).
 *
 * Shutdown is closing the layer's scope (`NodeRuntime.runMain` does it on SIGINT/SIGTERM): the loops
 * were built after the HTTP server, so they stop first — the workers stop claiming, let the items in
 * their stages finish within `drainTimeout`, commit them and hand the other leases back, while the
 * server still answers (`/readyz` says 503) — and the server closes last.
 *
 * @since 0.1.0
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpServer from "@effect/platform/HttpServer"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Context, Duration, Effect, Layer, type Redacted, Schema } from "effect"
import type { RunConfigEncoded } from "../Domain/RunConfig.js"
import type { AttemptOptions } from "../Engine/Attempt.js"
import * as Events from "../Engine/Events.js"
import { makeOwner } from "../Engine/Pipeline.js"
import * as Progress from "../Engine/Progress.js"
import * as ProgressFeed from "../Engine/ProgressFeed.js"
import type { Llm } from "../Llm/Llm.js"
import * as DropDirectory from "./DropDirectory.js"
import * as RequestErrors from "../Http/RequestErrors.js"
import * as Persister from "../Stages/Persister.js"
import { Store } from "../Store/Store.js"
import { Api } from "../Http/Api.js"
import * as Auth from "../Http/Auth.js"
import * as ClosingServer from "../Http/ClosingServer.js"
import * as Dashboard from "../Http/Dashboard.js"
import * as Docs from "../Http/Docs.js"
import * as Handlers from "../Http/Handlers.js"
import * as Inbox from "./Inbox.js"
import * as LimitsMeter from "../Http/LimitsMeter.js"
import * as Workers from "./Workers.js"
import * as EngineMetrics from "./EngineMetrics.js"

/**
 * @since 0.1.0
 */
export interface ServiceOptions {
  /** Address to listen on. Default `127.0.0.1`. Any other than loopback needs a `token`. */
  readonly host?: string | undefined
  /** Port; 0 picks a free one. Default 8080. */
  readonly port?: number | undefined
  /** When set, `/v1` and `/metrics` need `Authorization: Bearer <token>`. */
  readonly token?: Redacted.Redacted<string> | undefined
  /** At most this many items in the stages at once, over all runs. Default 8. */
  readonly concurrency?: number | undefined
  /** Largest accepted request body in bytes. Default 16 MiB. */
  readonly maxBodyBytes?: number | undefined
  /** Largest file accepted by the dashboard's upload (streamed to disk, never held in memory). Default 4 GiB. */
  readonly maxUploadBytes?: number | undefined
  /** On shutdown, how long items in the stages may take to finish. Default 10 seconds. */
  readonly drainTimeout?: Duration.DurationInput | undefined
  /** Settings of runs created without them (a request's options override these). Default processor: llm. */
  readonly defaults?: Partial<RunConfigEncoded> | undefined
  readonly attempt?: AttemptOptions | undefined
  readonly leaseMs?: number | undefined
  /** How often idle workers look for new items (new items also wake them at once). */
  readonly pollMs?: number | undefined
  /** A drop directory: each JSONL/CSV file put there becomes a run. */
  readonly watch?:
    | {
        readonly dir: string
        readonly pollInterval?: Duration.DurationInput | undefined
        /** How long a file must stay unchanged before it is taken; default the poll interval. */
        readonly settle?: Duration.DurationInput | undefined
      }
    | undefined
  /** Lease owner id of this process; unique per process by default. */
  readonly owner?: string | undefined
  /** A mailbox polled into one run; its settings are `defaults`. */
  readonly inbox?: Omit<Inbox.InboxOptions, "config"> | undefined
}

/**
 * The service could not start: `Insecure` (a non-loopback address without a token) is found before
 * anything listens; `Listen` is the address being taken or not ours; `Source` is the inbox that cannot
 * start (its server refuses the login or the mailbox, or its run cannot be stored).
 *
 * @since 0.1.0
 */
export class ServiceError extends Schema.TaggedError<ServiceError>()("ServiceError", {
  reason: Schema.Literal("Insecure", "Listen", "Source"),
  message: Schema.String
}) {}

/**
 * What a host learns about the running service.
 *
 * @since 0.1.0
 * @category tags
 */
export class Service extends Context.Tag("sluice/Http/Service")<
  Service,
  {
    /** Base URL, e.g. `http://127.0.0.1:8080`. */
    readonly url: string
    /** Lease owner id of the workers. */
    readonly owner: string
  }
>() {}

/** @since 0.1.0 */
export const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024

const urlOf = (address: HttpServer.Address) =>
  address._tag === "UnixAddress"
    ? `http+unix://${encodeURIComponent(address.path)}`
    : `http://${address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname}:${address.port}`

/**
 * The whole service. A host program provides the store and the Llm, and runs it until interrupted:
 *
 * ```ts
 * const main = Layer.launch(
 *   Service.layer({ port: 8080, concurrency: 16, watch: { dir: "./inbox" } }).pipe(
 *     Layer.provide(myLlmLayer),
 *     Layer.provide(SqliteStore.layer({ filename: "sluice.db" }))
 *   )
 * )
 * NodeRuntime.runMain(main) // SIGTERM drains and stops it
 * ```
 *
 * When the context also holds a `Pricing`, `Admission` or `CircuitBreaker` (as the CLI's governed
 * Llm layer provides), costs are priced and the workers report admission waits and circuit trips.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: ServiceOptions = {}): Layer.Layer<Service, ServiceError, Store | Llm> => {
  const host = options.host ?? "127.0.0.1"
  const port = options.port ?? 8080
  const owner = options.owner ?? makeOwner()
  const drainTimeout = options.drainTimeout ?? Duration.seconds(10)
  // `processor` marks settings as a portable RunConfig, so every run made here names one.
  const defaults: Partial<RunConfigEncoded> = { processor: "llm", ...options.defaults }

  const refuse = Layer.effectDiscard(
    !Auth.isLoopback(host) && options.token === undefined
      ? Effect.fail(
          new ServiceError({
            reason: "Insecure",
            message: `refusing to listen on ${host} without a token: anyone who can reach it could submit work. Set SLUICE_TOKEN (clients then send "Authorization: Bearer <token>"), or listen on 127.0.0.1`
          })
        )
      : Effect.void
  )

  const core = Layer.mergeAll(
    Progress.layer,
    Workers.layerStages(options.attempt),
    Persister.layerStoreOnly,
    Workers.layerEngine(owner),
    Events.layer
  )
  // What the workers did, for progress and metrics: listening from before the workers start until after they drained.
  const listeners = Layer.merge(ProgressFeed.layer, EngineMetrics.layer)

  const http = HttpApiBuilder.serve(HttpMiddleware.logger).pipe(
    Layer.provide(RequestErrors.layer),
    Layer.provide(Docs.layer),
    Layer.provide(
      Dashboard.layer({
        token: options.token,
        defaults,
        maxUploadBytes: options.maxUploadBytes ?? Dashboard.DEFAULT_MAX_UPLOAD_BYTES
      })
    ),
    Layer.provide(
      HttpApiBuilder.api(Api).pipe(
        Layer.provide(
          Handlers.layer({
            defaults,
            maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES
          })
        ),
        Layer.provide(Auth.layer(options.token))
      )
    ),
    Layer.provideMerge(
      // A server whose close ends in bounded time even with browsers holding connections open.
      NodeHttpServer.layer(() => ClosingServer.make(), { host, port }).pipe(
        Layer.mapError(
          (e) =>
            new ServiceError({
              reason: "Listen",
              message: `cannot listen on ${host}:${port}: ${e.cause instanceof Error ? e.cause.message : String(e.cause)}`
            })
        )
      )
    )
  )

  const info = Layer.effect(
    Service,
    Effect.map(HttpServer.HttpServer, (server) => Service.of({ url: urlOf(server.address), owner }))
  )

  const loop = Workers.layerLoop({
    concurrency: options.concurrency ?? 8,
    attempt: options.attempt,
    leaseMs: options.leaseMs,
    pollMs: options.pollMs,
    drainTimeout
  })
  // The inbox acknowledges what the workers complete, so it opens just before them and closes just
  // after they drained.
  const inbox = options.inbox
  const workers: Layer.Layer<never, ServiceError, Layer.Layer.Context<typeof loop> | Progress.Progress> =
    inbox === undefined
      ? loop
      : loop.pipe(
          Layer.provide(
            Inbox.layer({ ...inbox, config: { ...defaults } }).pipe(
              Layer.mapError((e) => new ServiceError({ reason: "Source", message: e.message }))
            )
          )
        )

  const watch = options.watch
  const dropDirectory =
    watch === undefined
      ? Layer.empty
      : Layer.unwrapEffect(
          Effect.gen(function* () {
            const engine = yield* Workers.Engine
            return DropDirectory.layer({
              dir: watch.dir,
              pollInterval: watch.pollInterval ?? Duration.seconds(2),
              settle: watch.settle,
              config: { ...defaults },
              // Progress hears of the records from `Recorded` events; the workers need waking.
              onRecorded: () => engine.wake
            })
          })
        )

  // Built in this order — refusal check, core, server, then the loops — and released in reverse.
  return Layer.mergeAll(info, workers, dropDirectory).pipe(
    Layer.provide(http),
    Layer.provide(listeners),
    Layer.provide(core),
    Layer.provide(LimitsMeter.layer({ concurrency: options.concurrency ?? 8 })),
    Layer.provide(refuse)
  )
}
