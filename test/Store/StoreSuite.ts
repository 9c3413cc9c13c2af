/**
 * The conformance suite of the durable queue port (`src/Store/Store.ts`). Every implementation runs it
 * unchanged with a fresh store per test, so it checks only the port's contract, never how a backend
 * keeps it. All lease timing runs on `TestClock`.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, TestClock, type Layer, type Scope } from "effect"
import { SourceRecord, type Item } from "../../src/Domain/Item.js"
import * as Outcome from "../../src/Domain/Outcome.js"
import { addMetrics, emptyCounts, emptyMetrics, type RunMetrics } from "../../src/Domain/Run.js"
import { Store, type Completion, type StoreError } from "../../src/Store/Store.js"
import { done, rec, recs } from "./Fixtures.js"

type StoreService = Store["Type"]

const seqs = (rows: ReadonlyArray<{ readonly seq: number }>) => rows.map((r) => r.seq)
const keys = (rows: ReadonlyArray<{ readonly key: string }>) => rows.map((r) => r.key)

const allResults = (store: StoreService, run: string) => store.results(run, { afterSeq: -1, limit: 1_000_000 })

/** Claims until nothing is left, alternating owners; returns who got what. */
const drain = (store: StoreService, owners: ReadonlyArray<string>, limit: number, run?: string) =>
  Effect.gen(function* () {
    const got = new Map<string, Array<Item>>(owners.map((o) => [o, []]))
    while (true) {
      const batches = yield* Effect.forEach(
        owners,
        (owner) =>
          store.claim({ owner, limit, leaseMs: 60_000, run }).pipe(Effect.map((items) => [owner, items] as const)),
        { concurrency: owners.length }
      )
      let any = false
      for (const [owner, items] of batches) {
        if (items.length > 0) any = true
        got.get(owner)!.push(...items)
      }
      if (!any) return got
    }
  })

/**
 * Runs the store conformance suite against `makeLayer`, which must build a fresh, empty store each time.
 */
export const suite = (name: string, makeLayer: () => Layer.Layer<Store, StoreError>) =>
  describe(`${name} (Store conformance)`, () => {
    const test = (title: string, body: (store: StoreService) => Effect.Effect<void, StoreError, Scope.Scope>) =>
      it.scoped(title, () => Effect.flatMap(Store, body).pipe(Effect.provide(makeLayer())))

    // ---- runs -------------------------------------------------------------------------------------

    describe("runs", () => {
      test("openRun creates a run; reopening returns the same run with its config updated", (store) =>
        Effect.gen(function* () {
          yield* TestClock.setTime(1_000)
          const created = yield* store.openRun("r1", { model: "a", n: 1 })
          expect(created).toEqual({ id: "r1", config: { model: "a", n: 1 }, createdAt: 1_000, fetchedAt: null })

          yield* TestClock.setTime(2_000)
          const reopened = yield* store.openRun("r1", { model: "b" })
          expect(reopened.id).toBe("r1")
          expect(reopened.config).toEqual({ model: "b" })
          expect(reopened.createdAt).toBe(1_000)

          yield* store.openRun("r2", null)
          const runs = yield* store.listRuns
          expect(runs.map((r) => r.id).sort()).toEqual(["r1", "r2"])
          expect(runs.find((r) => r.id === "r1")?.config).toEqual({ model: "b" })
          expect(runs.find((r) => r.id === "r2")?.config).toBeNull()
        }))

      test("reopening a run keeps its items", (store) =>
        Effect.gen(function* () {
          yield* store.openRun("r", {})
          yield* store.record("r", recs(3))
          yield* store.openRun("r", { again: true })
          expect(keys(yield* allResults(store, "r"))).toEqual(["k0", "k1", "k2"])
        }))

      test("getRun is none for an unknown run and some for a known one", (store) =>
        Effect.gen(function* () {
          expect(Option.isNone(yield* store.getRun("nope"))).toBe(true)
          yield* store.openRun("r", { a: [1, 2] })
          const run = yield* store.getRun("r")
          expect(Option.map(run, (r) => r.config)).toEqual(Option.some({ a: [1, 2] }))
          expect(Option.isNone(yield* store.getRun("nope"))).toBe(true)
          expect(yield* store.listRuns).toHaveLength(1)
        }))

      test("markFetched sets fetchedAt on that run only", (store) =>
        Effect.gen(function* () {
          yield* store.openRun("a", {})
          yield* store.openRun("b", {})
          yield* TestClock.setTime(5_000)
          yield* store.markFetched("a")
          const a = Option.getOrThrow(yield* store.getRun("a"))
          const b = Option.getOrThrow(yield* store.getRun("b"))
          expect(a.fetchedAt).toBe(5_000)
          expect(b.fetchedAt).toBeNull()
        }))
    })

    // ---- record -----------------------------------------------------------------------------------

    describe("record", () => {
      test("ordinal records take their ordinal as seq; unordered ones are numbered after the highest seq", (store) =>
        Effect.gen(function* () {
          yield* store.openRun("r", {})
          const first = yield* store.record("r", [rec("c", 7), rec("a", 2), rec("b", 5)])
          expect(first).toMatchObject({ inserted: 3, alreadyCompleted: [] })
          const second = yield* store.record("r", [rec("x"), rec("y")])
          expect(second.inserted).toBe(2)
          const rows = yield* allResults(store, "r")
          expect(rows.map((r) => [r.seq, r.key, r.status])).toEqual([
            [2, "a", "pending"],
            [5, "b", "pending"],
            [7, "c", "pending"],
            [8, "x", "pending"],
            [9, "y", "pending"]
          ])
        }))

      test("a line recorded as unreadable that reads now takes its place, pending, under its own key (D13, D11)", (store) =>
        Effect.gen(function* () {
          yield* store.openRun("r", {})
          const broken = [
            rec("a", 0),
            SourceRecord.malformed("line:2", 2, "not valid JSON", 1),
            SourceRecord.malformed("line:3", 3, "not valid JSON", 2),
            rec("d", 3)
          ]
          yield* store.record("r", broken)
          // Line 2 fixed (it has an id now), line 3 still broken, a new line 5: the input read again.
          const again = yield* store.record("r", [
            rec("a", 0),
            SourceRecord.record("b", { id: "b" }, 1, 2),
            SourceRecord.malformed("line:3", 3, "not valid JSON", 2),
            rec("d", 3),
            rec("e", 4)
          ])
          expect(again.inserted).toBe(1)
          expect(again.revived).toBe(1)
          const rows = yield* allResults(store, "r")
          expect(rows.map((r) => [r.seq, r.key, r.status])).toEqual([
            [0, "a", "pending"],
            [1, "b", "pending"],
            [2, "line:3", "failed"],
            [3, "d", "pending"],
            [4, "e", "pending"]
          ])
          const items = yield* store.claim({ owner: "w", limit: 10, leaseMs: 1_000 })
          expect(items.map((i) => [i.seq, i.key, i.payload, i.attempts])).toEqual([
            [0, "a", { key: "a" }, 0],
            [1, "b", { id: "b" }, 0],
            [3, "d", { key: "d" }, 0],
            [4, "e", { key: "e" }, 0]
          ])
          // Read a third time, nothing changes: the revived line is not recorded twice.
          const third = yield* store.record("r", [SourceRecord.record("b", { id: "b" }, 1, 2)])
          expect([third.inserted, third.revived ?? 0]).toEqual([0, 0])
          expect((yield* store.counts("r")).processing).toBe(4)
        }))

      test("a fixed line whose key another item holds stays failed (nothing taken from that item)", (store) =>
        Effect.gen(function* () {
          yield* store.openRun("r", {})
          yield* store.record("r", [rec("a", 0), SourceRecord.malformed("line:2", 2, "not valid JSON", 1)])
          const again = yield* store.record("r", [SourceRecord.record("a", { id: "a" }, 1, 2)])
          expect(again.revived ?? 0).toBe(0)
          const rows = yield* allResults(store, "r")
          expect(rows.map((r) => [r.seq, r.key, r.status])).toEqual([
            [0, "a", "pending"],
            [1, "line:2", "failed"]
          ])
        }))

      test("unordered records are numbered from 0 and continue across batches", (store) =>
        Effect.gen(function* () {
          yield* store.openRun("r", {})
          yield* store.record("r", [rec("a"), rec("b")])
          yield* store.record("r", [rec("c")])
          const rows = yield* allResults(store, "r")
          expect(rows.map((r) => [r.seq, r.key])).toEqual([
            [0, "a"],
            [1, "b"],
            [2, "c"]
          ])
        }))

      test("the payload round-trips to the claimed item", (store) =>
        Effect.gen(function* () {
          yield* store.openRun("r", {})
          const payload = { text: 'héllo "world"\n', n: 1.5, list: [1, null, { deep: true }] }
          yield* store.record("r", [rec("a", 0, payload), rec("b", 1, "plain"), rec("c", 2, null)])
          const items = yield* store.claim({ owner: "w", limit: 10, leaseMs: 1_000 })
          expect(items.map((i) => i.payload)).toEqual([payload, "plain", null])
          expect(items[0]).toMatchObject({ run: "r", seq: 0, key: "a", deliveries: 1, attempts: 0 })
        }))

      test("re-recording the same keys inserts nothing and reports the completed ones", (store) =>
        Effect.gen(function* () {
          yield* store.openRun("r", {})
          expect((yield* store.record("r", recs(4))).inserted).toBe(4)
          const [i0, i1] = yield* store.claim({ owner: "w", limit: 2, leaseMs: 1_000 })
          yield* store.complete([
            done(i0!, "w", Outcome.completed("ok")),
            done(i1!, "w", Outcome.failed("Invalid", "no", 1))
          ])

          const again = yield* store.record("r", recs(4))
          expect(again.inserted).toBe(0)
          expect(again.alreadyCompleted.map((i) => [i.run, i.seq, i.key])).toEqual([["r", 0, "k0"]])
          expect(again.alreadyCompleted[0]?.payload).toEqual({ key: "k0" })

          // The same keys without ordinals are recognised too.
          const unordered = yield* store.record("r", [rec("k0"), rec("k3"), rec("new")])
          expect(unordered.inserted).toBe(1)
          expect(keys(unordered.alreadyCompleted)).toEqual(["k0"])

          const rows = yield* allResults(store, "r")
          expect(rows.map((r) => [r.seq, r.key, r.status])).toEqual([
            [0, "k0", "completed"],
            [1, "k1", "failed"],
            [2, "k2", "pending"],
            [3, "k3", "pending"],
            [4, "new", "pending"]
          ])
        }))

      test("a Malformed record is stored failed (Invalid) with its line, and is never claimed", (store) =>
        Effect.gen(function* () {
          yield* store.openRun("r", {})
          const result = yield* store.record("r", [
            rec("a", 0),
            SourceRecord.malformed("line-2", 2, "Unexpected token } in JSON", 1),
            rec("c", 2)
          ])
          expect(result.inserted).toBe(3)
          const rows = yield* allResults(store, "r")
          expect(rows.map((r) => r.status)).toEqual(["pending", "failed", "pending"])
          expect(rows[1]).toMatchObject({ seq: 1, errorTag: "Invalid", outputJson: null })
          expect(rows[1]?.errorMessage).toContain("line 2")
          expect(rows[1]?.errorMessage).toContain("Unexpected token")
          expect(yield* store.counts("r")).toEqual({ ...emptyCounts, pending: 2, failed: 1 })
          const claimed = yield* store.claim({ owner: "w", limit: 10, leaseMs: 1_000 })
          expect(keys(claimed)).toEqual(["a", "c"])
          // Re-recording the malformed line does not add a second failed row.
          const again = yield* store.record("r", [SourceRecord.malformed("line-2", 2, "Unexpected token } in JSON", 1)])
          expect(again.inserted).toBe(0)
          expect(yield* allResults(store, "r")).toHaveLength(3)
        }))

      test("a duplicate key at another ordinal within one batch is stored failed, not dropped", (store) =>
        Effect.gen(function* () {
          yield* store.openRun("r", {})
          const result = yield* store.record("r", [rec("a", 0), rec("b", 1), rec("a", 2)])
          expect(result.inserted).toBe(3)
          const rows = yield* allResults(store, "r")
          expect(seqs(rows)).toEqual([0, 1, 2])
          expect(rows.map((r) => r.status)).toEqual(["pending", "pending", "failed"])
          expect(rows[0]?.key).toBe("a")
          expect(rows[2]?.errorTag).toBe("Invalid")
          expect(rows[2]?.errorMessage).toContain("duplicate key")
          expect(rows[2]?.errorMessage).toContain("line 3")
          // Only the first occurrence is processed.
          const claimed = yield* store.claim({ owner: "w", limit: 10, leaseMs: 1_000 })
          expect(claimed.map((i) => [i.seq, i.key])).toEqual([
            [0, "a"],
            [1, "b"]
          ])
          // Re-recording the same file changes nothing.
          expect((yield* store.record("r", [rec("a", 0), rec("b", 1), rec("a", 2)])).inserted).toBe(0)
          expect(yield* allResults(store, "r")).toHaveLength(3)
        }))

      test("a duplicate key at another ordinal across batches is stored failed, one row per ordinal", (store) =>
        Effect.gen(function* () {
          yield* store.openRun("r", {})
          yield* store.record("r", [rec("a", 0), rec("b", 1)])
          const second = yield* store.record("r", [rec("c", 2), rec("a", 3), rec("d", 4)])
          expect(second.inserted).toBe(3)
          const rows = yield* allResults(store, "r")
          expect(seqs(rows)).toEqual([0, 1, 2, 3, 4])
          expect(rows.map((r) => r.status)).toEqual(["pending", "pending", "pending", "failed", "pending"])
          expect(rows[3]?.errorMessage).toContain("duplicate key")
          expect(rows[3]?.errorMessage).toContain("line 4")
          expect(yield* store.counts("r")).toEqual({ ...emptyCounts, pending: 4, failed: 1 })
          // Resuming (re-recording both batches) adds nothing.
          expect((yield* store.record("r", [rec("a", 0), rec("b", 1)])).inserted).toBe(0)
          expect((yield* store.record("r", [rec("c", 2), rec("a", 3), rec("d", 4)])).inserted).toBe(0)
          expect(yield* allResults(store, "r")).toHaveLength(5)
        }))

      test("the same key in two runs is two items", (store) =>
        Effect.gen(function* () {
          yield* store.openRun("a", {})
          yield* store.openRun("b", {})
          expect((yield* store.record("a", [rec("k", 0)])).inserted).toBe(1)
          expect((yield* store.record("b", [rec("k", 0)])).inserted).toBe(1)
          const claimed = yield* store.claim({ owner: "w", limit: 10, leaseMs: 1_000 })
          expect(claimed.map((i) => i.run).sort()).toEqual(["a", "b"])
        }))
    })

    // ---- claim ------------------------------------------------------------------------------------

    describe("claim", () => {
      test("hands out the lowest seq first and respects limit", (store) =>
        Effect.gen(function* () {
          yield* store.openRun("r", {})
          yield* store.record("r", [rec("d", 3), rec("b", 1), rec("e", 4), rec("a", 0), rec("c", 2)])
          const first = yield* store.claim({ owner: "w", limit: 2, leaseMs: 1_000 })
          expect(seqs(first)).toEqual([0, 1])
          expect(seqs(yield* store.claim({ owner: "w", limit: 2, leaseMs: 1_000 }))).toEqual([2, 3])
          expect(seqs(yield* store.claim({ owner: "w", limit: 10, leaseMs: 1_000 }))).toEqual([4])
          expect(yield* store.claim({ owner: "w", limit: 10, leaseMs: 1_000 })).toEqual([])
          expect(yield* store.counts("r")).toEqual({ ...emptyCounts, processing: 5 })
        }))

      test("a limit of 0 claims nothing", (store) =>
        Effect.gen(function* () {
          yield* store.openRun("r", {})
          yield* store.record("r", recs(2))
          expect(yield* store.claim({ owner: "w", limit: 0, leaseMs: 1_000 })).toEqual([])
          expect((yield* store.counts("r")).pending).toBe(2)
        }))

      test("never gives an item to a second owner while its lease is alive", (store) =>
        Effect.gen(function* () {
          yield* store.openRun("r", {})
          yield* store.record("r", recs(5))
          const a = yield* store.claim({ owner: "A", limit: 3, leaseMs: 1_000 })
          const b = yield* store.claim({ owner: "B", limit: 10, leaseMs: 1_000 })
          expect(seqs(a)).toEqual([0, 1, 2])
          expect(seqs(b)).toEqual([3, 4])
          expect(yield* store.claim({ owner: "C", limit: 10, leaseMs: 1_000 })).toEqual([])
        }))

      test("concurrent claimers share the items: every item goes to exactly one owner", (store) =>
        Effect.gen(function* () {
          yield* store.openRun("r", {})
          yield* store.record("r", recs(300))
          const got = yield* drain(store, ["A", "B", "C", "D"], 7, "r")
          const all = [...got.values()].flat()
          expect(all).toHaveLength(300)
          expect(new Set(seqs(all)).size).toBe(300)
          for (const items of got.values()) expect(items.length).toBeGreaterThan(0)
        }))

      test("claims only from the given run, from every run without one", (store) =>
        Effect.gen(function* () {
          yield* store.openRun("r1", {})
          yield* store.openRun("r2", {})
          yield* store.openRun("r3", {})
          yield* store.record("r1", recs(2, "a"))
          yield* store.record("r2", recs(2, "b"))
          yield* store.record("r3", recs(2, "c"))
          const fromR2 = yield* store.claim({ owner: "w", limit: 10, leaseMs: 1_000, run: "r2" })
          expect(fromR2.map((i) => [i.run, i.key])).toEqual([
            ["r2", "b0"],
            ["r2", "b1"]
          ])
          expect(yield* store.claim({ owner: "w", limit: 10, leaseMs: 1_000, run: "r2" })).toEqual([])
          expect(yield* store.claim({ owner: "w", limit: 10, leaseMs: 1_000, run: "unknown" })).toEqual([])
          const rest = yield* store.claim({ owner: "w", limit: 10, leaseMs: 1_000 })
          expect(rest.map((i) => `${i.run}/${i.key}`).sort()).toEqual(["r1/a0", "r1/a1", "r3/c0", "r3/c1"])
          expect(yield* store.counts()).toEqual({ ...emptyCounts, processing: 6 })
        }))

      test("claims only from the listed runs, expired leases included, and nothing from an empty list", (store) =>
        Effect.gen(function* () {
          yield* store.openRun("r1", {})
          yield* store.openRun("r2", {})
          yield* store.openRun("r3", {})
          yield* store.record("r1", recs(2, "a"))
          yield* store.record("r2", recs(2, "b"))
          yield* store.record("r3", recs(2, "c"))
          expect(yield* store.claim({ owner: "w", limit: 10, leaseMs: 1_000, runs: [] })).toEqual([])
          const listed = yield* store.claim({ owner: "w", limit: 10, leaseMs: 1_000, runs: ["r1", "r3", "unknown"] })
          expect(listed.map((i) => `${i.run}/${i.key}`)).toEqual(["r1/a0", "r1/a1", "r3/c0", "r3/c1"])
          // An expired lease in a listed run comes back; the unlisted run stays untouched.
          yield* TestClock.adjust(1_001)
          const again = yield* store.claim({ owner: "v", limit: 10, leaseMs: 1_000, runs: ["r3"] })
          expect(again.map((i) => `${i.run}/${i.key}`)).toEqual(["r3/c0", "r3/c1"])
          expect(yield* store.counts("r2")).toEqual({ ...emptyCounts, pending: 2 })
        }))

      test("deliveries counts every claim of an item", (store) =>
        Effect.gen(function* () {
          yield* store.openRun("r", {})
          yield* store.record("r", recs(1))
          const [first] = yield* store.claim({ owner: "A", limit: 1, leaseMs: 1_000 })
          expect(first?.deliveries).toBe(1)
          yield* store.releaseOwner("A")
          const [second] = yield* store.claim({ owner: "B", limit: 1, leaseMs: 1_000 })
          expect(second?.deliveries).toBe(2)
          yield* TestClock.adjust(1_001)
          const [third] = yield* store.claim({ owner: "C", limit: 1, leaseMs: 1_000 })
          expect(third?.deliveries).toBe(3)
        }))

      test("a release with notBefore in the future hides the item until the clock passes it", (store) =>
        Effect.gen(function* () {
          yield* store.openRun("r", {})
          yield* store.record("r", recs(2))
          const [item] = yield* store.claim({ owner: "A", limit: 1, leaseMs: 10_000 })
          yield* store.release([{ run: "r", seq: item!.seq, owner: "A", notBefore: 5_000, attempts: 0 }])
          expect((yield* store.counts("r")).pending).toBe(2)
          // The other item is still served; the released one is not.
          expect(seqs(yield* store.claim({ owner: "B", limit: 10, leaseMs: 10_000 }))).toEqual([1])
          yield* TestClock.setTime(4_999)
          expect(yield* store.claim({ owner: "B", limit: 10, leaseMs: 10_000 })).toEqual([])
          yield* TestClock.setTime(5_001)
          const later = yield* store.claim({ owner: "B", limit: 10, leaseMs: 10_000 })
          expect(seqs(later)).toEqual([0])
          expect(later[0]?.deliveries).toBe(2)
        }))
    })

    // ---- leases -----------------------------------------------------------------------------------

    describe("leases", () => {
      test("an expired lease makes the item claimable again, not before", (store) =>
        Effect.gen(function* () {
          yield* store.openRun("r", {})
          yield* store.record("r", recs(1))
          expect(yield* store.claim({ owner: "A", limit: 1, leaseMs: 1_000 })).toHaveLength(1)
          yield* TestClock.setTime(999)
          expect(yield* store.claim({ owner: "B", limit: 1, leaseMs: 1_000 })).toEqual([])
          yield* TestClock.setTime(1_001)
          const b = yield* store.claim({ owner: "B", limit: 1, leaseMs: 1_000 })
          expect(b.map((i) => [i.seq, i.deliveries])).toEqual([[0, 2]])
          // B's new lease is alive again.
          expect(yield* store.claim({ owner: "C", limit: 1, leaseMs: 1_000 })).toEqual([])
        }))

      test("a heartbeat extends the owner's leases past their original expiry", (store) =>
        Effect.gen(function* () {
          yield* store.openRun("r", {})
          yield* store.record("r", recs(3))
          yield* store.claim({ owner: "A", limit: 2, leaseMs: 1_000 })
          yield* store.claim({ owner: "X", limit: 1, leaseMs: 1_000 })
          yield* TestClock.setTime(800)
          expect(yield* store.heartbeat("A", 1_000)).toBe(2)
          yield* TestClock.setTime(1_500)
          // A's leases now run to 1800; X's (not renewed) expired at 1000.
          expect(seqs(yield* store.claim({ owner: "B", limit: 10, leaseMs: 1_000 }))).toEqual([2])
          yield* TestClock.setTime(1_801)
          expect(seqs(yield* store.claim({ owner: "B", limit: 10, leaseMs: 1_000 }))).toEqual([0, 1])
          expect(yield* store.heartbeat("nobody", 1_000)).toBe(0)
        }))

      test("reclaimed items come back lowest seq first", (store) =>
        Effect.gen(function* () {
          yield* store.openRun("r", {})
          yield* store.record("r", recs(6))
          // Two crashed workers whose leases end at different times: the later lease holds the lower seqs.
          expect(seqs(yield* store.claim({ owner: "C", limit: 2, leaseMs: 2_000 }))).toEqual([0, 1])
          expect(seqs(yield* store.claim({ owner: "A", limit: 2, leaseMs: 1_000 }))).toEqual([2, 3])
          yield* TestClock.setTime(3_000)
          expect(seqs(yield* store.claim({ owner: "B", limit: 2, leaseMs: 1_000 }))).toEqual([0, 1])
          expect(seqs(yield* store.claim({ owner: "B", limit: 3, leaseMs: 1_000 }))).toEqual([2, 3, 4])
        }))

      test("a late completion by the previous owner is not written; the new owner's is", (store) =>
        Effect.gen(function* () {
          yield* store.openRun("r", {})
          yield* store.record("r", recs(1))
          const [a] = yield* store.claim({ owner: "A", limit: 1, leaseMs: 1_000 })
          yield* TestClock.setTime(1_001)
          const [b] = yield* store.claim({ owner: "B", limit: 1, leaseMs: 1_000 })
          expect(b?.seq).toBe(a?.seq)
          // A wakes up late: its heartbeat, release and completion no longer touch the item.
          expect(yield* store.heartbeat("A", 1_000)).toBe(0)
          yield* store.release([{ run: "r", seq: a!.seq, owner: "A", notBefore: 0, attempts: 1 }])
          expect(yield* store.counts("r")).toEqual({ ...emptyCounts, processing: 1 })
          expect(yield* store.complete([done(a!, "A", Outcome.completed("from A"))])).toEqual([false])
          expect(yield* store.complete([done(b!, "B", Outcome.completed("from B"))])).toEqual([true])
          const [row] = yield* allResults(store, "r")
          expect(row?.status).toBe("completed")
          expect(JSON.parse(row!.outputJson!)).toBe("from B")
        }))

      test("complete reports per completion whether it was written", (store) =>
        Effect.gen(function* () {
          yield* store.openRun("r", {})
          yield* store.record("r", recs(3))
          const [i0, i1] = yield* store.claim({ owner: "A", limit: 2, leaseMs: 1_000 })
          const [i2] = yield* store.claim({ owner: "B", limit: 1, leaseMs: 1_000 })
          const written = yield* store.complete([
            done(i0!, "A", Outcome.completed(0)),
            done(i2!, "A", Outcome.completed(2)),
            done(i1!, "A", Outcome.completed(1))
          ])
          expect(written).toEqual([true, false, true])
          expect((yield* allResults(store, "r")).map((r) => r.status)).toEqual(["completed", "completed", "processing"])
        }))
    })

    // ---- lease fencing ----------------------------------------------------------------------------

    describe("lease fencing", () => {
      /** `owner`'s completion of `item` under the lease token its claim returned. */
      const fenced = (item: Item, owner: string, output: unknown): Completion => ({
        ...done(item, owner, Outcome.completed(output)),
        lease: item.deliveries
      })

      test("a completion under an old lease token is refused, even from the owner that holds the item again", (store) =>
        Effect.gen(function* () {
          yield* store.openRun("r", {})
          yield* store.record("r", recs(1))
          // A is cut off past its lease; B takes the item over and is cut off in turn; A claims it again.
          const [first] = yield* store.claim({ owner: "A", limit: 1, leaseMs: 1_000 })
          yield* TestClock.setTime(1_001)
          const [second] = yield* store.claim({ owner: "B", limit: 1, leaseMs: 1_000 })
          yield* TestClock.setTime(2_002)
          const [third] = yield* store.claim({ owner: "A", limit: 1, leaseMs: 1_000 })
          expect([first, second, third].map((i) => i?.deliveries)).toEqual([1, 2, 3])
          // A's late result from its first delivery carries token 1: refused though A is the owner again.
          expect(yield* store.complete([fenced(first!, "A", "late")])).toEqual([false])
          expect(yield* store.complete([fenced(second!, "B", "late too")])).toEqual([false])
          expect(yield* store.counts("r")).toEqual({ ...emptyCounts, processing: 1 })
          expect(yield* store.complete([fenced(third!, "A", "current")])).toEqual([true])
          const [row] = yield* allResults(store, "r")
          expect(row?.status).toBe("completed")
          expect(JSON.parse(row!.outputJson!)).toBe("current")
          // Written once: a repeat of the accepted completion changes nothing.
          expect(yield* store.complete([fenced(third!, "A", "again")])).toEqual([false])
          expect(JSON.parse((yield* allResults(store, "r"))[0]!.outputJson!)).toBe("current")
        }))

      test("failed and skipped outcomes are fenced too, and a group commit is judged per item", (store) =>
        Effect.gen(function* () {
          yield* store.openRun("r", {})
          yield* store.record("r", recs(3))
          const [a0, a1, a2] = yield* store.claim({ owner: "A", limit: 3, leaseMs: 1_000 })
          yield* TestClock.setTime(1_001)
          // Only item 1 is taken over, then A reclaims it.
          yield* store.heartbeat("A", 1_000, [
            { run: "r", seq: 0, lease: a0!.deliveries },
            { run: "r", seq: 2, lease: a2!.deliveries }
          ])
          const [again] = yield* store.claim({ owner: "A", limit: 1, leaseMs: 1_000 })
          expect(again?.seq).toBe(1)
          const written = yield* store.complete([
            { ...done(a0!, "A", Outcome.failed("Invalid", "no", 1)), lease: a0!.deliveries },
            { ...done(a1!, "A", Outcome.skipped("stale")), lease: a1!.deliveries },
            { ...done(a2!, "A", Outcome.skipped("fine")), lease: a2!.deliveries }
          ])
          expect(written).toEqual([true, false, true])
          expect((yield* allResults(store, "r")).map((r) => r.status)).toEqual(["failed", "processing", "skipped"])
        }))

      test("a release under an old lease token leaves the current delivery alone", (store) =>
        Effect.gen(function* () {
          yield* store.openRun("r", {})
          yield* store.record("r", recs(1))
          const [first] = yield* store.claim({ owner: "A", limit: 1, leaseMs: 1_000 })
          yield* TestClock.setTime(1_001)
          const [second] = yield* store.claim({ owner: "A", limit: 1, leaseMs: 1_000 })
          yield* store.release([{ run: "r", seq: 0, owner: "A", notBefore: 0, attempts: 1, lease: first!.deliveries }])
          expect(yield* store.counts("r")).toEqual({ ...emptyCounts, processing: 1 })
          yield* store.release([{ run: "r", seq: 0, owner: "A", notBefore: 0, attempts: 1, lease: second!.deliveries }])
          expect(yield* store.counts("r")).toEqual({ ...emptyCounts, pending: 1 })
        }))

      test("a heartbeat given the held leases renews only those, under their token", (store) =>
        Effect.gen(function* () {
          yield* store.openRun("r", {})
          yield* store.record("r", recs(3))
          // A holds 0 and 1; its claim of 2 was lost with the connection, so A does not list it.
          const held = yield* store.claim({ owner: "A", limit: 2, leaseMs: 1_000 })
          yield* store.claim({ owner: "A", limit: 1, leaseMs: 1_000 })
          yield* TestClock.setTime(800)
          const leases = held.map((i) => ({ run: i.run, seq: i.seq, lease: i.deliveries }))
          expect(yield* store.heartbeat("A", 1_000, leases)).toBe(2)
          expect(yield* store.heartbeat("A", 1_000, [])).toBe(0)
          // A stale token renews nothing.
          expect(yield* store.heartbeat("A", 1_000, [{ run: "r", seq: 0, lease: 99 }])).toBe(0)
          yield* TestClock.setTime(1_500)
          // The unlisted lease expired at 1000 and goes to B; A's listed ones run to 1800.
          expect(seqs(yield* store.claim({ owner: "B", limit: 10, leaseMs: 1_000 }))).toEqual([2])
          yield* TestClock.setTime(1_801)
          expect(seqs(yield* store.claim({ owner: "B", limit: 10, leaseMs: 1_000 }))).toEqual([0, 1])
        }))
    })

    // ---- workers ----------------------------------------------------------------------------------

    describe("workers", () => {
      const beat = (owner: string, startedAt: number, leaseMs = 1_000) => ({
        owner,
        host: "h1",
        pid: 42,
        concurrency: 8,
        leaseMs,
        startedAt
      })

      test("lists the workers heard from within their lease, with their last heartbeat and what they hold", (store) =>
        Effect.gen(function* () {
          expect(yield* store.workers).toEqual([])
          yield* store.openRun("r", {})
          yield* store.record("r", recs(5))
          yield* TestClock.setTime(100)
          yield* store.announce(beat("A", 100))
          yield* TestClock.setTime(200)
          yield* store.announce(beat("B", 200, 5_000))
          yield* store.claim({ owner: "A", limit: 3, leaseMs: 1_000 })
          yield* TestClock.setTime(900)
          yield* store.announce(beat("A", 100))
          expect(yield* store.workers).toEqual([
            { ...beat("A", 100), seenAt: 900, holding: 3 },
            { ...beat("B", 200, 5_000), seenAt: 200, holding: 0 }
          ])
          // A is not heard from again: gone once its lease length has passed. B's lease is longer.
          yield* TestClock.setTime(1_901)
          expect((yield* store.workers).map((w) => w.owner)).toEqual(["B"])
          yield* store.retire("B")
          expect(yield* store.workers).toEqual([])
        }))
    })

    // ---- complete ---------------------------------------------------------------------------------

    describe("complete", () => {
      test("writes outcomes with their statuses; outputs round-trip as JSON", (store) =>
        Effect.gen(function* () {
          yield* store.openRun("r", {})
          yield* store.record("r", recs(7))
          const items = yield* store.claim({ owner: "w", limit: 10, leaseMs: 1_000 })
          const object = { label: "offer", items: [{ sku: "A-1", qty: 2 }], note: 'ünïcode "quoted"', ok: true }
          const outcomes: Array<Outcome.Outcome> = [
            Outcome.completed(object),
            Outcome.completed("just text"),
            Outcome.completed(42.5),
            Outcome.completed(null),
            Outcome.skipped("not an offer request"),
            Outcome.failed("Transient", "upstream timed out after 30s", 3),
            Outcome.completed([1, "two", false])
          ]
          const written = yield* store.complete(
            items.map((item, i) => done(item, "w", outcomes[i]!, i === 5 ? 3 : 1, 100 + i))
          )
          expect(written).toEqual(items.map(() => true))
          const rows = yield* allResults(store, "r")
          expect(rows.map((r) => r.status)).toEqual([
            "completed",
            "completed",
            "completed",
            "completed",
            "skipped",
            "failed",
            "completed"
          ])
          expect(JSON.parse(rows[0]!.outputJson!)).toEqual(object)
          expect(JSON.parse(rows[1]!.outputJson!)).toBe("just text")
          expect(JSON.parse(rows[2]!.outputJson!)).toBe(42.5)
          expect(rows[3]!.outputJson).not.toBeNull()
          expect(JSON.parse(rows[3]!.outputJson!)).toBeNull()
          expect(JSON.parse(rows[6]!.outputJson!)).toEqual([1, "two", false])
          expect(rows[4]).toMatchObject({ outputJson: null, errorMessage: "not an offer request" })
          expect(rows[5]).toMatchObject({
            outputJson: null,
            errorTag: "Transient",
            errorMessage: "upstream timed out after 30s",
            attempts: 3
          })
          expect(rows[0]).toMatchObject({ errorTag: null, errorMessage: null, attempts: 1 })
          expect(yield* store.counts("r")).toEqual({ ...emptyCounts, completed: 5, skipped: 1, failed: 1 })
        }))

      test("a finished item is never claimable again, even after its lease would have expired", (store) =>
        Effect.gen(function* () {
          yield* store.openRun("r", {})
          yield* store.record("r", recs(3))
          const items = yield* store.claim({ owner: "w", limit: 3, leaseMs: 1_000 })
          yield* store.complete([
            done(items[0]!, "w", Outcome.completed("x")),
            done(items[1]!, "w", Outcome.skipped("no")),
            done(items[2]!, "w", Outcome.failed("Invalid", "bad", 1))
          ])
          yield* TestClock.setTime(60_000)
          expect(yield* store.claim({ owner: "other", limit: 10, leaseMs: 1_000 })).toEqual([])
          expect(yield* store.releaseOwner("w")).toBe(0)
          // A second completion of a finished item is refused.
          expect(yield* store.complete([done(items[0]!, "w", Outcome.completed("again"))])).toEqual([false])
          expect(JSON.parse((yield* allResults(store, "r"))[0]!.outputJson!)).toBe("x")
        }))

      test("attempts add up across deliveries", (store) =>
        Effect.gen(function* () {
          yield* store.openRun("r", {})
          yield* store.record("r", recs(1))
          const [first] = yield* store.claim({ owner: "A", limit: 1, leaseMs: 1_000 })
          expect(first?.attempts).toBe(0)
          yield* store.release([{ run: "r", seq: 0, owner: "A", notBefore: 0, attempts: 2 }])
          const [second] = yield* store.claim({ owner: "B", limit: 1, leaseMs: 1_000 })
          expect(second?.attempts).toBe(2)
          expect(yield* store.complete([done(second!, "B", Outcome.failed("Transient", "503", 5), 3, 10)])).toEqual([
            true
          ])
          const [row] = yield* allResults(store, "r")
          expect(row).toMatchObject({ status: "failed", errorTag: "Transient", errorMessage: "503", attempts: 5 })
        }))

      test("counts per status, per run and for all runs", (store) =>
        Effect.gen(function* () {
          yield* store.openRun("a", {})
          yield* store.openRun("b", {})
          yield* store.record("a", recs(5))
          yield* store.record("b", recs(2))
          const items = yield* store.claim({ owner: "w", limit: 4, leaseMs: 1_000, run: "a" })
          yield* store.complete([
            done(items[0]!, "w", Outcome.completed(1)),
            done(items[1]!, "w", Outcome.skipped("s")),
            done(items[2]!, "w", Outcome.failed("Invalid", "f", 1))
          ])
          expect(yield* store.counts("a")).toEqual({ pending: 1, processing: 1, completed: 1, skipped: 1, failed: 1 })
          expect(yield* store.counts("b")).toEqual({ ...emptyCounts, pending: 2 })
          expect(yield* store.counts()).toEqual({ pending: 3, processing: 1, completed: 1, skipped: 1, failed: 1 })
          expect(yield* store.counts("unknown")).toEqual(emptyCounts)
        }))
    })

    // ---- release, retry ---------------------------------------------------------------------------

    describe("release and retry", () => {
      test("release returns items to pending for anyone to claim", (store) =>
        Effect.gen(function* () {
          yield* store.openRun("r", {})
          yield* store.record("r", recs(3))
          const items = yield* store.claim({ owner: "A", limit: 3, leaseMs: 60_000 })
          yield* store.release([
            { run: "r", seq: items[0]!.seq, owner: "A", notBefore: 0, attempts: 0 },
            { run: "r", seq: items[2]!.seq, owner: "A", notBefore: 0, attempts: 1 }
          ])
          expect(yield* store.counts("r")).toEqual({ ...emptyCounts, pending: 2, processing: 1 })
          const b = yield* store.claim({ owner: "B", limit: 10, leaseMs: 60_000 })
          expect(b.map((i) => [i.seq, i.attempts])).toEqual([
            [0, 0],
            [2, 1]
          ])
        }))

      test("releaseOwner hands back every lease of that owner only", (store) =>
        Effect.gen(function* () {
          yield* store.openRun("r", {})
          yield* store.record("r", recs(5))
          yield* store.claim({ owner: "A", limit: 3, leaseMs: 60_000 })
          const [b] = yield* store.claim({ owner: "B", limit: 1, leaseMs: 60_000 })
          expect(yield* store.releaseOwner("A")).toBe(3)
          expect(yield* store.counts("r")).toEqual({ ...emptyCounts, pending: 4, processing: 1 })
          expect(yield* store.releaseOwner("A")).toBe(0)
          expect(seqs(yield* store.claim({ owner: "C", limit: 10, leaseMs: 60_000 }))).toEqual([0, 1, 2, 4])
          // B's lease was left alone.
          expect(yield* store.complete([done(b!, "B", Outcome.completed(3))])).toEqual([true])
        }))

      test("retryFailed re-queues failed items but not unreadable lines, per run or for all", (store) =>
        Effect.gen(function* () {
          yield* store.openRun("r1", {})
          yield* store.openRun("r2", {})
          yield* store.record("r1", [
            rec("a", 0, { v: "a" }),
            SourceRecord.malformed("bad", 2, "not JSON", 1),
            rec("c", 2),
            rec("d", 3)
          ])
          yield* store.record("r2", [rec("e", 0)])
          const items = yield* store.claim({ owner: "w", limit: 10, leaseMs: 1_000 })
          const byKey = (k: string) => items.find((i) => i.key === k)!
          yield* store.complete([
            done(byKey("a"), "w", Outcome.failed("Invalid", "schema", 1)),
            done(byKey("c"), "w", Outcome.completed("fine")),
            done(byKey("d"), "w", Outcome.skipped("skip")),
            done(byKey("e"), "w", Outcome.failed("Transient", "gave up", 4))
          ])

          expect(yield* store.retryFailed("r1")).toBe(1)
          expect(yield* store.counts("r1")).toEqual({ ...emptyCounts, pending: 1, completed: 1, skipped: 1, failed: 1 })
          expect(yield* store.counts("r2")).toEqual({ ...emptyCounts, failed: 1 })
          const retried = yield* store.claim({ owner: "w2", limit: 10, leaseMs: 1_000 })
          expect(retried.map((i) => [i.run, i.key, i.deliveries])).toEqual([["r1", "a", 2]])
          expect(retried[0]?.payload).toEqual({ v: "a" })
          expect(yield* store.complete([done(retried[0]!, "w2", Outcome.completed("second time"))])).toEqual([true])
          const a = (yield* allResults(store, "r1"))[0]!
          expect(a).toMatchObject({ status: "completed", errorTag: null, errorMessage: null })
          expect(JSON.parse(a.outputJson!)).toBe("second time")

          // Every run: only r2's item is left to retry; the malformed line stays failed.
          expect(yield* store.retryFailed()).toBe(1)
          expect(yield* store.counts()).toEqual({ ...emptyCounts, pending: 1, completed: 2, skipped: 1, failed: 1 })
          expect(yield* store.retryFailed()).toBe(0)
          const [row1] = (yield* allResults(store, "r1")).filter((r) => r.status === "failed")
          expect(row1?.errorMessage).toContain("line 2")
        }))

      test("failures page and filter by tag with line numbers; retryFailed(run, tag) re-queues only that tag", (store) =>
        Effect.gen(function* () {
          yield* store.openRun("r", {})
          yield* store.openRun("other", {})
          yield* store.record("r", [
            rec("a", 0),
            SourceRecord.malformed("2", 2, "expected 3 fields, found 4", 1),
            rec("c", 2),
            rec("d", 3),
            rec("e", 4)
          ])
          yield* store.record("other", [rec("x", 0)])
          const items = yield* store.claim({ owner: "w", limit: 10, leaseMs: 1_000 })
          const byKey = (k: string) => items.find((i) => i.key === k)!
          yield* store.complete([
            done(byKey("a"), "w", Outcome.failed("Invalid", "bad answer", 1), 1, 1_000),
            done(byKey("c"), "w", Outcome.failed("Transient", "timeout", 5), 5, 2_500),
            done(byKey("d"), "w", Outcome.completed("ok"), 1, 2_600),
            done(byKey("e"), "w", Outcome.failed("Invalid", "bad answer", 1), 1, 4_100),
            done(byKey("x"), "w", Outcome.failed("Invalid", "elsewhere", 1), 1, 1_000)
          ])

          const all = yield* store.failures("r", { afterSeq: -1, limit: 10 })
          expect(all.map((f) => [f.seq, f.key, f.line, f.errorTag, f.attempts, f.retryable])).toEqual([
            [0, "a", 1, "Invalid", 1, true],
            [1, "2", 2, "Invalid", 0, false],
            [2, "c", 3, "Transient", 5, true],
            [4, "e", 5, "Invalid", 1, true]
          ])
          expect(all[1]?.errorMessage).toBe("line 2: expected 3 fields, found 4")
          const page = yield* store.failures("r", { tag: "Invalid", afterSeq: 0, limit: 1 })
          expect(page.map((f) => f.seq)).toEqual([1])
          expect(yield* store.failures("nope", { afterSeq: -1, limit: 10 })).toEqual([])
          expect(yield* store.failureTags("r")).toEqual([
            { tag: "Invalid", count: 3, retryable: 2 },
            { tag: "Transient", count: 1, retryable: 1 }
          ])

          const buckets = yield* store.finishedOverTime("r", 1_000)
          // The unreadable line finished when it was recorded (time 0 here).
          expect(buckets).toEqual([
            { atMs: 0, finished: 1 },
            { atMs: 1_000, finished: 1 },
            { atMs: 2_000, finished: 2 },
            { atMs: 4_000, finished: 1 }
          ])

          expect(yield* store.retryFailed("r", "Transient")).toBe(1)
          expect(yield* store.counts("r")).toEqual({ ...emptyCounts, pending: 1, completed: 1, failed: 3 })
          expect(yield* store.retryFailed("r", "Invalid")).toBe(2)
          expect(yield* store.counts("r")).toEqual({ ...emptyCounts, pending: 3, completed: 1, failed: 1 })
          expect(yield* store.counts("other")).toEqual({ ...emptyCounts, failed: 1 })
        }))
    })

    // ---- reading ----------------------------------------------------------------------------------

    describe("results and errors", () => {
      test("results are in seq order and page with afterSeq (exclusive) and limit", (store) =>
        Effect.gen(function* () {
          yield* store.openRun("r", {})
          const records = recs(10)
          yield* store.record("r", [...records.slice(5), ...records.slice(0, 5)])
          const page1 = yield* store.results("r", { afterSeq: -1, limit: 4 })
          expect(seqs(page1)).toEqual([0, 1, 2, 3])
          expect(keys(page1)).toEqual(["k0", "k1", "k2", "k3"])
          expect(seqs(yield* store.results("r", { afterSeq: 3, limit: 4 }))).toEqual([4, 5, 6, 7])
          expect(seqs(yield* store.results("r", { afterSeq: 7, limit: 4 }))).toEqual([8, 9])
          expect(yield* store.results("r", { afterSeq: 9, limit: 4 })).toEqual([])
          expect(yield* store.results("unknown", { afterSeq: -1, limit: 4 })).toEqual([])
          expect(page1[0]).toEqual({
            seq: 0,
            key: "k0",
            status: "pending",
            outputJson: null,
            errorTag: null,
            errorMessage: null,
            attempts: 0
          })
        }))

      test("results of one run never include another run's items", (store) =>
        Effect.gen(function* () {
          yield* store.openRun("a", {})
          yield* store.openRun("b", {})
          yield* store.record("a", recs(3, "a"))
          yield* store.record("b", recs(2, "b"))
          yield* store.record("a", [rec("a-late")])
          expect(keys(yield* allResults(store, "a"))).toEqual(["a0", "a1", "a2", "a-late"])
          expect(keys(yield* allResults(store, "b"))).toEqual(["b0", "b1"])
        }))

      test("lastErrors lists failed items newest first, with their runs", (store) =>
        Effect.gen(function* () {
          yield* store.openRun("r1", {})
          yield* store.openRun("r2", {})
          yield* store.record("r1", recs(3, "x"))
          yield* store.record("r2", recs(1, "y"))
          const items = yield* store.claim({ owner: "w", limit: 10, leaseMs: 1_000 })
          const find = (run: string, key: string) => items.find((i) => i.run === run && i.key === key)!
          yield* store.complete([
            done(find("r1", "x0"), "w", Outcome.failed("Invalid", "first", 1), 1, 100),
            done(find("r2", "y0"), "w", Outcome.failed("Transient", "third", 2), 2, 300),
            done(find("r1", "x1"), "w", Outcome.failed("Invalid", "second", 1), 1, 200),
            done(find("r1", "x2"), "w", Outcome.completed("ok"), 1, 400)
          ])
          const all = yield* store.lastErrors(undefined, 10)
          expect(all.map((e) => [e.run, e.key, e.errorMessage])).toEqual([
            ["r2", "y0", "third"],
            ["r1", "x1", "second"],
            ["r1", "x0", "first"]
          ])
          expect(all[0]).toEqual({
            run: "r2",
            seq: 0,
            key: "y0",
            errorTag: "Transient",
            errorMessage: "third",
            attempts: 2,
            finishedAt: 300
          })
          expect((yield* store.lastErrors("r1", 10)).map((e) => e.errorMessage)).toEqual(["second", "first"])
          expect((yield* store.lastErrors(undefined, 1)).map((e) => e.errorMessage)).toEqual(["third"])
          expect(yield* store.lastErrors("r2", 0)).toEqual([])
        }))
    })

    // ---- metrics ----------------------------------------------------------------------------------

    describe("metrics", () => {
      test("addMetrics sums every field but sets concurrency; metrics reads them back per run", (store) =>
        Effect.gen(function* () {
          yield* store.openRun("r", {})
          yield* store.openRun("other", {})
          expect(yield* store.metrics("r")).toEqual(emptyMetrics)
          const first: RunMetrics = {
            concurrency: 8,
            durationMs: 1_500.5,
            itemMs: 300.25,
            itemsTimed: 3,
            rateLimitHits: 1,
            admissionWaitMs: 12.5,
            retries: 2,
            circuitTrips: 1,
            cacheHits: 4,
            cacheMisses: 5,
            tokensIn: 1_000,
            tokensOut: 250,
            costUsd: 0.5
          }
          const second: Partial<RunMetrics> = { concurrency: 4, tokensIn: 24, retries: 1, costUsd: 0.25, itemMs: 0.5 }
          yield* store.addMetrics("r", first)
          yield* store.addMetrics("r", second)
          yield* store.addMetrics("r", {})
          const expected = addMetrics(addMetrics(emptyMetrics, first), second)
          expect(expected.concurrency).toBe(4)
          expect(yield* store.metrics("r")).toEqual(expected)
          expect(yield* store.metrics("other")).toEqual(emptyMetrics)
          // A delta without concurrency keeps the last one.
          yield* store.addMetrics("r", { tokensOut: 1 })
          expect(yield* store.metrics("r")).toEqual({ ...expected, tokensOut: 251 })
        }))
    })

    test("ping answers true", (store) =>
      Effect.gen(function* () {
        expect(yield* store.ping).toBe(true)
        expect(store.location.length).toBeGreaterThan(0)
      }))
  })
