/**
 * `Pipeline.make({ payload, output })`: host stages receive decoded payloads, outputs are stored
 * encoded, and a payload or output that does not fit its schema fails that item as `Invalid` while the
 * others complete. Runs on `layerMemory` and the test clock, as a host's own test would.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Option, Ref, Schema, Stream, TestClock } from "effect"
import { Transient } from "../../src/Domain/Errors.js"
import { SourceRecord } from "../../src/Domain/Item.js"
import * as Pipeline from "../../src/Engine/Pipeline.js"
import * as Progress from "../../src/Engine/Progress.js"
import * as Classifier from "../../src/Stages/Classifier.js"
import { Route } from "../../src/Stages/Classifier.js"
import * as Fetcher from "../../src/Stages/Fetcher.js"
import * as Persister from "../../src/Stages/Persister.js"
import { layerStoreOnly } from "../../src/Stages/Persister.js"
import type * as Processor from "../../src/Stages/Processor.js"
import * as Usage from "../../src/Domain/Usage.js"
import { layerMemory } from "../../src/Store/MemoryStore.js"
import { Store } from "../../src/Store/Store.js"

const Ticket = Schema.Struct({ id: Schema.String, body: Schema.String, openedAt: Schema.Date })
const Triage = Schema.Struct({ team: Schema.Literal("billing", "support"), openedAt: Schema.Date })
const Tickets = Pipeline.make({ payload: Ticket, output: Triage })

/** Runs the pipeline to its end, moving the test clock (retries back off on it). */
const runToEnd = (
  stages: Layer.Layer<
    Store | Fetcher.Fetcher | Classifier.Classifier | Processor.Processor | Persister.Persister | Progress.Progress
  >
) =>
  Effect.gen(function* () {
    const fiber = yield* Effect.fork(Pipeline.run({ run: "r", concurrency: 2 }))
    while (Option.isNone(yield* Fiber.poll(fiber))) yield* TestClock.adjust("1 second")
    const summary = yield* Fiber.join(fiber)
    const rows = yield* Effect.flatMap(Store, (store) => store.results("r", { afterSeq: -1, limit: 100 }))
    return { summary, rows }
  }).pipe(Effect.provide(stages))

describe("Pipeline.make (typed payloads and outputs)", () => {
  it.effect("hands the processor decoded payloads, stores outputs encoded, fails what does not decode", () =>
    Effect.gen(function* () {
      const seen = yield* Ref.make<Array<Date>>([])
      const stages = Layer.mergeAll(
        Layer.succeed(
          Fetcher.Fetcher,
          Fetcher.make(
            Stream.fromIterable([
              SourceRecord.record("t1", { id: "t1", body: "refund please", openedAt: "2026-01-02T00:00:00.000Z" }, 0),
              SourceRecord.record("t2", { id: "t2", body: "", openedAt: "2026-01-03T00:00:00.000Z" }, 1),
              SourceRecord.record("t3", { id: "t3", body: "login broken", openedAt: "not a date" }, 2),
              SourceRecord.record("t4", { id: "t4", body: "it crashed", openedAt: "2026-01-04T00:00:00.000Z" }, 3)
            ])
          )
        ),
        Tickets.classifier((item) => (item.payload.body === "" ? Route.skip("empty") : Route.process())),
        Tickets.processor((item) =>
          Effect.gen(function* () {
            // Typed: a Date, not a string, and no cast.
            yield* Ref.update(seen, (dates) => [...dates, item.payload.openedAt])
            return {
              team: item.payload.body.includes("refund") ? ("billing" as const) : ("support" as const),
              openedAt: item.payload.openedAt
            }
          })
        ),
        layerStoreOnly,
        Progress.layer
      ).pipe(Layer.provideMerge(layerMemory))
      const { summary, rows } = yield* runToEnd(stages)

      expect(summary.counts).toMatchObject({ completed: 2, skipped: 1, failed: 1, pending: 0 })
      expect((yield* Ref.get(seen)).map((d) => d.toISOString())).toEqual([
        "2026-01-02T00:00:00.000Z",
        "2026-01-04T00:00:00.000Z"
      ])
      expect(rows.map((r) => [r.key, r.status, r.errorTag])).toEqual([
        ["t1", "completed", null],
        ["t2", "skipped", null],
        ["t3", "failed", "Invalid"],
        ["t4", "completed", null]
      ])
      expect(rows[2]!.errorMessage).toContain('item "t3": the payload does not match its schema')
      // Stored encoded (the Date as its string), and decoded back to the typed output.
      expect(JSON.parse(rows[0]!.outputJson!)).toEqual({ team: "billing", openedAt: "2026-01-02T00:00:00.000Z" })
      const back = yield* Tickets.decodeOutput(JSON.parse(rows[3]!.outputJson!))
      expect(back.openedAt).toBeInstanceOf(Date)
      expect(back.team).toBe("support")
    })
  )

  it.effect("a typed source encodes payloads; a retried processor completes once the clock moves", () =>
    Effect.gen(function* () {
      const calls = yield* Ref.make(0)
      const stages = Layer.mergeAll(
        Tickets.fetcher(
          Stream.make({ key: "t1", payload: { id: "t1", body: "hello", openedAt: new Date("2026-02-01T00:00:00Z") } })
        ),
        Tickets.classifier(() => Route.process()),
        Tickets.processor((item) =>
          Effect.gen(function* () {
            // Fails twice: the retries back off on the test clock, so the test moves it.
            if ((yield* Ref.getAndUpdate(calls, (n) => n + 1)) < 2) {
              return yield* new Transient({ reason: "Status", status: 503, message: "busy" })
            }
            return {
              output: { team: "support" as const, openedAt: item.payload.openedAt },
              usage: { ...Usage.empty, tokensIn: 3 }
            }
          })
        ),
        layerStoreOnly,
        Progress.layer
      ).pipe(Layer.provideMerge(layerMemory))
      const { summary, rows } = yield* runToEnd(stages)
      expect(summary.counts.completed).toBe(1)
      expect(yield* Ref.get(calls)).toBe(3)
      expect(rows[0]!.attempts).toBe(3)
      expect(JSON.parse(rows[0]!.outputJson!)).toEqual({ team: "support", openedAt: "2026-02-01T00:00:00.000Z" })
    })
  )

  it.effect("an output that does not fit its schema fails the item as Invalid", () =>
    Effect.gen(function* () {
      const stages = Layer.mergeAll(
        Tickets.fetcher(
          Stream.make({ key: "t1", payload: { id: "t1", body: "x", openedAt: new Date("2026-02-01T00:00:00Z") } })
        ),
        Tickets.classifier(() => Route.process()),
        // An invalid Date is not a valid `Schema.Date`: it does not encode.
        Tickets.processor(() => Effect.succeed({ team: "billing" as const, openedAt: new Date(Number.NaN) })),
        layerStoreOnly,
        Progress.layer
      ).pipe(Layer.provideMerge(layerMemory))
      const { rows } = yield* runToEnd(stages)
      expect(rows.map((r) => [r.status, r.errorTag])).toEqual([["failed", "Invalid"]])
      expect(rows[0]!.errorMessage).toContain("the output does not match its schema")
    })
  )
})
