/**
 * CPU per item on the latency-bound workload, where the client's own CPU is what separates it from the
 * bound on two cores (a busy event loop delays every answer's handling, so slots sit idle). Compares, on
 * the same simulator and alternated so the machine's load falls on all alike:
 * - p-limit over the bare openai SDK, and sluice as shipped, without its response cache, without spans;
 * - the engine alone: `Pipeline.run` with a processor that only sleeps the workload's latency, on SQLite
 *   and on the in-memory store (what the worker costs around an upstream call, apart from the store);
 * - the floors: a promise pool of timers, and Effect fibers that sleep (with a span and a timeout, as
 *   each stage call has): what waking up per item costs at all on this machine.
 *
 * Usage: tsx bench/admission/cpu.ts [N] [rounds]   (ONLY=name,name runs a subset)
 */
import { Effect, Layer, Logger, LogLevel, Stream } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { SourceRecord } from "../../src/Domain/Item.js"
import * as Pipeline from "../../src/Engine/Pipeline.js"
import * as Fetcher from "../../src/Stages/Fetcher.js"
import { Processor } from "../../src/Stages/Processor.js"
import * as MemoryStore from "../../src/Store/MemoryStore.js"
import * as SqliteStore from "../../src/Store/SqliteStore.js"
import { pLimitRun } from "./contenders.js"
import { startSimulator } from "./simProcess.js"
import { sluiceRun } from "./sluice.js"
import { boundOf, CONCURRENCY, LATENCY_MS, makeItems, tokensOf, workloadsFor } from "./workload.js"

const N = Number(process.argv[2] ?? 2000)
const rounds = Number(process.argv[3] ?? 2)
const w = workloadsFor("openai").find((x) => x.kind === "latency")!
const items = makeItems(N)
const bound = boundOf(w, N, tokensOf(items))
const sim = await startSimulator({ ...w.sim, errorRate: 0 })
const ctx = { url: sim.url, items, rpm: w.rpm, tpm: w.tpm, timeoutMs: 120_000 }
/** A fixed spread of sleeps around the workload's latency, the same for every variant. */
const sleepMs = (i: number) => LATENCY_MS + ((i * 37) % 7) * 20

const engineOnly = (store: "sqlite" | "memory") => async (): Promise<number> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-bench-cpu-"))
  const records = items.map((text, i) => SourceRecord.record(`k${i}`, { text }, i, i + 1))
  const sleeper = Layer.succeed(
    Processor,
    Processor.of({ process: (item) => Effect.as(Effect.sleep(sleepMs(item.seq)), { output: { ok: true } }) })
  )
  const layer = Layer.mergeAll(
    Layer.succeed(Fetcher.Fetcher, Fetcher.make(Stream.fromIterable(records))),
    Pipeline.layerDefaults,
    sleeper
  ).pipe(
    Layer.provideMerge(
      store === "memory" ? MemoryStore.layerMemory : SqliteStore.layer({ filename: path.join(dir, "s.db") })
    )
  )
  const summary = await Effect.runPromise(
    Pipeline.run({ run: "cpu", concurrency: CONCURRENCY, drainTimeout: "1 second" }).pipe(
      Effect.provide(layer),
      Logger.withMinimumLogLevel(LogLevel.Warning),
      Effect.orDie
    )
  ).finally(() => fs.rmSync(dir, { recursive: true, force: true }))
  return summary.counts.completed
}

const floorPromise = async (): Promise<number> => {
  let next = 0
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < N) await new Promise((r) => setTimeout(r, sleepMs(next++)))
    })
  )
  return N
}
const floorEffect = (): Promise<number> =>
  Effect.runPromise(
    Effect.forEach(
      items,
      (_, i) => Effect.sleep(sleepMs(i)).pipe(Effect.withSpan("stage"), Effect.timeout("30 seconds")),
      { concurrency: CONCURRENCY, discard: true }
    )
  ).then(() => N)

const variants: ReadonlyArray<readonly [string, () => Promise<number>]> = [
  ["p-limit", () => pLimitRun(ctx).then((r) => r.completed)],
  ["sluice", () => sluiceRun(ctx, { limitsKnown: true }).then((r) => r.completed)],
  ["sluice no cache", () => sluiceRun(ctx, { limitsKnown: true, cache: false }).then((r) => r.completed)],
  ["sluice no spans", () => sluiceRun(ctx, { limitsKnown: true, tracing: false }).then((r) => r.completed)],
  ["engine sqlite", engineOnly("sqlite")],
  ["engine memory", engineOnly("memory")],
  ["floor promise", floorPromise],
  ["floor effect", floorEffect]
]
const only = process.env["ONLY"]?.split(",")
// Warm the JIT and the connection pool, unmeasured.
await sluiceRun({ ...ctx, items: items.slice(0, 128) }, { limitsKnown: true })
console.log(`N = ${N}, concurrency ${CONCURRENCY}, latency-bound bound ${(bound.ms / 1000).toFixed(2)} s`)
for (let r = 0; r < rounds; r++) {
  for (const [name, run] of variants) {
    if (only !== undefined && !only.includes(name)) continue
    await sim.reset()
    const cpu0 = process.cpuUsage()
    const started = performance.now()
    const done = await run()
    const ms = performance.now() - started
    const cpu = process.cpuUsage(cpu0)
    console.log(
      `${name.padEnd(16)} ${(ms / 1000).toFixed(2)} s (bound ratio ${(bound.ms / ms).toFixed(3)})  ` +
        `cpu/item ${((cpu.user + cpu.system) / 1000 / N).toFixed(2)} ms  done ${done}`
    )
  }
}
await sim.stop()
