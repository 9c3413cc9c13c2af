/**
 * The SQLite store while another connection holds the write lock longer than the busy timeout: every
 * write waits until the lock is free and then succeeds. Before `SqliteTransaction.ts`, a transaction
 * that met SQLITE_BUSY died with "cannot rollback - no transaction is active" (a defect that ended
 * `sluice worker` processes), and opening a new file failed.
 *
 * The other connection is plain better-sqlite3 holding `BEGIN IMMEDIATE`; the store's busy timeout is
 * 20 ms, so each wait below is the store's own retry, not SQLite's. Real time, a few hundred ms each.
 */
import { describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Effect, Fiber, Option } from "effect"
import * as path from "node:path"
import * as SqliteStore from "../../src/Store/SqliteStore.js"
import { tempDir } from "../support/Temp.js"
import { completed, recs } from "./Fixtures.js"

const HOLD = "300 millis"

/** Another connection on `file`, holding the write lock until `release`. */
const lockHolder = (file: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const db = new Database(file)
      db.pragma("journal_mode = WAL")
      return db
    }),
    (db) => Effect.sync(() => (db.inTransaction && db.exec("ROLLBACK"), db.close()))
  ).pipe(
    Effect.map((db) => ({
      lock: Effect.sync(() => db.exec("BEGIN IMMEDIATE")),
      release: Effect.sync(() => db.exec("COMMIT"))
    }))
  )

/** Runs `write` while the lock is held: it must still be waiting after HOLD, and succeed once released. */
const waitsOut = <A, E, R>(
  holder: Effect.Effect.Success<ReturnType<typeof lockHolder>>,
  write: Effect.Effect<A, E, R>
) =>
  Effect.gen(function* () {
    yield* holder.lock
    const fiber = yield* Effect.fork(write)
    yield* Effect.sleep(HOLD)
    const early = yield* Fiber.poll(fiber)
    expect(Option.isNone(early), `it ended while the lock was held: ${Option.map(early, String)}`).toBe(true)
    yield* holder.release
    return yield* Fiber.join(fiber)
  })

describe("SqliteStore while another connection holds the write lock (real time)", () => {
  it.scopedLive("opening a new file waits for the lock, then migrates", () =>
    Effect.gen(function* () {
      const file = path.join(yield* tempDir(), "new.db")
      const holder = yield* lockHolder(file)
      const store = yield* waitsOut(holder, SqliteStore.make({ filename: file, busyTimeoutMs: 20 }))
      expect((yield* store.openRun("r", {})).id).toBe("r")
    })
  )

  it.scopedLive("record, claim, heartbeat and complete each wait for the lock, then succeed", () =>
    Effect.gen(function* () {
      const file = path.join(yield* tempDir(), "busy.db")
      const store = yield* SqliteStore.make({ filename: file, busyTimeoutMs: 20 })
      yield* store.openRun("r", {})
      const holder = yield* lockHolder(file)

      expect((yield* waitsOut(holder, store.record("r", recs(5)))).inserted).toBe(5)
      const items = yield* waitsOut(holder, store.claim({ owner: "w", limit: 5, leaseMs: 60_000, run: "r" }))
      expect(items.map((i) => i.key)).toEqual(["k0", "k1", "k2", "k3", "k4"])
      expect(yield* waitsOut(holder, store.heartbeat("w", 60_000))).toBe(5)
      const accepted = yield* waitsOut(
        holder,
        store.complete(items.map((item) => completed(item, "w", { ok: item.key })))
      )
      expect(accepted).toEqual([true, true, true, true, true])
      expect(yield* store.counts("r")).toMatchObject({ pending: 0, processing: 0, completed: 5 })
    })
  )
})
