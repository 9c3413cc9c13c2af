/**
 * The inbox service (case 5) end to end: `sluice serve --imap …` processes on one SQLite file, each
 * polling the same mailbox and working the same queue.
 *
 * Real Dovecot on 127.0.0.1, real processes (the built CLI, dist/bin.js, built by the global setup),
 * real HTTP and real time (it.scopedLive); every wait is bounded, and a child still running when a test
 * ends is killed. The LLM is the in-process simulator with the example's mail-sorting responder; the
 * instances run with --no-cache, so its log shows every answer the model really gave. Needs `dovecot`:
 * apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y dovecot-imapd
 */
import { describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Chunk, Effect, Redacted, Stream } from "effect"
import { ImapFlow } from "imapflow"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import * as Mails from "../../examples/inbox-service/mails.js"
import * as Model from "../../examples/inbox-service/model.js"
import * as Inbox from "../../examples/inbox-service/program.js"
import * as Dovecot from "../../examples/offer-desk/dovecot.js"
import * as ImapUrl from "../../src/Http/ImapUrl.js"
import * as Simulator from "../../src/Simulator/Simulator.js"
import { MIGRATIONS_TABLE } from "../../src/Store/SqliteMigrations.js"
import * as SqliteStore from "../../src/Store/SqliteStore.js"
import * as Imap from "../../src/Sources/Imap.js"
import { tempDir } from "../support/Temp.js"
import { waitUntil } from "../support/Wait.js"

const N = 1000
const CONCURRENCY = 8
/** The model's median answer time: 1,000 mails take about 1000 × 70 ms / 16 ≈ 4.5 s on two instances. */
const LATENCY_MS = 60
const expectedIds = new Set(Mails.mails(N).map((m) => m.messageId))

/** Dovecot with `mails` unseen mails, the simulator, a fresh directory with the prompt. */
const setup = (latencyMs: number, mails = N) =>
  Effect.gen(function* () {
    const dovecot = yield* Dovecot.start()
    yield* dovecot.append(Mails.mails(mails).map(Mails.toRfc822))
    const simulator = yield* Simulator.make({ responder: Model.responder, latencyMs, seed: 11 })
    const dir = yield* tempDir("sluice-inbox-")
    const prompt = path.join(dir, "prompt.txt")
    fs.writeFileSync(prompt, Model.system)
    const instance = (name: string, lease: number) => ({
      name,
      db: path.join(dir, "inbox.db"),
      imap: `imap://${dovecot.user}@127.0.0.1:${dovecot.port}/INBOX`,
      password: Redacted.value(dovecot.password),
      baseUrl: simulator.url,
      prompt,
      concurrency: CONCURRENCY,
      lease,
      imapPoll: 1
    })
    return { dovecot, simulator, db: path.join(dir, "inbox.db"), instance }
  }).pipe(Effect.orDie)

const finishedOf = (v: Inbox.RunView) => v.counts.completed + v.counts.skipped + v.counts.failed
const sum = (c: Inbox.RunView["counts"]) => c.pending + c.processing + c.completed + c.skipped + c.failed

/** The Message-ID each model call was about (the user message is the mail as JSON). */
const messageIdOf = (content: string): string => (JSON.parse(content) as Imap.Mail).messageId ?? "(none)"

const allSeen = (dovecot: Dovecot.Dovecot) =>
  Inbox.waitUntil(
    Effect.orDie(dovecot.messages),
    (ms) => ms.length === N && ms.every((m) => m.seen),
    "30 seconds",
    "every mail to be marked \\Seen"
  ).pipe(Effect.orDie)

describe("Inbox service (real Dovecot, real processes, real time)", () => {
  it.scopedLive(
    `two instances on one SQLite file process ${N} mails: each answered once, both share the work, sluice status shows the queue, all end \\Seen`,
    () =>
      Effect.gen(function* () {
        const { dovecot, simulator, db, instance } = yield* setup(LATENCY_MS)
        const startedAt = Date.now()
        // One after the other: two processes creating one new database at once can trip over each other
        // (see the SqliteStore report below).
        const a = yield* Effect.orDie(Inbox.start(instance("A", 30)))
        const b = yield* Effect.orDie(Inbox.start(instance("B", 30)))

        // Mid-stream: what `sluice status` prints adds up to the mails recorded at that moment.
        yield* Inbox.waitUntil(Inbox.runView(a), (v) => finishedOf(v) >= 150, "60 seconds", "150 mails done").pipe(
          Effect.orDie
        )
        const before = yield* Effect.orDie(Inbox.runView(a))
        const mid = yield* Effect.orDie(Inbox.status(db))
        const after = yield* Effect.orDie(Inbox.runView(a))
        console.log(`sluice status mid-stream:\n${mid.text}`)
        expect(sum(mid.counts)).toBeGreaterThanOrEqual(before.total)
        expect(sum(mid.counts)).toBeLessThanOrEqual(after.total)
        expect(sum(mid.counts)).toBeLessThanOrEqual(N)
        expect(mid.counts.completed).toBeGreaterThanOrEqual(before.counts.completed)
        expect(mid.counts.completed).toBeLessThan(N)
        // Work remains mid-stream: queued, in flight, or still in the mailbox (the inbox records mails
        // as it polls them, so at some moments every recorded mail is finished and the rest not yet read).
        expect(mid.counts.pending + mid.counts.processing + (N - sum(mid.counts))).toBeGreaterThan(0)
        expect(mid.counts.failed).toBe(0)

        const done = yield* Inbox.waitUntil(
          Inbox.runView(b),
          (v) => finishedOf(v) >= N && v.counts.pending + v.counts.processing === 0,
          "60 seconds",
          `all ${N} mails done`
        ).pipe(Effect.orDie)
        const wallMs = Date.now() - startedAt
        expect(done.counts).toEqual({ pending: 0, processing: 0, completed: N, skipped: 0, failed: 0 })
        const end = yield* Effect.orDie(Inbox.status(db))
        expect(end.counts).toEqual({ pending: 0, processing: 0, completed: N, skipped: 0, failed: 0 })

        // Each mail went to the model exactly once, over both processes.
        const log = yield* simulator.log
        const answers = Inbox.answersPerContent(log)
        expect(log.length).toBe(N)
        expect(answers.size).toBe(N)
        expect(Inbox.duplicates(log)).toEqual({ mails: 0, extra: 0 })
        expect(new Set([...answers.keys()].map(messageIdOf))).toEqual(expectedIds)

        // Both instances did part of the work, and together all of it.
        const [byA, byB] = yield* Effect.orDie(Effect.all([Inbox.outcomes(a), Inbox.outcomes(b)]))
        console.log(`${N} mails in ${wallMs} ms: A completed ${byA["completed"]}, B completed ${byB["completed"]}`)
        expect(byA["completed"]).toBeGreaterThan(0)
        expect(byB["completed"]).toBeGreaterThan(0)
        expect(byA["completed"]! + byB["completed"]!).toBe(N)

        yield* allSeen(dovecot)

        const stopped = yield* Effect.orDie(Effect.all([Inbox.stop(a), Inbox.stop(b)], { concurrency: 2 }))
        expect(stopped.map((s) => s.code)).toEqual([0, 0])
        for (const i of [a, b]) expect(i.stderr()).not.toMatch(/unexpected failure|\n\s+at |secret/)
      }),
    { timeout: 90_000 }
  )

  it.scopedLive(
    `SIGKILL one of two instances mid-stream: the other takes over its expired leases and finishes all ${N}; only mails in flight at the kill are answered twice (at most its concurrency); all end \\Seen`,
    () =>
      Effect.gen(function* () {
        const lease = 3
        const { dovecot, simulator, db, instance } = yield* setup(LATENCY_MS)
        const a = yield* Effect.orDie(Inbox.start(instance("A", lease)))
        const b = yield* Effect.orDie(Inbox.start(instance("B", lease)))

        const atKill = yield* Inbox.waitUntil(
          Inbox.runView(a),
          (v) => finishedOf(v) >= 300,
          "60 seconds",
          "300 mails done"
        ).pipe(Effect.orDie)
        // B must hold leases when it dies, or there is nothing to take over: on a loaded machine A can
        // run ahead while B is still starting. Both hold some once two lease owners are in the queue.
        const owners = new Database(db, { readonly: true })
        const leasing = owners.prepare(
          "SELECT count(DISTINCT lease_owner) AS n FROM items WHERE status = 'processing' AND lease_owner IS NOT NULL"
        )
        yield* waitUntil(() => (leasing.get() as { n: number }).n >= 2, 60_000, "both instances to hold leases").pipe(
          Effect.ensuring(Effect.sync(() => owners.close()))
        )
        b.child.kill("SIGKILL")
        const killedAt = Date.now()
        expect((yield* Effect.orDie(Inbox.stop(b, "SIGKILL"))).signal).toBe("SIGKILL")

        // Right after the kill, the queue still adds up, with the dead instance's leases in it.
        const mid = yield* Effect.orDie(Inbox.status(db))
        console.log(`sluice status after SIGKILL of B:\n${mid.text}`)
        expect(mid.counts.completed).toBeLessThan(N)
        expect(sum(mid.counts)).toBeLessThanOrEqual(N)

        const done = yield* Inbox.waitUntil(
          Inbox.runView(a),
          (v) => finishedOf(v) >= N && v.counts.pending + v.counts.processing === 0,
          "60 seconds",
          `A to finish all ${N} mails`
        ).pipe(Effect.orDie)
        const takeoverMs = Date.now() - killedAt
        expect(done.counts).toEqual({ pending: 0, processing: 0, completed: N, skipped: 0, failed: 0 })

        // The dead instance's leased mails were claimed again once their leases expired (a second delivery).
        const conn = new Database(db, { readonly: true })
        const redelivered = yield* Effect.sync(
          () => (conn.prepare("SELECT count(*) AS n FROM items WHERE deliveries > 1").get() as { n: number }).n
        ).pipe(Effect.ensuring(Effect.sync(() => conn.close())))
        expect(redelivered).toBeGreaterThan(0)

        // Nothing lost; only mails B had sent upstream and not yet committed were answered twice.
        const log = yield* simulator.log
        const answers = Inbox.answersPerContent(log)
        const dup = Inbox.duplicates(log)
        console.log(
          `SIGKILL of B with ${finishedOf(atKill)} of ${N} done: A finished in ${takeoverMs} ms after the kill (lease ${lease} s); ${redelivered} mails redelivered, ${dup.extra} answered twice`
        )
        expect(answers.size).toBe(N)
        expect(new Set([...answers.keys()].map(messageIdOf))).toEqual(expectedIds)
        expect(dup.extra).toBeLessThanOrEqual(CONCURRENCY)
        expect(dup.extra).toBeLessThanOrEqual(redelivered)
        expect(log.length).toBe(N + dup.extra)

        // Mails B completed but had not yet marked seen are marked by A's sweep.
        yield* allSeen(dovecot)
        expect((yield* Effect.orDie(Inbox.stop(a))).code).toBe(0)
      }),
    { timeout: 90_000 }
  )

  it.scopedLive(
    "a wrong IMAP password stops `sluice serve` at start with a clear message that does not contain the password",
    () =>
      Effect.gen(function* () {
        const { instance } = yield* setup(0, 0)
        const started = yield* Effect.either(Inbox.start({ ...instance("X", 30), password: "not-the-secret-pw" }))
        expect(started._tag).toBe("Left")
        if (started._tag === "Left") {
          expect(started.left.message).toMatch(/login refused/)
          expect(started.left.message).not.toContain("not-the-secret-pw")
        }
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "an unreachable IMAP server does not stop `sluice serve`: it listens, is ready, keeps the run, says it keeps trying, and stops cleanly",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir("sluice-inbox-")
        const prompt = path.join(dir, "prompt.txt")
        fs.writeFileSync(prompt, Model.system)
        const port = yield* Effect.promise(
          () =>
            new Promise<number>((resolve) => {
              const server = net.createServer().listen(0, "127.0.0.1", () => {
                const p = (server.address() as net.AddressInfo).port
                server.close(() => resolve(p))
              })
            })
        )
        const instance = yield* Effect.orDie(
          Inbox.start({
            name: "U",
            db: path.join(dir, "inbox.db"),
            imap: `imap://nobody@127.0.0.1:${port}/INBOX`,
            password: "pw",
            baseUrl: "http://127.0.0.1:9/v1",
            prompt,
            concurrency: 1,
            lease: 30,
            imapPoll: 1
          })
        )
        const ready = yield* Effect.promise(() => fetch(`${instance.url}/readyz`).then((r) => r.status))
        expect(ready).toBe(200)
        const view = yield* Effect.orDie(Inbox.runView(instance))
        expect(view.total).toBe(0)
        yield* Inbox.waitUntil(
          Effect.sync(() => instance.stderr()),
          (e) => /trying again in the background/.test(e),
          "10 seconds",
          "the warning"
        ).pipe(Effect.orDie)
        expect((yield* Effect.orDie(Inbox.stop(instance))).code).toBe(0)
      }),
    { timeout: 60_000 }
  )

  it("parses --imap URLs and refuses a password in them", () => {
    const pw = Redacted.make("pw")
    const ok = ImapUrl.parseUrl("imap://user%40corp@127.0.0.1:1143/Shared%20Inbox", pw)
    expect(ok._tag).toBe("Right")
    if (ok._tag === "Right") {
      expect({ ...ok.right, password: undefined }).toEqual({
        host: "127.0.0.1",
        port: 1143,
        secure: false,
        user: "user@corp",
        password: undefined,
        mailbox: "Shared Inbox"
      })
      expect(ImapUrl.describe(ok.right)).toBe("imap://user%40corp@127.0.0.1:1143/Shared%20Inbox")
    }
    const tls = ImapUrl.parseUrl("imaps://me@mail.example.com", pw)
    expect(tls._tag === "Right" && [tls.right.port, tls.right.secure, tls.right.mailbox]).toEqual([993, true, "INBOX"])
    expect(ImapUrl.parseUrl("imap://me:hunter2@host/INBOX", pw)._tag).toBe("Left")
    expect(ImapUrl.parseUrl("http://me@host/INBOX", pw)._tag).toBe("Left")
    expect(ImapUrl.parseUrl("imap://host/INBOX", pw)._tag).toBe("Left")
  })

  // `fetchBatch` once took every answer of imapflow's `fetchAll` for a mail it asked for. When another session changes a flag during our FETCH, Dovecot
  // pushes `* n FETCH (FLAGS (\Seen))`, imapflow returns it among the answers (no uid, no source), and
  // the source yields it as a Malformed record keyed "<uidvalidity>:undefined", which the store keeps as
  // a failed item. Fix: keep only answers whose uid is one of the requested UIDs. ImapLoop drops such
  // records too.
  it.scopedLive(
    "Imap source: a flag change by another session during a FETCH is not yielded as an unreadable mail",
    () =>
      Effect.gen(function* () {
        const dovecot = yield* Dovecot.start()
        yield* dovecot.append(Mails.mails(4).map(Mails.toRfc822))
        const reader = yield* Imap.make({ ...dovecot.imap, fetchBatch: 1 })
        const other = new ImapFlow({
          host: "127.0.0.1",
          port: dovecot.port,
          secure: false,
          doSTARTTLS: false,
          auth: { user: dovecot.user, pass: Redacted.value(dovecot.password) },
          logger: false
        })
        yield* Effect.acquireRelease(
          Effect.promise(async () => {
            await other.connect()
            await other.mailboxOpen("INBOX")
          }),
          () => Effect.promise(() => other.logout().catch(() => other.close()))
        )
        let n = 0
        // After the first mail is read, another session marks the last one seen.
        const records = yield* reader.records.pipe(
          Stream.tap(() =>
            Effect.promise(async () => {
              if (++n === 1) await other.messageFlagsAdd([4], ["\\Seen"], { uid: true })
            })
          ),
          Stream.runCollect
        )
        const malformed = Chunk.toReadonlyArray(records).filter((r) => r._tag === "Malformed")
        expect(malformed.map((r) => r.key)).toEqual([])
      }).pipe(Effect.orDie),
    { timeout: 30_000 }
  )

  // Two processes opening one new database at once could refuse it as "a SQLite database but not a sluice one (it has tables sluice_migrations)". The
  // @effect/sql Migrator creates its table in a statement of its own (auto-committed), and only then
  // runs the first migration, which creates `sluice_meta`, in a transaction; `preflight` of the second
  // process, reading in between, sees the migrations table without `sluice_meta` and says NotSluice.
  // Seen here when both `sluice serve` instances started together (so they now start one after the
  // other). Fix: treat a file whose only table is the migrations table, with no migration applied, as
  // a new sluice database.
  it.scoped(
    "SqliteStore: a database another process is creating (migrations table made, first migration not yet committed) is opened, not refused",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir("sluice-inbox-")
        const file = path.join(dir, "new.db")
        // The state the Migrator leaves between its CREATE TABLE and its first migration's commit.
        yield* Effect.sync(() => {
          const conn = new Database(file)
          conn.exec(`CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (
  migration_id integer PRIMARY KEY NOT NULL,
  created_at datetime NOT NULL DEFAULT current_timestamp,
  name VARCHAR(255) NOT NULL
)`)
          conn.close()
        })
        const opened = yield* Effect.either(SqliteStore.make({ filename: file }))
        expect(opened._tag === "Left" ? opened.left.message : "opened").toBe("opened")
      })
  )
})
