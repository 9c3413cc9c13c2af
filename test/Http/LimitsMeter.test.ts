/**
 * The limits panel's rates under the test clock: a run started on a service that sat idle reads its
 * true rate from its first seconds (the rate window is the busy spell until that is 15 s old), a
 * lone first call does not read as a burst, and a steady rate reads steady over the full window.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Context, Effect, Fiber, Layer, TestClock } from "effect"
import * as LimitsMeter from "../../src/Http/LimitsMeter.js"
import { Llm } from "../../src/Llm/Llm.js"
import type { FleetHolder } from "../../src/Store/Fleet.js"
import * as MemoryStore from "../../src/Store/MemoryStore.js"
import { Store } from "../../src/Store/Store.js"

/** An upstream that answers every call in 100 ms with 50 tokens. */
const upstream = Layer.succeed(
  Llm,
  Llm.of({
    complete: (request) =>
      Effect.as(Effect.sleep("100 millis"), {
        content: "ok",
        output: "ok",
        usage: { promptTokens: 40, completionTokens: 10, totalTokens: 50 },
        model: request.model,
        cached: false
      })
  })
)

const meter = Effect.gen(function* () {
  const ctx = yield* Layer.build(
    LimitsMeter.layer({ concurrency: 8 }).pipe(Layer.provide(upstream), Layer.provideMerge(MemoryStore.layerMemory))
  )
  return {
    llm: Context.get(ctx, Llm),
    view: Context.get(ctx, LimitsMeter.LimitsMeter).view,
    store: Context.get(ctx, Store)
  }
})

type Meter = Effect.Effect.Success<typeof meter>

/** Ten calls a second (600 RPM, 30,000 TPM) for `seconds`: one call started every 100 ms. */
const callAtTenPerSecond = (m: Meter, seconds: number) =>
  Effect.gen(function* () {
    const fibers: Array<Fiber.RuntimeFiber<unknown, unknown>> = []
    for (let i = 0; i < seconds * 10; i++) {
      fibers.push(yield* Effect.fork(m.llm.complete({ model: "m", messages: [{ role: "user", content: "x" }] })))
      yield* TestClock.adjust("100 millis")
    }
    yield* TestClock.adjust("100 millis")
    yield* Fiber.joinAll(fibers)
  })

describe("LimitsMeter rates (TestClock)", () => {
  it.scoped("a run on a service idle for a minute reads its true rate after 3 s, not a fifth of it", () =>
    Effect.gen(function* () {
      const m = yield* meter
      yield* TestClock.adjust("60 seconds")
      yield* callAtTenPerSecond(m, 3)
      const early = yield* m.view
      // 30 calls in the 3.1 s since the first began: 580 RPM. Over the 15 s window it read 120.
      expect(early.rpm.used).toBeGreaterThan(0.9 * 600)
      expect(early.rpm.used).toBeLessThan(1.05 * 600)
      expect(early.tpm.used).toBeGreaterThan(0.9 * 30_000)
      expect(early.windowSeconds).toBe(3)
    })
  )

  it.scoped("a lone first call reads as one call in a second at most, not as a burst", () =>
    Effect.gen(function* () {
      const m = yield* meter
      yield* TestClock.adjust("30 seconds")
      const call = yield* Effect.fork(m.llm.complete({ model: "m", messages: [{ role: "user", content: "x" }] }))
      yield* TestClock.adjust("100 millis")
      yield* Fiber.join(call)
      expect((yield* m.view).rpm.used).toBeLessThanOrEqual(60)
    })
  )

  it.scoped("a steady rate reads steady over the full 15 s window; a new spell after a pause starts afresh", () =>
    Effect.gen(function* () {
      const m = yield* meter
      yield* TestClock.adjust("60 seconds")
      yield* callAtTenPerSecond(m, 20)
      const steady = yield* m.view
      expect(steady.windowSeconds).toBe(LimitsMeter.RATE_WINDOW_MS / 1000)
      expect(steady.rpm.used).toBeGreaterThan(0.95 * 600)
      expect(steady.rpm.used).toBeLessThan(1.05 * 600)

      // A pause longer than IDLE_MS, then the same rate again: honest from its start too.
      yield* TestClock.adjust(LimitsMeter.IDLE_MS + 3_000)
      yield* callAtTenPerSecond(m, 2)
      const again = yield* m.view
      expect(again.windowSeconds).toBe(2)
      expect(again.rpm.used).toBeGreaterThan(0.9 * 600)
      expect(again.rpm.used).toBeLessThan(1.05 * 600)
    })
  )

  it.scoped(
    "the fleet's use: every process's hand-outs from the shared row, honest from the spell's start and across a minute's turn",
    () =>
      Effect.gen(function* () {
        const m = yield* meter
        const UPSTREAM = "http://up.example/v1|*|0123456789abcdef"
        // Two processes hand out ten requests a second between them, as the fleet budget's row records it:
        // per minute-long window aligned to the clock's minutes (the ledger's rule), with both alive.
        const handOut = (requests: number) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) =>
            m.store.fleetUpdate(UPSTREAM, ({ row }) => {
              const moved = now - row.windowAt >= 60_000
              const windowAt = moved ? now - (now % 60_000) : row.windowAt
              const consecutive = moved && windowAt - row.windowAt === 60_000
              const holders: Array<FleetHolder> = ["a", "b"].map((holder) => ({
                upstream: UPSTREAM,
                holder,
                rpm: 1200,
                tpm: null,
                windowMs: 1000,
                seenUntil: now + 10_000,
                sliceRequests: 0,
                sliceTokens: 0,
                sliceUntil: 0,
                takenRequests: 0,
                takenTokens: 0,
                wantRequests: 0,
                wantTokens: 0,
                waitingSince: 0,
                waitingUntil: 0
              }))
              return {
                row: {
                  ...row,
                  rpm: 1200,
                  windowAt,
                  prevRequests: moved ? (consecutive ? row.windowRequests : 0) : row.prevRequests,
                  prevTokens: moved ? (consecutive ? row.windowTokens : 0) : row.prevTokens,
                  windowRequests: (moved ? 0 : row.windowRequests) + requests,
                  windowTokens: (moved ? 0 : row.windowTokens) + requests * 50
                },
                upsert: holders,
                remove: [],
                result: undefined
              }
            })
          )
        // Idle until 2 s before a minute's turn, then 4 s at ten a second.
        const now = yield* Clock.currentTimeMillis
        yield* TestClock.adjust(60_000 - (now % 60_000) + 58_000)
        for (let i = 0; i < 40; i++) {
          yield* handOut(1)
          yield* TestClock.adjust("100 millis")
        }
        yield* TestClock.adjust("1 second")
        const { fleet } = yield* m.view
        expect(fleet).toHaveLength(1)
        expect(fleet[0]!.baseUrl).toBe("http://up.example/v1")
        expect(fleet[0]!.processes).toBe(2)
        expect(fleet[0]!.rpm.limit).toBe(1200)
        // 40 requests in the ~5 s since the spell began: ~480/min. The row's sliding minute read ~40.
        expect(fleet[0]!.rpm.used).toBeGreaterThan(400)
        expect(fleet[0]!.rpm.used).toBeLessThan(700)
        expect(fleet[0]!.tpm.used).toBeCloseTo(fleet[0]!.rpm.used * 50, 0)
      })
  )
})
