/**
 * How many workers one PostgreSQL carries: the claim and complete statements per second the database
 * itself executes, measured at the database (`pg_stat_database.xact_commit`), when `W` simulated
 * workers do nothing but claim `B` items and complete them, as fast as the database lets them.
 *
 *   npx tsx bench/dbceiling.ts            # a throwaway PostgreSQL on loopback (as the tests start one)
 *
 * Every worker is a PgStore of its own (its own pool of 2 connections), as separate processes would
 * be. The processor is free, so the database is the only limit; a real worker spends most of its time
 * waiting on its upstream and asks far less of the database (see the README, "Running on several
 * machines").
 */
import { Context, Effect, Layer, Redacted } from "effect"
import { SourceRecord } from "../src/Domain/Item.js"
import * as Outcome from "../src/Domain/Outcome.js"
import * as PgStore from "../src/Store/PgStore.js"
import { Store } from "../src/Store/Store.js"
import * as Postgres from "../test/support/Postgres.js"
import { provision } from "../test/support/PostgresBinaries.js"

const SECONDS = Number(process.env["SECONDS_PER_CASE"] ?? 10)
const CASES: ReadonlyArray<{ readonly workers: number; readonly batch: number }> = [
  { workers: 1, batch: 1 },
  { workers: 8, batch: 1 },
  { workers: 32, batch: 1 },
  // A `sluice worker --concurrency 16` claims at least 4 at a time.
  { workers: 8, batch: 4 },
  { workers: 32, batch: 4 },
  { workers: 8, batch: 16 },
  { workers: 32, batch: 16 }
]

const main = Effect.gen(function* () {
  // Outside vitest the server's binaries are found here (the system's, else npm's), as bench/fleet.ts does.
  const binaries = yield* Effect.promise(() => provision())
  if ("missing" in binaries) return yield* Effect.die(new Error(binaries.missing))
  const pg = yield* Effect.acquireRelease(
    Effect.promise(() => Postgres.start(binaries.bin)),
    (server) => Effect.promise(() => server.stop())
  )
  yield* Effect.promise(() => pg.createDatabase("ceiling"))
  const commits = () =>
    Effect.promise(() => pg.psql("ceiling", "SELECT xact_commit FROM pg_stat_database WHERE datname = 'ceiling'")).pipe(
      Effect.map((s) => Number(s.trim()))
    )
  console.log(`PostgreSQL ${pg.version} on loopback; ${SECONDS} s per case; each worker its own pool of 2`)
  console.log("workers  batch   statements/s (at the db)   claims/s  completes/s   items/s")
  for (const [i, c] of CASES.entries()) yield* Effect.scoped(runCase(c, i + 1))
  function runCase(c: (typeof CASES)[number], n: number) {
    return Effect.gen(function* () {
      const schema = `ceiling${n}`
      const url = Redacted.make(pg.url("ceiling"))
      const stores = yield* Effect.forEach(Array.from({ length: c.workers }), () =>
        Effect.map(Layer.build(PgStore.layer({ url, schema, maxConnections: 2 })), Context.get(Store))
      )
      const setup = stores[0]!
      yield* setup.openRun("r", {})
      // Enough items that nobody runs dry within the case.
      const total = 100_000
      for (let from = 0; from < total; from += 20_000) {
        yield* setup.record(
          "r",
          Array.from({ length: 20_000 }, (_, i) => SourceRecord.record(`k${from + i}`, { i: from + i }, from + i))
        )
      }
      yield* Effect.promise(() => pg.psql("ceiling", `ANALYZE ${schema}.items`))
      let claims = 0
      let completes = 0
      let items = 0
      const before = yield* commits()
      const started = Date.now()
      const deadline = started + SECONDS * 1000
      yield* Effect.forEach(
        stores,
        (store, w) =>
          Effect.gen(function* () {
            const owner = `w${w}`
            while (Date.now() < deadline) {
              const got = yield* store.claim({ owner, limit: c.batch, leaseMs: 60_000, run: "r" })
              claims++
              if (got.length === 0) return
              yield* store.complete(
                got.map((item) => ({
                  run: item.run,
                  seq: item.seq,
                  owner,
                  outcome: Outcome.completed({ ok: item.seq }),
                  attempts: 1,
                  startedAt: 0,
                  finishedAt: 0,
                  lease: item.deliveries
                }))
              )
              completes++
              items += got.length
            }
          }),
        { concurrency: "unbounded", discard: true }
      )
      const seconds = (Date.now() - started) / 1000
      const atDb = ((yield* commits()) - before) / seconds
      console.log(
        `${String(c.workers).padStart(7)}  ${String(c.batch).padStart(5)}   ${atDb.toFixed(0).padStart(24)}   ${(claims / seconds).toFixed(0).padStart(8)}  ${(completes / seconds).toFixed(0).padStart(11)}  ${(items / seconds).toFixed(0).padStart(8)}`
      )
    })
  }
})

Effect.runPromise(Effect.scoped(main)).then(
  () => process.exit(0),
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
