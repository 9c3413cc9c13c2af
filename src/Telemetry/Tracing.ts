/**
 * Tracing: spans over OTLP/HTTP when an OpenTelemetry endpoint is configured, and no tracing at all
 * otherwise.
 *
 * The standard variables decide: `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`)
 * turns export on; `OTEL_SERVICE_NAME` names the service ("sluice" by default); `OTEL_SDK_DISABLED=true`
 * or `OTEL_TRACES_EXPORTER=none` turn it off again; the exporter and the batch processor read their
 * own (`OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_BSP_*`, …). Without an endpoint, Effect's tracer is switched
 * off for the whole process, so the hot path only ever meets no-op spans.
 *
 * The OpenTelemetry SDK is imported only when export is on: a CLI that exports nothing does not pay
 * for loading it.
 *
 * Spans: `sluice.run` (around a run, with its counts at the end), `sluice.item` (key, seq, delivery,
 * outcome), `sluice.classify` / `sluice.process` / `sluice.persist`, and the LLM calls
 * (`chat <model>`, `gen_ai.*`). Item content is never put on a span unless `TraceContent` is on
 * (`--trace-content`), and then only truncated.
 *
 * @since 0.1.0
 */
import { Config, Context, Effect, FiberRef, Layer, Option } from "effect"
import type { SpanExporter } from "@opentelemetry/sdk-trace-base"
import type { Item } from "../Domain/Item.js"
import type { Outcome } from "../Domain/Outcome.js"
import type { RunCounts } from "../Domain/Run.js"

/**
 * Whether item payloads and answers go on the item spans (`--trace-content` /
 * `SLUICE_TRACE_CONTENT`). Off by default: payloads are customers' mails, and traces are often kept
 * where such data must not go.
 *
 * @since 0.1.0
 * @category references
 */
export class TraceContent extends Context.Reference<TraceContent>()("sluice/Telemetry/Tracing/TraceContent", {
  defaultValue: () => false
}) {}

/**
 * The most characters of content one attribute carries.
 *
 * @since 0.1.0
 */
export const MAX_CONTENT_CHARS = 1024

/**
 * Content as an attribute value: JSON (strings as they are), cut to `max` characters.
 *
 * @since 0.1.0
 */
export const truncate = (value: unknown, max: number = MAX_CONTENT_CHARS): string => {
  let text: string
  try {
    text = typeof value === "string" ? value : (JSON.stringify(value) ?? String(value))
  } catch {
    text = String(value)
  }
  return text.length > max ? `${text.slice(0, max)}…` : text
}

/**
 * Annotates the current span with an item's outcome; with `TraceContent` on, also with its payload
 * and (when completed) its answer. The engine calls this once per item inside `sluice.item`.
 *
 * @since 0.1.0
 */
export const annotateItem = (item: Item, outcome: Outcome | undefined, attempts: number): Effect.Effect<void> =>
  Effect.flatMap(FiberRef.get(FiberRef.currentTracerEnabled), (enabled) =>
    enabled ? annotate(item, outcome, attempts) : Effect.void
  )

const annotate = (item: Item, outcome: Outcome | undefined, attempts: number): Effect.Effect<void> =>
  Effect.flatMap(TraceContent, (content) => {
    const attributes: Record<string, unknown> = {
      // "released": handed back to pending without an outcome (circuit open, budget, shutdown).
      "sluice.outcome": outcome === undefined ? "released" : outcome._tag.toLowerCase(),
      "sluice.attempts": attempts
    }
    if (outcome?._tag === "Failed") attributes["error.type"] = outcome.tag
    if (content) {
      attributes["sluice.item.payload"] = truncate(item.payload)
      if (outcome?._tag === "Completed") attributes["sluice.item.answer"] = truncate(outcome.output)
    }
    return Effect.annotateCurrentSpan(attributes)
  })

/**
 * Wraps a whole run in a `sluice.run` span (attribute `sluice.run`), annotated with its counts once
 * it ends; the item spans of the run's worker become its children.
 *
 * @since 0.1.0
 */
export const withRunSpan =
  (run: string) =>
  <A extends { readonly counts: RunCounts; readonly makespanMs?: number; readonly stoppedBy?: string }, E, R>(
    effect: Effect.Effect<A, E, R>
  ): Effect.Effect<A, E, R> =>
    effect.pipe(
      Effect.tap((summary) =>
        Effect.annotateCurrentSpan({
          "sluice.run.completed": summary.counts.completed,
          "sluice.run.skipped": summary.counts.skipped,
          "sluice.run.failed": summary.counts.failed,
          "sluice.run.pending": summary.counts.pending + summary.counts.processing,
          ...(summary.makespanMs !== undefined ? { "sluice.run.makespan_ms": summary.makespanMs } : {}),
          ...(summary.stoppedBy !== undefined ? { "sluice.run.stopped_by": summary.stoppedBy } : {})
        })
      ),
      Effect.withSpan("sluice.run", { attributes: { "sluice.run": run }, captureStackTrace: false })
    )

/**
 * What the environment says about tracing.
 *
 * @since 0.1.0
 * @category models
 */
export interface Settings {
  /** Export spans over OTLP/HTTP. */
  readonly export: boolean
  /** The endpoint export goes to (for messages; the exporter reads the variables itself). */
  readonly endpoint: string | undefined
  readonly serviceName: string
  /** `SLUICE_TRACE_CONTENT`: item content on item spans. */
  readonly content: boolean
}

const optionalString = (name: string) =>
  Config.string(name).pipe(Config.option, Config.map(Option.filter((s) => s.trim().length > 0)))

/**
 * Reads the standard OpenTelemetry variables (and `SLUICE_TRACE_CONTENT`). Values it cannot read
 * count as unset: a malformed tracing variable must not stop a run.
 *
 * @since 0.1.0
 */
export const settings: Effect.Effect<Settings> = Effect.gen(function* () {
  const endpoint = yield* optionalString("OTEL_EXPORTER_OTLP_ENDPOINT")
  const tracesEndpoint = yield* optionalString("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
  const serviceName = yield* optionalString("OTEL_SERVICE_NAME")
  const disabled = yield* optionalString("OTEL_SDK_DISABLED")
  const exporter = yield* optionalString("OTEL_TRACES_EXPORTER")
  const content = yield* Config.boolean("SLUICE_TRACE_CONTENT").pipe(
    Config.withDefault(false),
    Effect.orElseSucceed(() => false)
  )
  const target = Option.orElse(tracesEndpoint, () => endpoint)
  const off =
    Option.exists(disabled, (s) => s.trim().toLowerCase() === "true") ||
    Option.exists(exporter, (s) => s.split(",").every((e) => e.trim().toLowerCase() === "none"))
  return {
    export: Option.isSome(target) && !off,
    endpoint: Option.getOrUndefined(target),
    serviceName: Option.getOrElse(serviceName, () => "sluice"),
    content
  }
}).pipe(Effect.orElseSucceed(() => ({ export: false, endpoint: undefined, serviceName: "sluice", content: false })))

/**
 * Effect's tracer off for everything under it: `Effect.withSpan` then makes no-op spans.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerDisabled: Layer.Layer<never> = Layer.setTracerEnabled(false)

/**
 * How long the end of a process waits for the last spans to reach the collector. A collector that is
 * down would otherwise hold the exit for the exporter's own timeout and retries (about 10 s).
 *
 * @since 0.1.0
 */
export const SHUTDOWN_BOUND_MS = 1_000

/**
 * Set when the process ends with spans still on their way to a collector that did not answer within
 * `SHUTDOWN_BOUND_MS`: the exporter's pending request and retry timers would keep Node running, so the
 * CLI's entry point exits without waiting for them.
 *
 * @since 0.1.0
 */
export const abandoned = { spans: false }

/**
 * An exporter that counts what it is still sending and remembers the first failure, so the end of
 * the process can say, once, what became of the spans.
 */
const watched = (inner: SpanExporter) => {
  const state = { pending: 0, pendingSpans: 0, failed: 0, error: undefined as string | undefined }
  const exporter: SpanExporter = {
    export: (spans, done) => {
      state.pending++
      state.pendingSpans += spans.length
      inner.export(spans, (result) => {
        state.pending--
        state.pendingSpans -= spans.length
        if (result.code !== 0) {
          state.failed += spans.length
          state.error ??= result.error?.message ?? "export failed"
        }
        done(result)
      })
    },
    shutdown: () => inner.shutdown(),
    ...(inner.forceFlush === undefined ? {} : { forceFlush: () => inner.forceFlush!() })
  }
  return { exporter, state }
}

/**
 * `@effect/opentelemetry`'s `NodeSdk` with a `BatchSpanProcessor` over the OTLP/HTTP exporter, which
 * reads its endpoint, headers and timeout from the standard variables. Spans still buffered are
 * flushed when the layer's scope closes (the end of the command, or Ctrl-C), for at most
 * `SHUTDOWN_BOUND_MS`; spans that could not be delivered are reported in one line on stderr.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerOtlp = (options: {
  readonly serviceName: string
  readonly serviceVersion?: string
  /** Where spans go, for the message when they could not be delivered. */
  readonly endpoint?: string | undefined
}): Layer.Layer<never> =>
  Layer.unwrapEffect(
    Effect.promise(async () => {
      const [{ NodeSdk }, { OTLPTraceExporter }, { BatchSpanProcessor }] = await Promise.all([
        import("@effect/opentelemetry"),
        import("@opentelemetry/exporter-trace-otlp-http"),
        import("@opentelemetry/sdk-trace-base")
      ])
      const { exporter, state } = watched(new OTLPTraceExporter())
      const sdk = NodeSdk.layer(() => ({
        resource: { serviceName: options.serviceName, serviceVersion: options.serviceVersion ?? VERSION },
        spanProcessor: new BatchSpanProcessor(exporter),
        shutdownTimeout: `${SHUTDOWN_BOUND_MS} millis`
      }))
      // Built before the SDK, so this finalizer runs after the SDK's flush and shutdown have ended or
      // given up.
      const report = Layer.scopedDiscard(
        Effect.addFinalizer(() =>
          Effect.sync(() => {
            const where =
              options.endpoint === undefined ? "the OTLP collector" : `the OTLP collector at ${options.endpoint}`
            if (state.pending > 0) {
              abandoned.spans = true
              process.stderr.write(
                `sluice: traces: ${where} did not answer within ${SHUTDOWN_BOUND_MS / 1000} s; ${state.pendingSpans + state.failed} span(s) dropped\n`
              )
            } else if (state.failed > 0) {
              process.stderr.write(
                `sluice: traces: ${where} did not take ${state.failed} span(s): ${state.error ?? "export failed"}\n`
              )
            }
          })
        )
      )
      return Layer.provide(sdk, report)
    })
  )

const VERSION = "0.1.0"

/**
 * The process's tracing, from the environment: `layerOtlp` when an OTLP endpoint is configured,
 * else `layerDisabled`; and `TraceContent` from `SLUICE_TRACE_CONTENT`. The CLI's entry point
 * provides it around every command.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<never> = Layer.unwrapEffect(
  Effect.map(settings, (s) =>
    Layer.merge(
      s.export ? layerOtlp({ serviceName: s.serviceName, endpoint: s.endpoint }) : layerDisabled,
      Layer.succeed(TraceContent, s.content)
    )
  )
)

/**
 * Sets `TraceContent` for an effect (a command's `--trace-content`).
 *
 * @since 0.1.0
 */
export const withTraceContent =
  (on: boolean) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.provideService(effect, TraceContent, on)
