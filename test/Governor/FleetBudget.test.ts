/**
 * The fleet budget: several Admission instances, each with a store of its own on one database (as
 * separate processes would have), draw on one shared budget. Each case runs on SQLite (two stores on
 * one file) and on PostgreSQL (two stores on one schema of a throwaway server).
 *
 * Time is TestClock's: it moves only when a test says so. The database is real, so after each step the
 * test lets real time pass (`settle`) for the suppliers' round trips to land before it looks.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Clock, Context, Effect, Fiber, Layer, Redacted, Ref, type Scope, TestClock } from "effect"
import * as path from "node:path"
import * as Admission from "../../src/Governor/Admission.js"
import * as FleetBudget from "../../src/Governor/FleetBudget.js"
import * as Ledger from "../../src/Governor/FleetLedger.js"
import * as PgStore from "../../src/Store/PgStore.js"
import * as SqliteStore from "../../src/Store/SqliteStore.js"
import { Store } from "../../src/Store/Store.js"
import * as Postgres from "../support/Postgres.js"
import { tempDir } from "../support/Temp.js"

const DB = "sluice_fleet_test"
let server: Postgres.Postgres | undefined

beforeAll(async () => {
  server = await Postgres.start()
  await server.createDatabase(DB)
}, 60_000)

afterAll(async () => {
  await server?.stop()
})

let schemas = 0

/** Opens `n` stores on one fresh database, as `n` processes would. */
type Backend = {
  readonly name: string
  readonly open: (n: number) => Effect.Effect<ReadonlyArray<Store["Type"]>, unknown, Scope.Scope>
}

const backends: ReadonlyArray<Backend> = [
  {
    name: "SQLite",
    open: (n) =>
      Effect.gen(function* () {
        const file = path.join(yield* tempDir("sluice-fleet-"), "fleet.db")
        return yield* Effect.forEach(Array.from({ length: n }), () => SqliteStore.make({ filename: file }))
      })
  },
  {
    name: "PostgreSQL",
    open: (n) =>
      Effect.gen(function* () {
        if (server === undefined) return yield* Effect.dieMessage("PostgreSQL did not start")
        const options = { url: Redacted.make(server.url(DB)), schema: `fleet${++schemas}`, maxConnections: 2 }
        // One after the other: the first makes the schema.
        return yield* Effect.forEach(Array.from({ length: n }), () =>
          Effect.map(Layer.build(PgStore.layer(options)), Context.get(Store))
        )
      })
  }
]

/** Real time for the suppliers' database round trips; TestClock does not move meanwhile. */
const settle = (ms = 25) => Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, ms)))

/** Lets real time pass until `done` holds (or `maxMs` passed): the suppliers' round trips landing. */
const settleUntil = (done: Effect.Effect<boolean>, maxMs = 5_000) =>
  Effect.gen(function* () {
    const until = Date.now() + maxMs
    while (!(yield* done) && Date.now() < until) yield* settle(10)
  })

/** Moves TestClock to `toMs` in steps, settling after each. */
const advanceTo = (toMs: number, stepMs = 50, settleMs = 25) =>
  Effect.gen(function* () {
    while ((yield* Clock.currentTimeMillis) < toMs) {
      const now = yield* Clock.currentTimeMillis
      yield* TestClock.adjust(Math.min(stepMs, toMs - now))
      yield* settle(settleMs)
    }
  })

const BASE_URL = "http://127.0.0.1:9/v1"
const KEY = Redacted.make("sk-test-fleet")
const UPSTREAM = FleetBudget.upstreamKey({ baseUrl: BASE_URL, apiKey: KEY })

/** An Admission on `store` whose buckets the fleet budget refills. */
const fleetAdmission = (store: Store["Type"], holder: string, options: Admission.AdmissionOptions) =>
  Effect.gen(function* () {
    const supply = yield* FleetBudget.supply({ baseUrl: BASE_URL, apiKey: KEY, holder }).pipe(
      Effect.provideService(Store, store)
    )
    return yield* Admission.make({ ...options, supply })
  })

/** Forks `n` calls of `cost`; each records the (TestClock) time it was admitted at. */
const forkCalls = (
  admission: Admission.Admission["Type"],
  n: number,
  cost: Admission.Cost,
  times: Ref.Ref<Array<number>>
) =>
  Effect.forEach(Array.from({ length: n }), () =>
    Effect.fork(
      admission.withCost(cost)(Effect.flatMap(Clock.currentTimeMillis, (t) => Ref.update(times, (xs) => [...xs, t])))
    )
  )

/** The most admitted in any window [a, b] beyond `capacity + rate × (b − a)`; ≤ 0 when the limit held. */
const worstExcess = (times: ReadonlyArray<number>, capacity: number, perMs: number) => {
  const sorted = [...times].sort((a, b) => a - b)
  let worst = Number.NEGATIVE_INFINITY
  for (let i = 0; i < sorted.length; i++) {
    for (let j = i; j < sorted.length; j++) {
      worst = Math.max(worst, j - i + 1 - (capacity + perMs * (sorted[j]! - sorted[i]!)))
    }
  }
  return worst
}

for (const backend of backends) {
  describe(`FleetBudget on ${backend.name}`, () => {
    it.scoped(
      "two Admissions on one database, each given the whole 600 RPM, never admit more than 600 RPM together",
      () =>
        Effect.gen(function* () {
          const [storeA, storeB] = yield* backend.open(2)
          // Buckets of one second: TestClock steps on while the database answers in real time, and a
          // slow round trip must not lose budget to a full bucket (that would be the machine, not the rule).
          const a = yield* fleetAdmission(storeA!, "A", { rpm: 600, windowMs: 1_000 })
          const b = yield* fleetAdmission(storeB!, "B", { rpm: 600, windowMs: 1_000 })
          const timesA = yield* Ref.make<Array<number>>([])
          const timesB = yield* Ref.make<Array<number>>([])
          yield* forkCalls(a, 100, {}, timesA)
          yield* forkCalls(b, 100, {}, timesB)
          yield* settle()
          yield* advanceTo(10_000)
          const all = [...(yield* Ref.get(timesA)), ...(yield* Ref.get(timesB))]
          // 600 RPM is 10 a second, with a burst of one window (10), as one process would admit alone.
          expect(worstExcess(all, 10, 10 / 1000)).toBeLessThanOrEqual(1e-9)
          // And the budget is used, by both: 8.5 at the start (15% short) + 100 over 10 s.
          expect(all.length).toBeGreaterThanOrEqual(95)
          expect((yield* Ref.get(timesA)).length).toBeGreaterThanOrEqual(20)
          expect((yield* Ref.get(timesB)).length).toBeGreaterThanOrEqual(20)

          // What `sluice status` and /metrics show: the fleet's use of the limit and its holders.
          const [usage] = FleetBudget.usage(yield* storeA!.fleetRead, yield* Clock.currentTimeMillis)
          expect(usage?.rpm).toBe(600)
          expect(usage?.holdersAlive).toBe(2)
          expect(usage!.requestsPerMinute).toBeGreaterThanOrEqual(all.length)
          expect(usage!.requestsPerMinute).toBeLessThanOrEqual(all.length + 10)
          const line = FleetBudget.describe(usage!)
          expect(line).toContain("RPM ")
          expect(line).toContain("/600")
          expect(line).toContain("2 holders alive")
          expect(line).not.toContain("sk-test-fleet")
        }),
      120_000
    )

    it.scoped(
      "a dead holder's slice counts until it expires, then comes back; the holder stops counting as alive",
      () =>
        Effect.gen(function* () {
          const [store] = yield* backend.open(1)
          // A process takes a slice at t=0 and dies holding it: 425 of the 500 tokens a second of
          // 30,000 TPM holds (it starts 15% short).
          const dead = yield* store!.fleetUpdate(
            UPSTREAM,
            Ledger.take({
              holder: "dead",
              now: 0,
              vote: { rpm: undefined, tpm: 30_000, windowMs: 1_000 },
              need: { requests: 0, tokens: 400 },
              sliceMs: 50,
              sliceTtlMs: 500,
              seenTtlMs: 10_000,
              holding: { requests: 0, tokens: 0 }
            })
          )
          expect(dead.tokens).toBeCloseTo(425, 6)

          // Buckets of one second (Admission's default is 250 ms), so a slice is large beside them.
          const b = yield* fleetAdmission(store!, "B", { rpm: 6_000, tpm: 30_000, windowMs: 1_000 })
          const times = yield* Ref.make<Array<number>>([])

          // t=400: its slice still counts, so only 75 tokens are free: 1 call of 50 passes, 7 wait.
          yield* advanceTo(400, 100)
          const waiting = yield* forkCalls(b, 8, { tokens: 50 }, times)
          yield* settle(200)
          expect((yield* Ref.get(times)).length).toBe(1)
          yield* Effect.forEach(waiting, Fiber.interrupt)

          // t=3000: its slice expired at 500, so the whole (15%-short) second is back at once: 8 × 50 = 400.
          yield* advanceTo(3_000, 500)
          yield* Ref.set(times, [])
          yield* forkCalls(b, 8, { tokens: 50 }, times)
          yield* settleUntil(Effect.map(Ref.get(times), (xs) => xs.length >= 8))
          expect(yield* Ref.get(times)).toEqual(Array.from({ length: 8 }, () => 3_000))

          const alive = () =>
            Effect.map(
              Effect.zip(store!.fleetRead, Clock.currentTimeMillis),
              ([snapshots, now]) => FleetBudget.usage(snapshots, now)[0]?.holdersAlive
            )
          expect(yield* alive()).toBe(2)
          // Past its lease (10 s) only B, which keeps itself alive with heartbeats, is counted.
          yield* advanceTo(11_000, 500)
          expect(yield* alive()).toBe(1)
        }),
      120_000
    )

    it.scoped(
      "a 429 seen by one process pauses the other until its retry-after",
      () =>
        Effect.gen(function* () {
          const [storeA, storeB] = yield* backend.open(2)
          const a = yield* fleetAdmission(storeA!, "A", { rpm: 600, windowMs: 1_000 })
          const b = yield* fleetAdmission(storeB!, "B", { rpm: 600, windowMs: 1_000 })
          yield* advanceTo(100)
          // A's call is answered 429, retry-after 5 s.
          const first = yield* Effect.fork(a.acquire({}))
          yield* advanceTo(200)
          const ticket = yield* Fiber.join(first)
          yield* a.pause(5_000, ticket)
          yield* settle(100)

          const times = yield* Ref.make<Array<number>>([])
          yield* forkCalls(b, 5, {}, times)
          yield* advanceTo(5_000, 100)
          expect(yield* Ref.get(times)).toEqual([])
          // Paused until 5,200 (the 429 came at 200); then the shared bucket (refilled during the pause) lets all 5 through.
          yield* advanceTo(5_500, 50)
          const after = yield* Ref.get(times)
          expect(after.length).toBe(5)
          expect(Math.min(...after)).toBeGreaterThanOrEqual(5_200)
          expect(Math.min(...after)).toBeLessThanOrEqual(5_400)

          const [usage] = FleetBudget.usage(yield* storeB!.fleetRead, yield* Clock.currentTimeMillis)
          expect(usage?.rateLimitHits).toBe(1)
          expect((yield* b.state).rateLimitHits).toBe(0)
        }),
      120_000
    )
  })
}
