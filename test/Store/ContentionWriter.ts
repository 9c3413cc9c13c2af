/**
 * One writer process of the SQLite contention test (`SqliteContention.test.ts`): run as
 * `node --import tsx ContentionWriter.ts <db> <wave> <index> <rounds> <go-file>`.
 *
 * It prints `ready` once its modules are loaded, waits for the go file (so every writer opens the
 * database at the same moment: preflight and migrations race too), then loops record → claim →
 * heartbeat → complete on its own connection, and prints one JSON line of what it did. Any failure
 * or defect exits 1 with the cause on stderr.
 */
import { Cause, Duration, Effect, Exit, Schedule } from "effect"
import * as fs from "node:fs"
import { SourceRecord } from "../../src/Domain/Item.js"
import * as Outcome from "../../src/Domain/Outcome.js"
import * as SqliteStore from "../../src/Store/SqliteStore.js"

const [db, wave, indexArg, roundsArg, goFile] = process.argv.slice(2)
if (
  db === undefined ||
  wave === undefined ||
  indexArg === undefined ||
  roundsArg === undefined ||
  goFile === undefined
) {
  process.stderr.write("usage: ContentionWriter.ts <db> <wave> <index> <rounds> <go-file>\n")
  process.exit(2)
}
const index = Number(indexArg)
const rounds = Number(roundsArg)
const owner = `wave${wave}-writer${index}`
const RUN = "contention"
/** Per round: keys every writer records (only one insert wins) and keys of this writer alone. */
const SHARED = 10
const OWN = 10

const program = Effect.gen(function* () {
  yield* Effect.sync(() => fs.existsSync(goFile)).pipe(
    Effect.repeat({ schedule: Schedule.spaced("5 millis"), until: (go) => go })
  )
  const started = Date.now()
  let slowestMs = 0
  const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.map(Effect.timed(effect), ([d, a]) => {
      slowestMs = Math.max(slowestMs, Duration.toMillis(d))
      return a
    })
  const store = yield* timed(SqliteStore.make({ filename: db }))
  yield* timed(store.openRun(RUN, { writers: "many" }))
  let inserted = 0
  let claimed = 0
  let completed = 0
  for (let round = 0; round < rounds; round++) {
    const records = [
      ...Array.from({ length: SHARED }, (_, j) => SourceRecord.record(`wave${wave}-shared${round}-${j}`, { round, j })),
      ...Array.from({ length: OWN }, (_, j) => SourceRecord.record(`${owner}-${round}-${j}`, { owner, round, j }))
    ]
    inserted += (yield* timed(store.record(RUN, records))).inserted
    const items = yield* timed(store.claim({ owner, limit: 15, leaseMs: 600_000, run: RUN }))
    claimed += items.length
    yield* timed(store.heartbeat(owner, 600_000))
    const now = Date.now()
    const accepted = yield* timed(
      store.complete(
        items.map((item) => ({
          run: RUN,
          seq: item.seq,
          owner,
          outcome: Outcome.completed({ by: owner, key: item.key }),
          attempts: 1,
          startedAt: now,
          finishedAt: now
        }))
      )
    )
    completed += accepted.filter((ok) => ok).length
  }
  return { inserted, claimed, completed, ms: Date.now() - started, slowestMs: Math.round(slowestMs) }
})

process.stdout.write("ready\n")
Effect.runPromiseExit(Effect.scoped(program)).then((exit) => {
  if (Exit.isSuccess(exit)) {
    process.stdout.write(`${JSON.stringify(exit.value)}\n`)
    process.exit(0)
  }
  process.stderr.write(`${owner}: ${Cause.pretty(exit.cause)}\n`)
  process.exit(1)
})
