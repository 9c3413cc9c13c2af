/**
 * Tracing: the span tree of one item through the real stages, read from an in-memory exporter;
 * content kept off spans unless asked; the environment's switch between OTLP export and no tracer.
 *
 * The pipeline tests talk to the simulator over loopback in real time (no TestClock): the OpenAI
 * client and the HTTP server run on real timers. Each is bounded by the test timeout.
 */
import { NodeSdk } from "@effect/opentelemetry"
import { assert, describe, expect, it } from "@effect/vitest"
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { ConfigProvider, Effect, Layer } from "effect"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import * as path from "node:path"
import * as Compose from "../../src/Cli/Compose.js"
import type { RunConfig } from "../../src/Domain/RunConfig.js"
import * as Pipeline from "../../src/Engine/Pipeline.js"
import * as Simulator from "../../src/Simulator/Simulator.js"
import * as Tracing from "../../src/Telemetry/Tracing.js"
import { tempDir, writeJsonl } from "../support/Temp.js"

const MARKER = "Zanzibar-7731"
const mail = {
  id: "mail-1",
  from: "jana@acme.example",
  subject: "Quote",
  body: `Please quote 40 brackets, code ${MARKER}`
}

/** One item through classify → process → persist against the simulator, inside `sluice.run`; the finished spans. */
const traceOneItem = (traceContent: boolean) =>
  Effect.gen(function* () {
    const exporter = new InMemorySpanExporter()
    const dir = yield* tempDir("sluice-trace-")
    const input = path.join(dir, "items.jsonl")
    yield* writeJsonl(input, [mail])
    const sim = yield* Simulator.make({ port: 0 })
    const run = "trace"
    const config: RunConfig = { source: input, processor: "llm", model: "gpt-4o-mini", maxTokens: 64 }
    const summary = yield* Pipeline.run({ run, config, concurrency: 1 }).pipe(
      Tracing.withRunSpan(run),
      Effect.provide(
        Compose.runLayer({
          db: path.join(dir, "sluice.db"),
          input,
          run,
          config,
          upstream: { baseUrl: sim.url, timeoutMs: 10_000, rpm: 0, tpm: 0, cache: false }
        })
      ),
      Tracing.withTraceContent(traceContent),
      // Read before the SDK's scope closes: shutting the exporter down empties it.
      Effect.zipLeft(Effect.sleep("20 millis")),
      Effect.map((summary) => ({ summary, spans: exporter.getFinishedSpans().slice() })),
      Effect.provide(NodeSdk.layer(() => ({ spanProcessor: new SimpleSpanProcessor(exporter) })))
    )
    return summary
  })

const byName = (spans: ReadonlyArray<ReadableSpan>, name: string | RegExp) => {
  const found = spans.filter((s) => (typeof name === "string" ? s.name === name : name.test(s.name)))
  assert.strictEqual(found.length, 1, `one span named ${String(name)}, found ${found.map((s) => s.name).join(", ")}`)
  return found[0]!
}

const parentOf = (spans: ReadonlyArray<ReadableSpan>, span: ReadableSpan) =>
  spans.find((s) => s.spanContext().spanId === span.parentSpanContext?.spanId)

const ancestors = (spans: ReadonlyArray<ReadableSpan>, span: ReadableSpan): Array<string> => {
  const names: Array<string> = []
  for (let p = parentOf(spans, span); p !== undefined; p = parentOf(spans, p)) names.push(p.name)
  return names
}

const attributeText = (spans: ReadonlyArray<ReadableSpan>) =>
  spans.flatMap((s) => Object.values(s.attributes).map((v) => String(v))).join("\n")

describe("Tracing", () => {
  it.scopedLive(
    "one item's span tree: sluice.run → sluice.item → sluice.process → chat <model> with gen_ai usage, and no content (real simulator on loopback)",
    () =>
      Effect.gen(function* () {
        const { summary, spans } = yield* traceOneItem(false)
        expect(summary.counts.completed).toBe(1)

        const run = byName(spans, "sluice.run")
        const item = byName(spans, "sluice.item")
        const processSpan = byName(spans, "sluice.process")
        const chat = byName(spans, /^chat /)

        expect(run.parentSpanContext).toBeUndefined()
        expect(run.attributes["sluice.run"]).toBe("trace")
        expect(run.attributes["sluice.run.completed"]).toBe(1)
        expect(run.attributes["sluice.run.failed"]).toBe(0)

        expect(parentOf(spans, item)?.name).toBe("sluice.run")
        expect(item.attributes).toMatchObject({
          "sluice.run": "trace",
          "sluice.key": "mail-1",
          "sluice.seq": 0,
          "sluice.delivery": 1,
          "sluice.outcome": "completed",
          "sluice.attempts": 1
        })
        expect(parentOf(spans, processSpan)?.name).toBe("sluice.item")
        // Synchronous stages (this run's classify-all and store-only persist) get no span of their own.
        expect(spans.filter((s) => s.name === "sluice.classify" || s.name === "sluice.persist")).toEqual([])

        // The governed Llm's own span sits between the stage and the upstream call.
        expect(chat.name).toBe("chat gpt-4o-mini")
        expect(ancestors(spans, chat).slice(-3)).toEqual(["sluice.process", "sluice.item", "sluice.run"])
        expect(chat.attributes["gen_ai.operation.name"]).toBe("chat")
        expect(chat.attributes["gen_ai.request.model"]).toBe("gpt-4o-mini")
        expect(chat.attributes["gen_ai.usage.input_tokens"]).toBeGreaterThan(0)
        expect(chat.attributes["gen_ai.usage.output_tokens"]).toBeGreaterThan(0)
        // The item's spans are all in the run's trace.
        for (const s of [item, processSpan, chat]) expect(s.spanContext().traceId).toBe(run.spanContext().traceId)

        // By default no span carries the item's content.
        expect(item.attributes["sluice.item.payload"]).toBeUndefined()
        expect(attributeText(spans)).not.toContain(MARKER)
        expect(attributeText(spans)).not.toContain("brackets")
      })
  )

  it.scopedLive(
    "with trace content on, the item span carries the payload and the answer (real simulator on loopback)",
    () =>
      Effect.gen(function* () {
        const { spans } = yield* traceOneItem(true)
        const item = byName(spans, "sluice.item")
        expect(String(item.attributes["sluice.item.payload"])).toContain(MARKER)
        expect(JSON.parse(String(item.attributes["sluice.item.answer"]))).toHaveProperty("digest")
        // Only the item span: stage and LLM spans still carry no content.
        expect(attributeText(spans.filter((s) => s.name !== "sluice.item"))).not.toContain(MARKER)
      })
  )

  it("truncates content", () => {
    expect(Tracing.truncate("x".repeat(5000))).toHaveLength(Tracing.MAX_CONTENT_CHARS + 1)
    expect(Tracing.truncate({ a: 1 })).toBe('{"a":1}')
  })

  it.effect(
    "reads the standard variables: an endpoint turns export on; OTEL_SDK_DISABLED and exporter none turn it off",
    () =>
      Effect.gen(function* () {
        const read = (env: Record<string, string>) =>
          Tracing.settings.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))))
        expect(yield* read({})).toEqual({ export: false, endpoint: undefined, serviceName: "sluice", content: false })
        expect(yield* read({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" })).toMatchObject({
          export: true,
          endpoint: "http://collector:4318",
          serviceName: "sluice"
        })
        expect(
          yield* read({
            OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://c:4318/v1/traces",
            OTEL_SERVICE_NAME: "offer-desk"
          })
        ).toMatchObject({ export: true, serviceName: "offer-desk" })
        expect(yield* read({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_SDK_DISABLED: "true" })).toMatchObject({
          export: false
        })
        expect(
          yield* read({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_TRACES_EXPORTER: "none" })
        ).toMatchObject({ export: false })
        expect(yield* read({ SLUICE_TRACE_CONTENT: "true" })).toMatchObject({ content: true })
        expect(yield* read({ SLUICE_TRACE_CONTENT: "maybe" })).toMatchObject({ content: false })
      })
  )

  it.scoped(
    "without an endpoint the tracer is off: spans are no-ops, and trace content follows SLUICE_TRACE_CONTENT",
    () =>
      Effect.gen(function* () {
        const inside = Effect.withSpan(Effect.currentSpan, "sluice.item")
        const span = yield* inside.pipe(
          Effect.provide(Tracing.layer),
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["SLUICE_TRACE_CONTENT", "true"]])))
        )
        expect(span.spanId).toBe("noop")
        expect(span.sampled).toBe(false)
        const content = yield* Effect.provide(
          Tracing.TraceContent,
          Layer.provide(
            Tracing.layer,
            Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["SLUICE_TRACE_CONTENT", "true"]])))
          )
        )
        expect(content).toBe(true)
      })
  )

  it.scopedLive(
    'with OTEL_EXPORTER_OTLP_ENDPOINT set, spans go to the collector over OTLP/HTTP as service "sluice" (real HTTP on loopback)',
    () =>
      Effect.gen(function* () {
        const bodies: Array<{ url: string; body: string }> = []
        const server = yield* Effect.acquireRelease(
          Effect.async<Http.Server>((resume) => {
            const s = Http.createServer((req, res) => {
              const chunks: Array<Buffer> = []
              req.on("data", (c: Buffer) => chunks.push(c))
              req.on("end", () => {
                bodies.push({ url: req.url ?? "", body: Buffer.concat(chunks).toString("utf8") })
                res.writeHead(200, { "content-type": "application/json" }).end("{}")
              })
            })
            s.listen(0, "127.0.0.1", () => {
              resume(Effect.succeed(s))
            })
          }),
          (s) =>
            Effect.async<void>((resume) => {
              s.close(() => resume(Effect.void))
            })
        )
        const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
        // The exporter reads the standard variables from the process environment itself.
        const saved = process.env["OTEL_EXPORTER_OTLP_ENDPOINT"]
        process.env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            if (saved === undefined) delete process.env["OTEL_EXPORTER_OTLP_ENDPOINT"]
            else process.env["OTEL_EXPORTER_OTLP_ENDPOINT"] = saved
          })
        )
        yield* Effect.succeed({ counts: emptyCounts }).pipe(
          Effect.tap(() => Effect.withSpan(Effect.void, "sluice.item", { attributes: { "sluice.key": "k1" } })),
          Tracing.withRunSpan("otlp"),
          // The batch is flushed when the layer's scope closes.
          Effect.provide(Tracing.layer)
        )
        const traces = bodies.filter((b) => b.url === "/v1/traces")
        expect(traces.length).toBeGreaterThan(0)
        const all = traces.map((t) => t.body).join("\n")
        expect(all).toContain("sluice.run")
        expect(all).toContain('"service.name"')
        expect(all).toContain('"stringValue":"sluice"')
      })
  )
})

const emptyCounts = { pending: 0, processing: 0, completed: 0, skipped: 0, failed: 0 }
