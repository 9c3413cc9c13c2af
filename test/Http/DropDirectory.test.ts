/**
 * The drop directory inside the service: a JSONL or CSV file put there becomes a run, is processed,
 * and moves to `.done/`; after a restart (even with the file put back, as after a crash between
 * storing and moving it) nothing is processed twice. The service runs in this process over real HTTP
 * on 127.0.0.1 against an in-process simulator; every wait is bounded.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, type Duration, Effect, Layer, Logger, LogLevel } from "effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Compose from "../../src/Cli/Compose.js"
import * as Service from "../../src/Service/Service.js"
import { accepts, runIdOf } from "../../src/Service/DropDirectory.js"
import { answerFor } from "../../src/Simulator/Responder.js"
import * as Simulator from "../../src/Simulator/Simulator.js"
import { getJson } from "../support/Http.js"
import { tempDir } from "../support/Temp.js"
import { waitFor } from "../support/Wait.js"

const serve = (db: string, dir: string, baseUrl: string, settle?: Duration.DurationInput) =>
  Layer.build(
    Service.layer({
      host: "127.0.0.1",
      port: 0,
      pollMs: 50,
      defaults: { processor: "llm", model: "sim", maxTokens: 32 },
      watch: { dir, pollInterval: settle === undefined ? "100 millis" : "50 millis", settle }
    }).pipe(
      Layer.provide(Compose.llm({ baseUrl, timeoutMs: 10_000, rpm: 60_000, tpm: 0, cache: false }, { db })),
      Layer.provide(Compose.store(db))
    )
  ).pipe(
    Effect.map((ctx) => Context.get(ctx, Service.Service).url),
    Effect.orDie,
    Logger.withMinimumLogLevel(LogLevel.Error)
  )

/** Written beside the directory, then renamed in: the way to drop a file. */
const drop = (dir: string, name: string, content: string) =>
  Effect.sync(() => {
    const tmp = path.join(dir, `.${name}.tmp`)
    fs.writeFileSync(tmp, content)
    fs.renameSync(tmp, path.join(dir, name))
  })

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex")

describe("drop directory (real HTTP on 127.0.0.1)", () => {
  it("takes JSONL, NDJSON and CSV files; leaves dotfiles, partial files and other names alone", () => {
    expect(["a.jsonl", "B.NDJSON", "c.csv"].map(accepts)).toEqual([true, true, true])
    expect([".a.jsonl", "a.jsonl.tmp", "a.csv.part", "a.json", "notes.txt"].map(accepts)).toEqual([
      false,
      false,
      false,
      false,
      false
    ])
    expect(runIdOf("my orders.jsonl", "0123456789abcdef")).toBe("my_orders.jsonl-0123456789ab")
  })

  it.scopedLive(
    "a dropped file becomes a run, completes and moves to .done/; after a restart, with the file put back, nothing is processed twice (real HTTP on 127.0.0.1)",
    () =>
      Effect.gen(function* () {
        const root = yield* tempDir()
        const dir = path.join(root, "in")
        fs.mkdirSync(dir)
        const db = path.join(root, "s.db")
        const sim = yield* Simulator.make({ port: 0, latencyMs: 10, latencySigma: 0 })

        const orders = Array.from({ length: 25 }, (_, i) => ({ id: `o${i}`, text: `order ${i}` }))
        const ordersText = orders.map((o) => JSON.stringify(o)).join("\n") + "\n"
        const ordersRun = runIdOf("orders.jsonl", sha256(ordersText))
        const csvText = "id,name\nc1,alpha\nc2,beta\nc3,gamma\n"
        const csvRun = runIdOf("people.csv", sha256(csvText))

        // ---- first session ----
        yield* Effect.scoped(
          Effect.gen(function* () {
            const base = yield* serve(db, dir, sim.url)
            yield* drop(dir, "orders.jsonl", ordersText)
            fs.writeFileSync(path.join(dir, "notes.txt"), "not an input")
            const done = yield* waitFor(
              getJson(`${base}/v1/runs/${ordersRun}`),
              (r) => r.done === true,
              20_000,
              "the dropped file's run"
            )
            expect(done.counts).toEqual({ pending: 0, processing: 0, completed: 25, skipped: 0, failed: 0 })
            expect(done.settings).toMatchObject({ processor: "llm", source: path.join(dir, ".done", "orders.jsonl") })
            yield* waitFor(
              Effect.sync(() => fs.existsSync(path.join(dir, ".done", "orders.jsonl"))),
              (x) => x,
              5_000,
              "the file to move"
            )
            expect(fs.readdirSync(dir).sort()).toEqual([".done", "notes.txt"])
            const results = yield* Effect.promise(() =>
              fetch(`${base}/v1/runs/${ordersRun}/results`, { signal: AbortSignal.timeout(10_000) }).then((r) =>
                r.text()
              )
            )
            expect(
              results
                .split("\n")
                .filter((l) => l.length > 0)
                .map((l) => JSON.parse(l))
            ).toEqual(
              orders.map((o, i) => ({
                seq: i,
                key: o.id,
                status: "completed",
                output: JSON.parse(answerFor(JSON.stringify(o)))
              }))
            )
          })
        )
        expect((yield* sim.log).length).toBe(25)

        // As after a crash between storing the file and moving it: the same file is back.
        fs.copyFileSync(path.join(dir, ".done", "orders.jsonl"), path.join(dir, "orders.jsonl"))
        yield* drop(dir, "people.csv", csvText)

        // ---- second session ----
        yield* Effect.scoped(
          Effect.gen(function* () {
            const base = yield* serve(db, dir, sim.url)
            const csv = yield* waitFor(
              getJson(`${base}/v1/runs/${csvRun}`),
              (r) => r.done === true,
              20_000,
              "the CSV run"
            )
            expect(csv.counts.completed).toBe(3)
            yield* waitFor(
              Effect.sync(() => fs.readdirSync(dir).filter((n) => n !== ".done" && n !== "notes.txt")),
              (left) => left.length === 0,
              5_000,
              "both files to move"
            )
            // The copy found its run already stored: it moved aside under a suffixed name, nothing new ran.
            expect(fs.readdirSync(path.join(dir, ".done")).sort()).toEqual(
              ["orders.jsonl", `orders.${sha256(ordersText).slice(0, 12)}.jsonl`, "people.csv"].sort()
            )
            const runs = (yield* getJson(`${base}/v1/runs`)).runs.map((r: any) => r.run).sort()
            expect(runs).toEqual([csvRun, ordersRun].sort())
            const again = yield* getJson(`${base}/v1/runs/${ordersRun}`)
            expect(again.total).toBe(25)
            expect(again.counts.completed).toBe(25)
          })
        )
        // Upstream saw each order once and each CSV row once.
        const sent = new Map<string, number>()
        for (const e of yield* sim.log) sent.set(e.content, (sent.get(e.content) ?? 0) + 1)
        expect(sent.size).toBe(28)
        expect([...sent.values()].every((n) => n === 1)).toBe(true)
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "a file written slowly, a line at a time, while the directory is watched: every line is processed once (D11, real HTTP on 127.0.0.1)",
    () =>
      Effect.gen(function* () {
        const root = yield* tempDir()
        const dir = path.join(root, "in")
        fs.mkdirSync(dir)
        const sim = yield* Simulator.make({ port: 0, latencyMs: 5, latencySigma: 0 })
        const base = yield* serve(path.join(root, "s.db"), dir, sim.url, "100 millis")
        // Pauses longer than the settle interval: the file is taken before it is whole.
        const fd = fs.openSync(path.join(dir, "slow.jsonl"), "a")
        for (let i = 0; i < 5; i++) {
          fs.writeSync(fd, JSON.stringify({ id: `s${i}`, text: `slow ${i}` }) + "\n")
          yield* Effect.sleep("400 millis")
        }
        fs.closeSync(fd)
        const runs = yield* waitFor(
          getJson(`${base}/v1/runs`),
          (r) => r.runs.length > 0 && r.runs.every((x: any) => x.counts.completed === 5),
          20_000,
          "all five lines completed"
        )
        expect(runs.runs.length).toBe(1)
        const sent = (yield* sim.log).map((e) => e.content).sort()
        expect(sent).toEqual(Array.from({ length: 5 }, (_, i) => JSON.stringify({ id: `s${i}`, text: `slow ${i}` })))
      }),
    { timeout: 60_000 }
  )
})
