/**
 * The offer desk (case 1) end to end, and the IMAP source it reads with.
 *
 * Every test here starts a real Dovecot on 127.0.0.1 (about 0.1 s to start, 1 s to stop) and uses real
 * time (it.scopedLive); each is bounded by TIMEOUT. They need `dovecot` installed:
 * apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y dovecot-imapd
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Layer, Redacted, Ref, Stream } from "effect"
import * as path from "node:path"
import * as Dovecot from "../../examples/offer-desk/dovecot.js"
import * as Erp from "../../examples/offer-desk/erp.js"
import * as Mails from "../../examples/offer-desk/mails.js"
import * as Model from "../../examples/offer-desk/model.js"
import * as OfferDesk from "../../examples/offer-desk/program.js"
import type { Item, SourceRecord } from "../../src/Domain/Item.js"
import * as Simulator from "../../src/Simulator/Simulator.js"
import * as Imap from "../../src/Sources/Imap.js"
import { Fetcher } from "../../src/Stages/Fetcher.js"
import { Store } from "../../src/Store/Store.js"
import { tempDir } from "../support/Temp.js"

const TIMEOUT = 30_000

const offerRequests = Mails.inbox.filter((m) => m.kind === "offer_request")
const good = new Set(offerRequests.filter(Mails.isCustomer).map((m) => m.messageId))
const bad = new Set(offerRequests.filter((m) => !Mails.isCustomer(m)).map((m) => m.messageId))
const others = new Set(Mails.inbox.filter((m) => m.kind !== "offer_request").map((m) => m.messageId))

/** Dovecot with the twenty mails, the simulator playing the classifier, the ERP, a fresh database. */
const desk = Effect.gen(function* () {
  const dovecot = yield* Dovecot.start()
  yield* dovecot.append(Mails.inbox.map((m) => Mails.toRfc822(m)))
  const simulator = yield* Simulator.make({ responder: Model.responder, latencyMs: 20, seed: 3 })
  const erp = yield* Erp.make({ customers: Mails.customers, faults: Mails.erpFaults, latencyMs: 40 })
  const dir = yield* tempDir("sluice-offer-desk-")
  const options: OfferDesk.OfferDeskOptions = {
    imap: dovecot.imap,
    llm: { baseUrl: simulator.url, apiKey: Redacted.make("sk-test") },
    erp: { baseUrl: erp.url },
    database: path.join(dir, "desk.db")
  }
  return { dovecot, erp, options }
})

const seenIds = (dovecot: Dovecot.Dovecot) =>
  Effect.map(dovecot.messages, (ms) => new Set(ms.filter((m) => m.seen).map((m) => m.messageId)))

describe.concurrent("Offer desk (real Dovecot, real time)", () => {
  it.scopedLive(
    "20 mails: offers for known customers are marked read; 3 ERP refusals fail and 9 other mails are skipped, all left unseen; at most 2 ERP calls at once",
    () =>
      Effect.gen(function* () {
        const { dovecot, erp, options } = yield* desk
        const report = yield* OfferDesk.run(options)

        expect(report.line).toBe("8 succeeded, 3 failed")
        expect(report.skipped).toBe(9)
        expect(new Set(report.offers.map((o) => o.key))).toEqual(good)
        expect(new Set(report.failures.map((f) => f.key))).toEqual(bad)
        for (const f of report.failures) {
          expect(f.tag).toBe("Invalid")
          expect(f.message).toMatch(/^ERP answered 422: no customer with e-mail /)
        }
        expect(new Set(report.skippedKeys)).toEqual(others)

        // \Seen exactly on the mails whose offer is stored.
        expect(yield* seenIds(dovecot)).toEqual(good)

        const offers = yield* erp.offers
        expect(offers.map((o) => o.reference).sort()).toEqual([...good].sort())
        const calls = yield* erp.calls
        // 8 successes, 3 refusals never retried, and the planned 503, 429 and 503+503 before 3 successes.
        expect(calls.length).toBe(15)
        for (const key of bad) expect(calls.filter((c) => c.reference === key).map((c) => c.status)).toEqual([422])
        for (const [key, faults] of Object.entries(Mails.erpFaults)) {
          expect(calls.filter((c) => c.reference === key).map((c) => c.status)).toEqual([...faults, 201])
        }
        expect(calls.some((c) => others.has(c.reference))).toBe(false)
        const most = yield* erp.maxInFlight
        expect(most).toBeGreaterThanOrEqual(1)
        expect(most).toBeLessThanOrEqual(2)
      }),
    TIMEOUT
  )

  it.scopedLive(
    "a rerun calls the ERP for no mail already done and creates no duplicate offer",
    () =>
      Effect.gen(function* () {
        const { dovecot, erp, options } = yield* desk
        const first = yield* OfferDesk.run(options)
        const callsBefore = (yield* erp.calls).length
        const offersBefore = yield* erp.offers

        const second = yield* OfferDesk.run(options)
        expect(second.line).toBe(first.line)
        expect(second.line).toBe("8 succeeded, 3 failed")
        expect((yield* erp.calls).length).toBe(callsBefore)
        const offersAfter = yield* erp.offers
        expect(offersAfter).toEqual(offersBefore)
        expect(new Set(offersAfter.map((o) => o.reference)).size).toBe(offersAfter.length)
        expect(yield* seenIds(dovecot)).toEqual(good)
      }),
    TIMEOUT
  )

  it.scopedLive(
    "marks a mail read only once its outcome is stored as completed",
    () =>
      Effect.gen(function* () {
        const { erp, options } = yield* desk
        const acked: Array<{ key: string; status: string | undefined }> = []
        // The real IMAP source, watched: at each ack, what does the store say about the acked mails?
        const watched = Layer.scoped(
          Fetcher,
          Effect.gen(function* () {
            const imap = yield* Imap.make(options.imap)
            const store = yield* Store
            return Fetcher.of({
              records: imap.records,
              ack: (items) =>
                Effect.gen(function* () {
                  const rows = yield* Effect.orDie(store.results("offer-desk", { afterSeq: -1, limit: 100 }))
                  const status = new Map(rows.map((r) => [r.key, r.status]))
                  for (const item of items) acked.push({ key: item.key, status: status.get(item.key) })
                  yield* imap.ack(items)
                })
            })
          })
        )
        const report = yield* OfferDesk.report(options).pipe(
          Effect.provide(watched),
          Effect.provide(OfferDesk.layer(options))
        )
        expect(report.line).toBe("8 succeeded, 3 failed")
        expect(new Set(acked.map((a) => a.key))).toEqual(good)
        for (const a of acked) expect(a.status).toBe("completed")
        // Every acked mail's offer existed at the ERP before the mail was marked.
        expect((yield* erp.offers).length).toBe(good.size)
      }),
    TIMEOUT
  )
})

// ---- the IMAP source ----------------------------------------------------------------------------

const raw = (n: number, options: { id?: boolean; html?: boolean } = {}) =>
  [
    options.id === false ? null : `Message-ID: <m${n}@imap.test>`,
    `From: "Zoë Ünal" <zoe${n}@imap.example>`,
    `To: sales@acme.example, "Ops" <ops@acme.example>`,
    `Subject: =?UTF-8?B?${Buffer.from(`Grüße ${n}`).toString("base64")}?=`,
    `Date: Fri, 14 Nov 2025 08:0${n % 10}:00 +0100`,
    "MIME-Version: 1.0",
    `Content-Type: ${options.html === true ? "text/html" : "text/plain"}; charset=utf-8`,
    "Content-Transfer-Encoding: 8bit",
    "",
    options.html === true ? `<p>Hello <b>number ${n}</b></p>` : `Hello number ${n}, schöne Grüße`,
    ""
  ]
    .filter((l) => l !== null)
    .join("\r\n")

const collect = (fetcher: Fetcher["Type"]) =>
  Effect.map(Stream.runCollect(fetcher.records), (c) => Chunk.toReadonlyArray(c))

const asItems = (records: ReadonlyArray<SourceRecord>): Array<Item> =>
  records.map((r, seq) => ({
    run: "t",
    seq,
    key: r.key,
    payload: r._tag === "Record" ? r.payload : null,
    deliveries: 1,
    attempts: 0
  }))

describe.concurrent("Imap source (real Dovecot, real time)", () => {
  it.scopedLive(
    "keys are Message-IDs (uidvalidity:uid without one), payloads are parsed mails, and reading marks nothing seen",
    () =>
      Effect.gen(function* () {
        const dovecot = yield* Dovecot.start()
        yield* dovecot.append([raw(1), raw(2, { id: false }), raw(3, { html: true })])
        const fetcher = yield* Imap.make(dovecot.imap)
        const records = yield* collect(fetcher)
        expect(records.map((r) => r._tag)).toEqual(["Record", "Record", "Record"])
        const mails = records.map((r) => (r._tag === "Record" ? (r.payload as Imap.Mail) : undefined)!)
        const validity = mails[0]!.uidValidity
        expect(records.map((r) => r.key)).toEqual(["<m1@imap.test>", `${validity}:2`, "<m3@imap.test>"])
        expect(mails[0]).toEqual({
          uid: 1,
          uidValidity: validity,
          messageId: "<m1@imap.test>",
          from: { name: "Zoë Ünal", address: "zoe1@imap.example" },
          to: [
            { name: "", address: "sales@acme.example" },
            { name: "Ops", address: "ops@acme.example" }
          ],
          subject: "Grüße 1",
          date: "2025-11-14T07:01:00.000Z",
          text: "Hello number 1, schöne Grüße\n"
        })
        expect(mails[1]!.messageId).toBeNull()
        expect(mails[2]!.text).toContain("Hello number 3")
        // Reading again yields the same, and nothing was marked.
        expect((yield* collect(fetcher)).map((r) => r.key)).toEqual(records.map((r) => r.key))
        expect((yield* dovecot.messages).every((m) => !m.seen)).toBe(true)
      }),
    TIMEOUT
  )

  it.scopedLive(
    "ack marks exactly the acked mails seen; acking again is harmless; the unseen rest is read again",
    () =>
      Effect.gen(function* () {
        const dovecot = yield* Dovecot.start()
        yield* dovecot.append([raw(1), raw(2), raw(3, { id: false }), raw(4)])
        const fetcher = yield* Imap.make(dovecot.imap)
        const items = asItems(yield* collect(fetcher))
        const acked = [items[1]!, items[2]!]
        yield* fetcher.ack(acked)
        yield* fetcher.ack(acked)
        const flags = yield* dovecot.messages
        expect(flags.map((m) => m.seen)).toEqual([false, true, true, false])
        expect((yield* collect(fetcher)).map((r) => r.key)).toEqual([items[0]!.key, items[3]!.key])
        yield* fetcher.ack([])
      }),
    TIMEOUT
  )

  it.scopedLive(
    "a missing mailbox and a refused login are Invalid, an unreachable server Transient; no error shows the password",
    () =>
      Effect.gen(function* () {
        const dovecot = yield* Dovecot.start()
        const password = "hunter2-Sekret-password"
        const missing = yield* Effect.flip(Imap.make({ ...dovecot.imap, mailbox: "NoSuchBox" }))
        expect(missing._tag).toBe("Invalid")
        expect(missing.message).toContain("no such mailbox")
        const unreachable = yield* Effect.flip(
          Imap.make({ ...dovecot.imap, port: 1, password: Redacted.make(password), connectTimeout: "2 seconds" })
        )
        expect(unreachable._tag).toBe("Transient")
        // Last: Dovecot delays every login from an address that just failed one.
        const refused = yield* Effect.flip(Imap.make({ ...dovecot.imap, password: Redacted.make(password) }))
        expect(refused._tag).toBe("Invalid")
        expect(refused.message).toContain("login refused")
        for (const e of [refused, unreachable]) {
          expect(JSON.stringify(e)).not.toContain(password)
          expect(String(e)).not.toContain(password)
        }
      }),
    TIMEOUT
  )

  it.scopedLive(
    "with poll, mails that arrive later are yielded, each once",
    () =>
      Effect.gen(function* () {
        const dovecot = yield* Dovecot.start()
        yield* dovecot.append([raw(1)])
        const fetcher = yield* Imap.make({ ...dovecot.imap, poll: "100 millis" })
        const keys = yield* Ref.make<ReadonlyArray<string>>([])
        const fiber = yield* Effect.fork(
          Stream.runForEach(fetcher.records, (r) => Ref.update(keys, (ks) => [...ks, r.key]))
        )
        // Bounded waits: at most 5 s each.
        const until = (n: number) =>
          Effect.gen(function* () {
            for (let i = 0; i < 100 && (yield* Ref.get(keys)).length < n; i++) yield* Effect.sleep("50 millis")
          })
        yield* until(1)
        yield* dovecot.append([raw(2), raw(3)])
        yield* until(3)
        // A few more rounds: nothing yielded twice though all three are still unseen.
        yield* Effect.sleep("400 millis")
        expect(yield* Ref.get(keys)).toEqual(["<m1@imap.test>", "<m2@imap.test>", "<m3@imap.test>"])
        yield* Fiber.interrupt(fiber)
      }),
    TIMEOUT
  )
})
