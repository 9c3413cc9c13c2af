/**
 * The engine's event stream: what its listeners (progress, metrics, acks, the ordered output) rely on.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Option, Ref, Scope, Exit } from "effect"
import { SourceRecord } from "../../src/Domain/Item.js"
import * as Events from "../../src/Engine/Events.js"
import * as Progress from "../../src/Engine/Progress.js"
import * as ProgressFeed from "../../src/Engine/ProgressFeed.js"
import * as Worker from "../../src/Engine/Worker.js"
import * as Classifier from "../../src/Stages/Classifier.js"
import * as Persister from "../../src/Stages/Persister.js"
import { Processor } from "../../src/Stages/Processor.js"
import * as MemoryStore from "../../src/Store/MemoryStore.js"
import { Store } from "../../src/Store/Store.js"

const recorded = (run: string, n: number): Events.Event => ({ _tag: "Recorded", run, pending: n, failed: 0 })

const echo = Layer.succeed(Processor, Processor.of({ process: (item) => Effect.succeed({ output: item.payload }) }))

describe("Events", () => {
  it.effect(
    "a listener sees every event in publish order, and handles what is still queued when its scope closes",
    () =>
      Effect.gen(function* () {
        const events = yield* Events.make
        const seen = yield* Ref.make<Array<number>>([])
        const scope = yield* Scope.make()
        const gate = yield* Deferred.make<void>()
        yield* Events.listen("test", (batch) =>
          // The first batch waits, so the rest pile up in the subscription until the scope closes.
          Effect.zipRight(
            Deferred.await(gate),
            Ref.update(seen, (s) => [...s, ...batch.map((e) => (e._tag === "Recorded" ? e.pending : -1))])
          )
        ).pipe(Effect.provideService(Events.Events, events), Scope.extend(scope))
        for (let i = 1; i <= 100; i++) yield* events.publish(recorded("r", i))
        yield* Deferred.succeed(gate, undefined)
        yield* Scope.close(scope, Exit.void)
        expect(yield* Ref.get(seen)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1))
      })
  )

  it.effect("a slow listener makes the publisher wait instead of losing events", () =>
    Effect.gen(function* () {
      const events = yield* Events.make
      const gate = yield* Deferred.make<void>()
      const count = yield* Ref.make(0)
      const scope = yield* Scope.make()
      yield* Events.listen("slow", (batch) =>
        Effect.zipRight(
          Deferred.await(gate),
          Ref.update(count, (n) => n + batch.length)
        )
      ).pipe(Effect.provideService(Events.Events, events), Scope.extend(scope))
      const publisher = yield* Effect.fork(
        Effect.forEach(
          Array.from({ length: 2000 }, (_, i) => i),
          (i) => events.publish(recorded("r", i)),
          {
            discard: true
          }
        )
      )
      // Far more than the hub holds: the publisher is suspended, not done.
      for (let i = 0; i < 50; i++) yield* Effect.yieldNow()
      expect(Option.isNone(yield* Fiber.poll(publisher))).toBe(true)
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(publisher)
      yield* Scope.close(scope, Exit.void)
      expect(yield* Ref.get(count)).toBe(2000)
    })
  )

  it.scopedLive(
    "Committed is published only once the outcomes are stored; progress follows the claims and commits exactly",
    () =>
      Effect.gen(function* () {
        const store = yield* Store
        const progress = yield* Progress.Progress
        yield* store.openRun("r", {})
        yield* store.record(
          "r",
          Array.from({ length: 50 }, (_, i) => SourceRecord.record(`k${i}`, { i }))
        )
        yield* progress.update("r", (p) => ({ ...p, counts: { ...p.counts, pending: 50 } }))
        const storedAtCommit = yield* Ref.make<Array<string>>([])
        yield* ProgressFeed.follow
        yield* Events.listen("check", (batch) =>
          Effect.forEach(
            batch,
            (e) =>
              e._tag !== "Committed"
                ? Effect.void
                : Effect.flatMap(store.results("r", { afterSeq: -1, limit: 100 }), (rows) =>
                    Ref.update(storedAtCommit, (s) => [
                      ...s,
                      ...e.items.map((c) => rows.find((r) => r.seq === c.item.seq)?.status ?? "missing")
                    ])
                  ).pipe(Effect.orDie),
            { discard: true }
          )
        )
        const result = yield* Worker.run({ owner: "w", concurrency: 4, run: "r", until: "idle" })
        expect(result.finished).toBe(50)
        // The listeners catch up with the last commit (real time, bounded).
        for (let i = 0; i < 400 && (yield* Ref.get(storedAtCommit)).length < 50; i++) yield* Effect.sleep("5 millis")
        const statuses = yield* Ref.get(storedAtCommit)
        expect(statuses).toHaveLength(50)
        expect(new Set(statuses)).toEqual(new Set(["completed"]))
        const p = yield* progress.get("r")
        expect(p?.counts).toMatchObject({ pending: 0, processing: 0, completed: 50 })
        expect(p?.finishedThisSession).toBe(50)
      }).pipe(
        Effect.provide(
          Layer.mergeAll(Classifier.layerAll, Persister.layerStoreOnly, echo, Progress.layer, Events.layer).pipe(
            Layer.provideMerge(MemoryStore.layerMemory)
          )
        )
      ),
    { timeout: 30_000 }
  )
})
