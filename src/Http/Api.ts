/**
 * The HTTP API of `sluice serve`, as an `HttpApi` definition: runs (create, list, inspect, results,
 * retry) under `/v1`, and health, readiness and metrics at the top level. The same definition drives
 * the server, the OpenAPI document at `/docs/openapi.json` and any typed client.
 *
 * @since 0.1.0
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiMiddleware from "@effect/platform/HttpApiMiddleware"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as HttpApiSecurity from "@effect/platform/HttpApiSecurity"
import * as OpenApi from "@effect/platform/OpenApi"
import { Schema } from "effect"
import { RunCounts } from "../Domain/Run.js"
import { ClassifyConfig } from "../Domain/RunConfig.js"
import * as Prometheus from "../Telemetry/Prometheus.js"

// ---- request schemas ---------------------------------------------------------------------------

const positiveInt = "Expected a positive integer"

/** @since 0.1.0 */
export const PositiveInt = Schema.Int.pipe(Schema.positive()).annotations({
  message: () => ({ message: positiveInt, override: true })
})

/** @since 0.1.0 */
export const RunId = Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9][\w.:-]{0,199}$/)).annotations({
  description: "A run id: 1 to 200 letters, digits, '.', '_', ':' or '-'",
  message: () => ({ message: "Expected a run id (1 to 200 letters, digits, '.', '_', ':' or '-')", override: true })
})

/**
 * The pipeline settings of a run created over HTTP: the `RunConfig` fields, the run's own concurrency
 * bound, and optionally its id (sending the same id again adds to, or resumes, that run). Limits that
 * describe the upstream (requests and tokens per minute, attempts) are the service's, not a run's.
 *
 * @since 0.1.0
 */
export const RunOptions = Schema.Struct({
  run: Schema.optional(RunId),
  processor: Schema.optional(Schema.Literal("llm", "echo")),
  model: Schema.optional(Schema.NonEmptyString),
  /** The system prompt of the process stage; the user message is the item as JSON. */
  system: Schema.optional(Schema.String),
  maxTokens: Schema.optional(PositiveInt),
  temperature: Schema.optional(Schema.Number.pipe(Schema.between(0, 2))),
  json: Schema.optional(Schema.Boolean),
  classify: Schema.optional(ClassifyConfig),
  /** At most this many of the run's items in the stages at once (never more than the service's bound). */
  concurrency: Schema.optional(PositiveInt)
}).annotations({ identifier: "RunOptions" })

/** @since 0.1.0 */
export type RunOptions = typeof RunOptions.Type

/**
 * `RunOptions` as query parameters, for JSONL bodies (and as defaults under a JSON body's `options`).
 * `classify` is JSON text.
 *
 * @since 0.1.0
 */
export const RunOptionsQuery = Schema.Struct({
  run: Schema.optional(RunId),
  processor: Schema.optional(Schema.Literal("llm", "echo")),
  model: Schema.optional(Schema.NonEmptyString),
  system: Schema.optional(Schema.String),
  maxTokens: Schema.optional(Schema.compose(Schema.NumberFromString, PositiveInt)),
  temperature: Schema.optional(Schema.compose(Schema.NumberFromString, Schema.Number.pipe(Schema.between(0, 2)))),
  json: Schema.optional(Schema.BooleanFromString),
  classify: Schema.optional(Schema.parseJson(ClassifyConfig)),
  concurrency: Schema.optional(Schema.compose(Schema.NumberFromString, PositiveInt))
})

/**
 * A JSON body: `{ "items": [...], "options": {...} }`, or just the array of items.
 *
 * @since 0.1.0
 */
export const RunBody = Schema.Struct({
  items: Schema.Array(Schema.Unknown),
  options: Schema.optional(RunOptions)
}).annotations({ identifier: "RunBody" })

/** @since 0.1.0 */
export const CreateRunPayload = Schema.Union(
  RunBody,
  Schema.Array(Schema.Unknown).annotations({ description: "Just the items" }),
  HttpApiSchema.Text({ contentType: "application/x-ndjson" }).annotations({
    description: "One JSON item per line (also accepted as application/jsonl); options go in the query"
  })
)

// ---- response schemas --------------------------------------------------------------------------

/** @since 0.1.0 */
export const RunAccepted = Schema.Struct({
  run: Schema.String,
  /** Items new to the run from this request (a key already in the run is left as it was). */
  recorded: Schema.Number,
  /** Items in the run. */
  total: Schema.Number,
  links: Schema.Struct({ self: Schema.String, results: Schema.String })
}).annotations({ identifier: "RunAccepted" })

/**
 * What a run looks like from outside: counts from the store, rates from this process's progress.
 *
 * @since 0.1.0
 */
export const RunView = Schema.Struct({
  run: Schema.String,
  createdAt: Schema.String,
  /** True once every item of the source has been recorded. */
  recorded: Schema.Boolean,
  /** Recorded, and nothing pending or processing. */
  done: Schema.Boolean,
  total: Schema.Number,
  counts: RunCounts,
  /** Items per second finished by this process since it started on the run; null before the first. */
  throughput: Schema.NullOr(Schema.Number),
  /** Seconds until the run is done at that rate; null when unknown. */
  etaSeconds: Schema.NullOr(Schema.Number),
  /** Mean milliseconds an item spent in the stages. */
  meanItemMs: Schema.NullOr(Schema.Number),
  tokens: Schema.Struct({ in: Schema.Number, out: Schema.Number }),
  costUsd: Schema.Number,
  retries: Schema.Number,
  rateLimitHits: Schema.Number,
  /** The pipeline settings stored with the run (never secrets). */
  settings: Schema.Unknown
}).annotations({ identifier: "RunView" })

/** @since 0.1.0 */
export type RunView = typeof RunView.Type

/** @since 0.1.0 */
export const RunList = Schema.Struct({ runs: Schema.Array(RunView) }).annotations({ identifier: "RunList" })

/** @since 0.1.0 */
export const RunRetried = Schema.Struct({ run: Schema.String, requeued: Schema.Number }).annotations({
  identifier: "RunRetried"
})

/** @since 0.1.0 */
export const Readiness = Schema.Struct({
  ready: Schema.Boolean,
  store: Schema.Boolean,
  workers: Schema.Literal("starting", "running", "restarting", "draining")
}).annotations({ identifier: "Readiness" })

// ---- errors ------------------------------------------------------------------------------------

/**
 * The request is malformed; `message` names the field or line, e.g. `options.concurrency: Expected a
 * positive integer`.
 *
 * @since 0.1.0
 */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()(
  "InvalidRequest",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 400 })
) {}

/** @since 0.1.0 */
export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>()(
  "PayloadTooLarge",
  { message: Schema.String, limitBytes: Schema.Number },
  HttpApiSchema.annotations({ status: 413 })
) {}

/** @since 0.1.0 */
export class UnsupportedMediaType extends Schema.TaggedError<UnsupportedMediaType>()(
  "UnsupportedMediaType",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 415 })
) {}

/** @since 0.1.0 */
export class RunNotFound extends Schema.TaggedError<RunNotFound>()(
  "RunNotFound",
  { run: Schema.String, message: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {}

/**
 * Items sent to an existing run with settings other than the run's: a run keeps the settings it was
 * created with, so the request is refused rather than processed under settings it did not ask for.
 *
 * @since 0.1.0
 */
export class RunConflict extends Schema.TaggedError<RunConflict>()(
  "RunConflict",
  { run: Schema.String, message: Schema.String },
  HttpApiSchema.annotations({ status: 409 })
) {}

/** @since 0.1.0 */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()(
  "Unauthorized",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 401 })
) {}

/** The store did not answer; the request can be repeated. @since 0.1.0 */
export class StoreUnavailable extends Schema.TaggedError<StoreUnavailable>()(
  "StoreUnavailable",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 503 })
) {}

/** @since 0.1.0 */
export class NotReady extends Schema.TaggedError<NotReady>()(
  "NotReady",
  { ready: Schema.Boolean, store: Schema.Boolean, workers: Readiness.fields.workers },
  HttpApiSchema.annotations({ status: 503 })
) {}

// ---- security ----------------------------------------------------------------------------------

/**
 * `Authorization: Bearer <token>` on every route it guards, when the service has a token.
 *
 * @since 0.1.0
 * @category middleware
 */
export class Authorization extends HttpApiMiddleware.Tag<Authorization>()("sluice/Http/Authorization", {
  failure: Unauthorized,
  security: { bearer: HttpApiSecurity.bearer }
}) {}

// ---- endpoints ---------------------------------------------------------------------------------

const RunPath = Schema.Struct({ id: Schema.String })

/** @since 0.1.0 */
export class RunsGroup extends HttpApiGroup.make("runs")
  .add(
    HttpApiEndpoint.post("createRun", "/runs")
      .setPayload(CreateRunPayload)
      .setUrlParams(RunOptionsQuery)
      .addSuccess(RunAccepted, { status: 202 })
      .addError(InvalidRequest)
      .addError(PayloadTooLarge)
      .addError(UnsupportedMediaType)
      .addError(RunConflict)
      .addError(StoreUnavailable)
      .annotate(OpenApi.Summary, "Create a run from items; processing starts at once")
  )
  .add(
    HttpApiEndpoint.get("listRuns", "/runs")
      .setUrlParams(Schema.Struct({ limit: Schema.optional(Schema.compose(Schema.NumberFromString, PositiveInt)) }))
      .addSuccess(RunList)
      .addError(StoreUnavailable)
      .annotate(OpenApi.Summary, "The newest runs (default 50), newest first")
  )
  .add(
    HttpApiEndpoint.get("getRun", "/runs/:id")
      .setPath(RunPath)
      .addSuccess(RunView)
      .addError(RunNotFound)
      .addError(StoreUnavailable)
      .annotate(OpenApi.Summary, "Counts per status, throughput, ETA, tokens and cost of one run")
  )
  .add(
    HttpApiEndpoint.get("getResults", "/runs/:id/results")
      .setPath(RunPath)
      .setUrlParams(Schema.Struct({ status: Schema.optional(Schema.Literal("completed", "skipped", "failed")) }))
      .addSuccess(HttpApiSchema.Text({ contentType: "application/x-ndjson" }))
      .addError(RunNotFound)
      .addError(StoreUnavailable)
      .annotate(
        OpenApi.Summary,
        "The finished items in input order, one JSON line each, streamed (the format of `sluice run`'s output)"
      )
  )
  .add(
    HttpApiEndpoint.post("retryRun", "/runs/:id/retry")
      .setPath(RunPath)
      .addSuccess(RunRetried)
      .addError(RunNotFound)
      .addError(StoreUnavailable)
      .annotate(OpenApi.Summary, "Send the run's failed items back to pending")
  )
  .middleware(Authorization)
  .prefix("/v1") {}

/** @since 0.1.0 */
export class HealthGroup extends HttpApiGroup.make("health", { topLevel: true })
  .add(
    HttpApiEndpoint.get("healthz", "/healthz")
      .addSuccess(Schema.Struct({ status: Schema.Literal("ok") }))
      .annotate(OpenApi.Summary, "The process is alive")
  )
  .add(
    HttpApiEndpoint.get("readyz", "/readyz")
      .addSuccess(Readiness)
      .addError(NotReady)
      .annotate(OpenApi.Summary, "200 when the store answers and the workers run, else 503")
  ) {}

/** @since 0.1.0 */
export class MetricsGroup extends HttpApiGroup.make("metrics", { topLevel: true })
  .add(
    HttpApiEndpoint.get("metrics", "/metrics")
      .addSuccess(HttpApiSchema.Text({ contentType: Prometheus.contentType }))
      .annotate(OpenApi.Summary, "Prometheus text format 0.0.4")
  )
  .middleware(Authorization) {}

/**
 * @since 0.1.0
 */
export class Api extends HttpApi.make("sluice")
  .add(RunsGroup)
  .add(HealthGroup)
  .add(MetricsGroup)
  .annotate(OpenApi.Title, "sluice")
  .annotate(OpenApi.Version, "0.1.0")
  .annotate(
    OpenApi.Description,
    "Push work items through slow, rate-limited upstreams: durable, ordered, typed. When the service has a token (SLUICE_TOKEN), /v1 and /metrics need `Authorization: Bearer <token>`."
  ) {}
