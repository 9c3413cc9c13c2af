/**
 * `GET /metrics` read by a real Prometheus text-format parser (`parse-prometheus-text-format`, a port of
 * Prometheus' Go parser), on a service in this process over real HTTP on 127.0.0.1 with the simulator:
 * every counter is there at 0 before any work; no gauge is named like a counter; no figure is exported
 * twice in two units; Effect's fiber metrics are left out; and the limits' use shows as
 * `sluice_limit_used_ratio{limit="rpm|tpm"}` near 1 on a request-bound run. Every wait is bounded.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Logger, LogLevel } from "effect"
import * as path from "node:path"
import parse from "parse-prometheus-text-format"
import * as Compose from "../../src/Cli/Compose.js"
import * as Service from "../../src/Service/Service.js"
import * as Simulator from "../../src/Simulator/Simulator.js"
import { tempDir } from "../support/Temp.js"

const RPM = 1_200
const TPM = 2_000_000

const serve = Effect.gen(function* () {
  const dir = yield* tempDir()
  const db = path.join(dir, "s.db")
  const sim = yield* Simulator.make({ port: 0, latencyMs: 20, latencySigma: 0 })
  return yield* Layer.build(
    Service.layer({ host: "127.0.0.1", port: 0, pollMs: 50, concurrency: 16, defaults: { processor: "llm" } }).pipe(
      Layer.provide(Compose.llm({ baseUrl: sim.url, timeoutMs: 10_000, rpm: RPM, tpm: TPM, cache: false }, { db })),
      Layer.provide(Compose.store(db))
    )
  ).pipe(
    Effect.map((ctx) => Context.get(ctx, Service.Service).url),
    Effect.orDie,
    Logger.withMinimumLogLevel(LogLevel.Warning)
  )
})

const text = (url: string, init: RequestInit = {}) =>
  Effect.promise(() => fetch(url, { ...init, signal: AbortSignal.timeout(10_000) }).then((r) => r.text()))

const scrape = (base: string) => Effect.map(text(`${base}/metrics`), parse)

const sample = (families: ReturnType<typeof parse>, name: string, labels: Record<string, string> = {}) =>
  families
    .find((f) => f.name === name)
    ?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))

describe("GET /metrics through a real Prometheus text parser", () => {
  it.scopedLive(
    "every counter at 0 before any work; no _total gauge, no millisecond duplicate, no effect_fiber_* (real HTTP on 127.0.0.1)",
    () =>
      Effect.gen(function* () {
        const base = yield* serve
        const families = yield* scrape(base)
        const byName = new Map(families.map((f) => [f.name, f]))
        for (const [name, labels] of [
          ["sluice_items_total", { outcome: "completed" }],
          ["sluice_items_total", { outcome: "skipped" }],
          ["sluice_items_total", { outcome: "failed" }],
          ["sluice_items_released_total", {}],
          ["sluice_retries_total", {}],
          ["sluice_rate_limited_total", {}],
          ["sluice_admission_wait_seconds_total", {}],
          ["sluice_tokens_total", { direction: "in" }],
          ["sluice_tokens_total", { direction: "out" }],
          ["sluice_cost_usd_total", {}],
          ["sluice_cache_lookups_total", { result: "hit" }],
          ["sluice_cache_lookups_total", { result: "miss" }],
          ["sluice_circuit_transitions_total", { to: "open" }]
        ] as const) {
          expect(byName.get(name)?.type, name).toBe("COUNTER")
          expect(sample(families, name, labels)?.value, `${name}${JSON.stringify(labels)}`).toBe("0")
        }
        for (const f of families) {
          if (f.type === "GAUGE") expect(f.name, "a gauge named like a counter").not.toMatch(/_total$/)
          if (f.type === "COUNTER") expect(f.name, "a counter without _total").toMatch(/_total$/)
          expect(f.name).not.toMatch(/^effect_fiber_/)
          // One figure, one unit: no `_ms` copy of a `_seconds` family.
          const ms = f.name.match(/^(.*)_ms(_total)?$/)
          if (ms !== null) expect(byName.has(`${ms[1]}_seconds${ms[2] ?? ""}`), f.name).toBe(false)
          expect(f.help.length, f.name).toBeGreaterThan(0)
        }
        expect(byName.has("sluice_admission_wait_ms_total")).toBe(false)
        expect(sample(families, "sluice_limit", { limit: "rpm" })?.value).toBe(String(RPM))
        expect(sample(families, "sluice_limit", { limit: "tpm" })?.value).toBe(String(TPM))
        expect(sample(families, "sluice_limit_used_ratio", { limit: "rpm" })?.value).toBe("0")
        expect(sample(families, "sluice_limit_used_ratio", { limit: "tpm" })?.value).toBe("0")
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "sluice_limit_used_ratio{limit=rpm} near 1 while a request-bound run goes (real HTTP and simulator on 127.0.0.1)",
    () =>
      Effect.gen(function* () {
        const base = yield* serve
        // 1,200 RPM is 20 requests a second; 500 items keep admission busy for about 25 s.
        yield* text(`${base}/v1/runs`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            items: Array.from({ length: 500 }, (_, i) => ({ text: `item ${i}` })),
            options: { run: "bound", model: "sim", maxTokens: 16 }
          })
        })
        const deadline = Date.now() + 40_000
        let best = 0
        let families = yield* scrape(base)
        // After the 15 s rate window has filled, the ratio is read a few times.
        yield* Effect.sleep("16 seconds")
        for (let i = 0; i < 4 && Date.now() < deadline; i++) {
          families = yield* scrape(base)
          best = Math.max(best, Number(sample(families, "sluice_limit_used_ratio", { limit: "rpm" })?.value ?? 0))
          yield* Effect.sleep("500 millis")
        }
        // The window may still hold the bucket's one-second burst from the start: at most 1/15 over.
        expect(best).toBeGreaterThan(0.8)
        expect(best).toBeLessThan(1.1)
        const tpm = Number(sample(families, "sluice_limit_used_ratio", { limit: "tpm" })?.value)
        expect(tpm).toBeGreaterThan(0)
        expect(tpm).toBeLessThan(0.1)
        expect(Number(sample(families, "sluice_items_total", { outcome: "completed" })?.value)).toBeGreaterThan(100)
      }),
    { timeout: 60_000 }
  )
})
