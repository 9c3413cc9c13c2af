/**
 * The host's own test of its pipeline: mock stages, the in-memory store, `it.effect` on the test
 * clock. A retry backs off on the test clock too, so the test moves the clock until the run ends.
 */
import { expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Option, Ref, Stream, TestClock } from "effect"
import { Errors, MemoryStore, Pipeline, Persister, Progress, Store } from "sluice"
import { classify, process, Tickets } from "./pipeline.js"

it.effect("tickets are triaged in input order; a busy upstream is retried once the clock moves", () =>
  Effect.gen(function* () {
    const calls = yield* Ref.make(0)
    const triager = (body: string) =>
      Effect.gen(function* () {
        if ((yield* Ref.getAndUpdate(calls, (n) => n + 1)) === 0) {
          return yield* new Errors.Transient({ reason: "Status", status: 503, message: "busy" })
        }
        return body.includes("refund") ? ("billing" as const) : ("support" as const)
      })
    const stages = Layer.mergeAll(
      Tickets.fetcher(
        Stream.make(
          { key: "t1", payload: { id: "t1", body: "refund please", openedAt: new Date("2026-01-02T00:00:00Z") } },
          { key: "t2", payload: { id: "t2", body: " ", openedAt: new Date("2026-01-03T00:00:00Z") } },
          { key: "t3", payload: { id: "t3", body: "cannot log in", openedAt: new Date("2026-01-04T00:00:00Z") } }
        )
      ),
      classify,
      process(triager),
      Persister.layerStoreOnly,
      Progress.layer
    ).pipe(Layer.provideMerge(MemoryStore.layerMemory))

    const { summary, rows } = yield* Effect.gen(function* () {
      const fiber = yield* Effect.fork(Pipeline.run({ run: "tickets", concurrency: 1 }))
      // Without this the run waits forever on the first retry's backoff: the test clock does not move alone.
      while (Option.isNone(yield* Fiber.poll(fiber))) yield* TestClock.adjust("1 second")
      const summary = yield* Fiber.join(fiber)
      const store = yield* Store.Store
      return { summary, rows: yield* store.results("tickets", { afterSeq: -1, limit: 10 }) }
    }).pipe(Effect.provide(stages))

    expect(summary.counts).toMatchObject({ completed: 2, skipped: 1, failed: 0, pending: 0 })
    expect(rows.map((r) => r.key)).toEqual(["t1", "t2", "t3"])
    const first = yield* Tickets.decodeOutput(JSON.parse(rows[0]!.outputJson!))
    expect(first.team).toBe("billing")
    expect(first.openedAt).toBeInstanceOf(Date)
    expect(rows[0]!.attempts).toBe(2)
  })
)
