/**
 * `GET /metrics`: Effect's metrics rendered as Prometheus text format 0.0.4 by `Telemetry/Prometheus.ts`.
 * The exposition is checked by a strict line grammar (below) rather than a lenient parser: names,
 * label syntax and escapes, one HELP and TYPE per family before its samples, families contiguous,
 * histogram buckets ascending and cumulative up to `+Inf` = `_count`, counters never negative.
 * The service runs in this process over real HTTP on 127.0.0.1; every wait is bounded.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Logger, LogLevel, Metric, MetricBoundaries } from "effect"
import * as path from "node:path"
import * as Compose from "../../src/Cli/Compose.js"
import * as Service from "../../src/Service/Service.js"
import * as Simulator from "../../src/Simulator/Simulator.js"
import * as Prometheus from "../../src/Telemetry/Prometheus.js"
import { tempDir } from "../support/Temp.js"

// ---- a strict reader of the text format --------------------------------------------------------

interface Sample {
  readonly name: string
  readonly labels: Record<string, string>
  readonly value: number
}
interface Family {
  readonly name: string
  help?: string
  type?: string
  readonly samples: Array<Sample>
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const VALUE = /^(?:[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?Inf|NaN)$/

const parseValue = (s: string): number => {
  if (!VALUE.test(s)) throw new Error(`bad value ${JSON.stringify(s)}`)
  return s === "+Inf" || s === "Inf" ? Infinity : s === "-Inf" ? -Infinity : Number(s)
}

/** Reads `name{a="x",b="y"} value` with the format's escapes (`\\`, `\"`, `\n`), or throws. */
const parseSample = (line: string): Sample => {
  let i = 0
  while (i < line.length && /[a-zA-Z0-9_:]/.test(line[i]!)) i++
  const name = line.slice(0, i)
  if (!NAME.test(name)) throw new Error(`bad metric name in ${line}`)
  const labels: Record<string, string> = {}
  if (line[i] === "{") {
    i++
    while (line[i] !== "}") {
      let j = i
      while (j < line.length && line[j] !== "=") j++
      const key = line.slice(i, j)
      if (!LABEL.test(key) || key in labels) throw new Error(`bad or repeated label ${key} in ${line}`)
      if (line[j + 1] !== '"') throw new Error(`unquoted label value in ${line}`)
      let k = j + 2
      let value = ""
      while (line[k] !== '"') {
        if (k >= line.length) throw new Error(`unterminated label value in ${line}`)
        if (line[k] === "\\") {
          const e = line[k + 1]
          if (e === "\\") value += "\\"
          else if (e === '"') value += '"'
          else if (e === "n") value += "\n"
          else throw new Error(`bad escape in ${line}`)
          k += 2
        } else value += line[k++]
      }
      labels[key] = value
      i = k + 1
      if (line[i] === ",") i++
      else if (line[i] !== "}") throw new Error(`expected , or } in ${line}`)
    }
    i++
  }
  if (line[i] !== " ") throw new Error(`expected one space before the value in ${line}`)
  const rest = line.slice(i + 1).split(" ")
  if (rest.length > 2 || (rest.length === 2 && !/^-?\d+$/.test(rest[1]!)))
    throw new Error(`bad value/timestamp in ${line}`)
  return { name, labels, value: parseValue(rest[0]!) }
}

const familyOf = (sample: string, families: Map<string, Family>): Family | undefined => {
  for (const suffix of ["_bucket", "_sum", "_count", ""]) {
    if (!sample.endsWith(suffix)) continue
    const f = families.get(sample.slice(0, sample.length - suffix.length))
    if (f !== undefined && (suffix === "" || f.type === "histogram" || f.type === "summary")) return f
  }
  return undefined
}

const parseExposition = (text: string): Map<string, Family> => {
  if (!text.endsWith("\n")) throw new Error("the exposition must end with a newline")
  const families = new Map<string, Family>()
  const closed = new Set<string>()
  let current: Family | undefined
  for (const line of text.slice(0, -1).split("\n")) {
    if (line.includes("\r")) throw new Error("no carriage returns")
    if (line.startsWith("#")) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line)
      if (m === null) continue // a plain comment
      const [, kind, name, rest] = m
      if (!NAME.test(name!)) throw new Error(`bad name in ${line}`)
      if (closed.has(name!)) throw new Error(`family ${name} is not contiguous`)
      let f = families.get(name!)
      if (f === undefined) {
        f = { name: name!, samples: [] }
        families.set(name!, f)
      }
      if (current !== undefined && current !== f) closed.add(current.name)
      current = f
      if (f.samples.length > 0) throw new Error(`${kind} of ${name} after its samples`)
      if (kind === "HELP") {
        if (f.help !== undefined) throw new Error(`second HELP for ${name}`)
        if (!/^(?:[^\\]|\\[\\n])*$/.test(rest!)) throw new Error(`bad escape in HELP of ${name}`)
        f.help = rest!
      } else {
        if (f.type !== undefined) throw new Error(`second TYPE for ${name}`)
        if (!["counter", "gauge", "histogram", "summary", "untyped"].includes(rest!))
          throw new Error(`bad TYPE ${rest}`)
        f.type = rest!
      }
      continue
    }
    if (line.trim() === "") continue
    const s = parseSample(line)
    const f = familyOf(s.name, families)
    if (f === undefined || f.type === undefined) throw new Error(`sample ${s.name} before its TYPE`)
    if (f !== current) throw new Error(`family ${f.name} is not contiguous`)
    f.samples.push(s)
  }
  for (const f of families.values()) {
    if (f.type === "counter")
      for (const s of f.samples) if (!(s.value >= 0)) throw new Error(`negative counter ${f.name}`)
    if (f.type === "histogram") checkHistogram(f)
  }
  return families
}

const checkHistogram = (f: Family) => {
  const series = new Map<string, { buckets: Array<[number, number]>; sum?: number; count?: number }>()
  for (const s of f.samples) {
    const { le, ...rest } = s.labels
    const key = JSON.stringify(Object.entries(rest).sort())
    const e = series.get(key) ?? { buckets: [] }
    series.set(key, e)
    if (s.name === `${f.name}_bucket`) {
      if (le === undefined) throw new Error(`bucket of ${f.name} without le`)
      e.buckets.push([parseValue(le), s.value])
    } else if (s.name === `${f.name}_sum`) e.sum = s.value
    else if (s.name === `${f.name}_count`) e.count = s.value
    else throw new Error(`unexpected ${s.name} in histogram ${f.name}`)
  }
  for (const [key, e] of series) {
    if (e.sum === undefined || e.count === undefined) throw new Error(`${f.name}${key} lacks _sum or _count`)
    const last = e.buckets[e.buckets.length - 1]
    if (last === undefined || last[0] !== Infinity || last[1] !== e.count)
      throw new Error(`${f.name}${key}: +Inf bucket must equal _count`)
    for (let i = 1; i < e.buckets.length; i++) {
      if (!(e.buckets[i]![0] > e.buckets[i - 1]![0])) throw new Error(`${f.name}: le not ascending`)
      if (e.buckets[i]![1] < e.buckets[i - 1]![1]) throw new Error(`${f.name}: buckets not cumulative`)
    }
  }
}

const value = (families: Map<string, Family>, name: string, labels: Record<string, string> = {}, sampleName = name) => {
  const family = familyOf(name, families) ?? families.get(name)
  const s = family?.samples.find(
    (x) => x.name === sampleName && Object.entries(labels).every(([k, v]) => x.labels[k] === v)
  )
  return s?.value
}

// ---- tests -----------------------------------------------------------------------------------------

describe("Prometheus exposition", () => {
  it.effect("renders counters, gauges, histograms, summaries and frequencies with HELP, TYPE, labels and escapes", () =>
    Effect.gen(function* () {
      const counter = Metric.counter("test_prom_requests_total", {
        description: "Requests\nseen \\ here",
        incremental: true
      })
      yield* Metric.incrementBy(counter.pipe(Metric.tagged("path", 'a"b\\c\nd')), 3)
      yield* Metric.incrementBy(counter.pipe(Metric.tagged("path", "/x")), 2)
      yield* Metric.set(Metric.gauge("test_prom_temperature", { description: "Degrees" }), -1.5)
      // Not incremental, so it may go down: a gauge, as Effect's own effect_fiber_active.
      yield* Metric.incrementBy(Metric.counter("test_prom_open"), 4)
      const histogram = Metric.histogram(
        "test_prom_latency_seconds",
        MetricBoundaries.fromIterable([0.1, 1]),
        "Latency"
      )
      for (const v of [0.05, 0.5, 0.5, 7]) yield* Metric.update(histogram, v)
      const summary = Metric.summary({
        name: "test_prom_size",
        maxAge: "1 minute",
        maxSize: 10,
        error: 0.01,
        quantiles: [0.5]
      })
      for (const v of [1, 2, 3]) yield* Metric.update(summary, v)
      yield* Metric.update(Metric.frequency("test_prom_kinds"), "a")
      yield* Metric.update(Metric.frequency("test_prom_kinds"), "a")

      const pairs = (yield* Metric.snapshot).filter((p) => p.metricKey.name.startsWith("test_prom_"))
      const text = Prometheus.render(pairs, [
        {
          name: "test_prom_queue",
          help: "Queue",
          type: "gauge",
          samples: [{ labels: { status: "pending" }, value: 7 }]
        }
      ])
      expect(text).toBe(
        [
          "# HELP test_prom_kinds test_prom_kinds",
          "# TYPE test_prom_kinds counter",
          'test_prom_kinds{key="a"} 2',
          "# HELP test_prom_latency_seconds Latency",
          "# TYPE test_prom_latency_seconds histogram",
          'test_prom_latency_seconds_bucket{le="0.1"} 1',
          'test_prom_latency_seconds_bucket{le="1"} 3',
          'test_prom_latency_seconds_bucket{le="+Inf"} 4',
          "test_prom_latency_seconds_sum 8.05",
          "test_prom_latency_seconds_count 4",
          "# HELP test_prom_open test_prom_open",
          "# TYPE test_prom_open gauge",
          "test_prom_open 4",
          "# HELP test_prom_queue Queue",
          "# TYPE test_prom_queue gauge",
          'test_prom_queue{status="pending"} 7',
          "# HELP test_prom_requests_total Requests\\nseen \\\\ here",
          "# TYPE test_prom_requests_total counter",
          'test_prom_requests_total{path="/x"} 2',
          'test_prom_requests_total{path="a\\"b\\\\c\\nd"} 3',
          "# HELP test_prom_size test_prom_size",
          "# TYPE test_prom_size summary",
          // Effect's summary answers the quantile with a sample at or below it.
          'test_prom_size{quantile="0.5"} 1',
          "test_prom_size_sum 6",
          "test_prom_size_count 3",
          "# HELP test_prom_temperature Degrees",
          "# TYPE test_prom_temperature gauge",
          "test_prom_temperature -1.5",
          ""
        ].join("\n")
      )
      const families = parseExposition(text)
      expect(value(families, "test_prom_requests_total", { path: 'a"b\\c\nd' })).toBe(3)
      expect(families.get("test_prom_latency_seconds")?.type).toBe("histogram")
    })
  )

  it("the grammar check refuses what Prometheus would refuse", () => {
    const bad = [
      "x 1\n", // no TYPE
      "# TYPE x counter\nx{a=b} 1\n",
      "# TYPE x counter\nx 1\n# TYPE y gauge\ny 1\nx 2\n",
      "# TYPE x counter\nx -1\n",
      '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
      '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n',
      "# TYPE x counter\nx 1",
      "# TYPE x counter\n# TYPE x counter\nx 1\n",
      "# TYPE 1x counter\n1x 1\n"
    ]
    for (const text of bad) expect(() => parseExposition(text), JSON.stringify(text)).toThrow()
  })

  it.scopedLive(
    "GET /metrics after runs: valid text format 0.0.4 with the sluice metrics and sensible values (real HTTP on 127.0.0.1)",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const db = path.join(dir, "s.db")
        const sim = yield* Simulator.make({ port: 0, latencyMs: 20, latencySigma: 0 })
        const base = yield* Layer.build(
          Service.layer({ host: "127.0.0.1", port: 0, pollMs: 50, defaults: { processor: "echo" } }).pipe(
            Layer.provide(
              Compose.llm({ baseUrl: sim.url, timeoutMs: 10_000, rpm: 60_000, tpm: 0, cache: false }, { db })
            ),
            Layer.provide(Compose.store(db))
          )
        ).pipe(
          Effect.map((ctx) => Context.get(ctx, Service.Service).url),
          Effect.orDie,
          Logger.withMinimumLogLevel(LogLevel.Warning)
        )
        const call = (url: string, init: RequestInit = {}) =>
          Effect.promise(async () => {
            const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) })
            return { status: res.status, type: res.headers.get("content-type"), text: await res.text() }
          })
        const postRun = (body: unknown) =>
          call(`${base}/v1/runs`, {
            method: "POST",
            body: JSON.stringify(body),
            headers: { "content-type": "application/json" }
          })
        const waitDone = (run: string) =>
          Effect.gen(function* () {
            const deadline = Date.now() + 30_000
            while (!JSON.parse((yield* call(`${base}/v1/runs/${run}`)).text).done) {
              if (Date.now() > deadline) return yield* Effect.die(new Error(`${run} not done`))
              yield* Effect.sleep("50 millis")
            }
          })

        yield* postRun({ items: Array.from({ length: 50 }, (_, i) => ({ i })), options: { run: "echo" } })
        yield* postRun({
          items: Array.from({ length: 10 }, (_, i) => ({ text: `count the words in sentence number ${i}` })),
          options: { run: "llm", processor: "llm", model: "sim", maxTokens: 32 }
        })
        yield* waitDone("echo")
        yield* waitDone("llm")
        // The worker writes per-run metric deltas (tokens among them) with a commit at most once a
        // second; one more small run a second later carries the last ones.
        yield* Effect.sleep("1100 millis")
        yield* postRun({ items: [{ last: true }], options: { run: "flush" } })
        yield* waitDone("flush")

        const scraped = yield* call(`${base}/metrics`)
        expect(scraped.status).toBe(200)
        expect(scraped.type).toBe("text/plain; version=0.0.4; charset=utf-8")
        const families = parseExposition(scraped.text)

        expect(families.get("sluice_items_total")?.type).toBe("counter")
        expect(value(families, "sluice_items_total", { outcome: "completed" })).toBe(61)
        expect(value(families, "sluice_items_in_flight")).toBe(0)
        expect(families.get("sluice_item_duration_seconds")?.type).toBe("histogram")
        expect(
          value(
            families,
            "sluice_item_duration_seconds",
            { outcome: "completed" },
            "sluice_item_duration_seconds_count"
          )
        ).toBe(61)
        const seconds = value(
          families,
          "sluice_item_duration_seconds",
          { outcome: "completed" },
          "sluice_item_duration_seconds_sum"
        )!
        // Ten llm items of about 20 ms each at least; nothing near a minute.
        expect(seconds).toBeGreaterThan(0.15)
        expect(seconds).toBeLessThan(60)
        expect(value(families, "sluice_tokens_total", { direction: "in" })).toBeGreaterThan(0)
        expect(value(families, "sluice_tokens_total", { direction: "out" })).toBeGreaterThan(0)
        expect(families.get("sluice_commit_items")?.type).toBe("histogram")
        expect(value(families, "sluice_queue_items", { status: "completed" })).toBe(61)
        expect(value(families, "sluice_queue_items", { status: "pending" })).toBe(0)
        expect(value(families, "sluice_workers_running")).toBe(1)
        expect(value(families, "sluice_circuit_state")).toBe(0)
        for (const f of families.values()) expect(f.help, f.name).toBeDefined()
      }),
    { timeout: 60_000 }
  )
})
