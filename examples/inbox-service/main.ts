/**
 * `npm run example:inbox`: the inbox service (case 5) with nothing to configure.
 *
 * Starts a throwaway Dovecot holding 1,000 unseen mails and the LLM simulator playing a model that
 * sorts and summarises mail, then two `sluice serve --imap …` processes on one SQLite file. Both poll
 * the mailbox and both work the queue; the database is the only thing they share. It follows the
 * queue with `sluice status` until every mail is done and marked read, prints who did what and
 * whether any mail went to the model twice, and stops both with SIGTERM. Needs `dovecot` (see
 * ../offer-desk/dovecot.ts for the install line).
 */
import { NodeRuntime } from "@effect/platform-node"
import { Cause, Effect, Option, Redacted } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Simulator } from "sluice/simulator"
import * as Dovecot from "../offer-desk/dovecot.js"
import * as Mails from "./mails.js"
import * as Model from "./model.js"
import * as Inbox from "./program.js"

const N = 1000
const print = (line: string) => Effect.sync(() => process.stdout.write(`${line}\n`))

const main = Effect.gen(function* () {
  yield* Inbox.ensureBuilt
  const dovecot = yield* Dovecot.start()
  const seededAt = Date.now()
  yield* dovecot.append(Mails.mails(N).map(Mails.toRfc822))
  yield* print(
    `Dovecot on 127.0.0.1:${dovecot.port} (ready in ${dovecot.startedInMs} ms); ${N} unseen mails appended in ${Date.now() - seededAt} ms`
  )
  const simulator = yield* Simulator.make({ responder: Model.responder, latencyMs: 80, seed: 5 })
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "inbox-service-"))),
    (d) => Effect.sync(() => fs.rmSync(d, { recursive: true, force: true }))
  )
  const db = path.join(dir, "inbox.db")
  const prompt = path.join(dir, "prompt.txt")
  fs.writeFileSync(prompt, Model.system)

  const common = {
    db,
    imap: `imap://${dovecot.user}@127.0.0.1:${dovecot.port}/INBOX`,
    password: Redacted.value(dovecot.password),
    baseUrl: simulator.url,
    prompt,
    concurrency: 8,
    lease: 30,
    imapPoll: 2
  }
  const startedAt = Date.now()
  // The second joins once the first is up (two processes creating one new database at once can
  // trip over each other: a known SqliteStore issue).
  const a = yield* Inbox.start({ ...common, name: "A" })
  const b = yield* Inbox.start({ ...common, name: "B" })
  yield* print(`instance A on ${a.url}, instance B on ${b.url}; one database: ${db}\n`)

  // Follow the run over HTTP (cheap), and show the queue as an operator sees it, with `sluice status`.
  const finishedOf = (v: Inbox.RunView) => v.counts.completed + v.counts.skipped + v.counts.failed
  yield* Inbox.waitUntil(Inbox.runView(a), (v) => finishedOf(v) >= N / 3, "5 minutes", `${N / 3} mails done`)
  const mid = yield* Inbox.status(db)
  yield* print(`sluice status --db inbox.db, mid-stream:\n${mid.text}\n`)
  yield* Inbox.waitUntil(
    Inbox.runView(a),
    (v) => finishedOf(v) >= N && v.counts.pending + v.counts.processing === 0,
    "5 minutes",
    `all ${N} mails to be done`
  )
  const doneMs = Date.now() - startedAt
  const finished = yield* Inbox.status(db)
  yield* print(`sluice status --db inbox.db, at the end:\n${finished.text}\n`)
  const seen = yield* Inbox.waitUntil(
    Effect.map(dovecot.messages, (ms) => ms.filter((m) => m.seen).length),
    (n) => n >= finished.counts.completed,
    "1 minute",
    "completed mails to be marked read"
  )

  const [byA, byB] = yield* Effect.all([Inbox.outcomes(a), Inbox.outcomes(b)])
  const log = yield* simulator.log
  const answered = Inbox.answersPerContent(log)
  const dup = Inbox.duplicates(log)
  const view = yield* Inbox.runView(a)
  const exits = yield* Effect.all([Inbox.stop(a), Inbox.stop(b)], { concurrency: 2 })

  const categories = new Map<string, number>()
  for (const e of log) {
    const answer = Model.responder({ model: e.model, messages: [{ role: "user", content: e.content }], maxTokens: 200 })
    const c = (JSON.parse(answer) as Model.Answer).category
    categories.set(c, (categories.get(c) ?? 0) + 1)
  }
  yield* print(`Summary (${N} mails, two instances, one SQLite file):`)
  yield* print(`  instance A processed ${byA["completed"]} (failed ${byA["failed"]})`)
  yield* print(`  instance B processed ${byB["completed"]} (failed ${byB["failed"]})`)
  yield* print(
    `  total: ${view.counts.completed} completed, ${view.counts.failed} failed, ${view.counts.skipped} skipped of ${view.total} recorded, in ${(doneMs / 1000).toFixed(1)} s`
  )
  yield* print(
    `  model calls: ${log.length} for ${answered.size} distinct mails; duplicates: ${dup.mails} (from the simulator's log)`
  )
  yield* print(`  mailbox: ${seen} of ${N} marked read`)
  yield* print(`  both stopped with SIGTERM: exit ${exits.map((e) => e.code).join(", ")}`)
  yield* print(
    `  categories: ${[...categories]
      .sort((x, y) => y[1] - x[1])
      .map(([c, n]) => `${c} ${n}`)
      .join(", ")}`
  )
})

main.pipe(
  Effect.scoped,
  Effect.tapErrorCause((cause) =>
    Cause.isInterruptedOnly(cause)
      ? Effect.void
      : Effect.sync(() => {
          const failure = Cause.failureOption(cause)
          process.stderr.write(
            `inbox-service: ${Option.isSome(failure) ? failure.value.message : Cause.pretty(cause)}\n`
          )
        })
  ),
  NodeRuntime.runMain({ disableErrorReporting: true })
)
