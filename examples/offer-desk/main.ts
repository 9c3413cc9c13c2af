/**
 * `npm run example:offer-desk`: the offer desk against a real IMAP server, with nothing to configure.
 *
 * Starts a throwaway Dovecot with twenty mails, the LLM simulator playing the classifier, and a small
 * ERP that refuses unknown customers and stumbles now and then; runs the desk; prints the batch
 * summary and the offers; stops everything. Needs `dovecot` (see dovecot.ts for the install line).
 */
import { NodeRuntime } from "@effect/platform-node"
import { Cause, Effect, Option, Redacted } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Simulator } from "sluice/simulator"
import * as Dovecot from "./dovecot.js"
import * as Erp from "./erp.js"
import * as Mails from "./mails.js"
import * as Model from "./model.js"
import * as OfferDesk from "./program.js"

const print = (line: string) => Effect.sync(() => process.stdout.write(`${line}\n`))

const main = Effect.gen(function* () {
  const dovecot = yield* Dovecot.start()
  yield* dovecot.append(Mails.inbox.map((m) => Mails.toRfc822(m)))
  yield* print(
    `Dovecot on 127.0.0.1:${dovecot.port} (ready in ${dovecot.startedInMs} ms), ${Mails.inbox.length} unseen mails`
  )
  const simulator = yield* Simulator.make({ responder: Model.responder, latencyMs: 40, seed: 7 })
  const erp = yield* Erp.make({ customers: Mails.customers, faults: Mails.erpFaults, latencyMs: 60 })
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "offer-desk-"))),
    (d) => Effect.sync(() => fs.rmSync(d, { recursive: true, force: true }))
  )

  const report = yield* OfferDesk.run({
    imap: dovecot.imap,
    llm: { baseUrl: simulator.url, apiKey: Redacted.make("sk-simulator") },
    erp: { baseUrl: erp.url },
    database: path.join(dir, "offer-desk.db")
  })

  const subjects = new Map(Mails.inbox.map((m) => [m.messageId, m.subject]))
  yield* print(`\n${report.line}; ${report.skipped} skipped (not offer requests)`)
  yield* print(`\nOffers created (${report.offers.length}):`)
  for (const { key, offer } of report.offers) {
    const o = offer as { number: string; customerName: string }
    yield* print(`  ${o.number}  ${o.customerName.padEnd(28)} ${subjects.get(key) ?? key}`)
  }
  yield* print(`\nFailed, left unseen for a person (${report.failures.length}):`)
  for (const f of report.failures) yield* print(`  ${subjects.get(f.key) ?? f.key}: ${f.tag}: ${f.message}`)

  const calls = yield* erp.calls
  const statuses = new Map<number, number>()
  for (const c of calls) statuses.set(c.status, (statuses.get(c.status) ?? 0) + 1)
  const seen = (yield* dovecot.messages).filter((m) => m.seen).length
  yield* print(
    `\nERP: ${calls.length} calls (${[...statuses]
      .sort(([a], [b]) => a - b)
      .map(([s, n]) => `${n}× ${s}`)
      .join(", ")}), at most ${yield* erp.maxInFlight} at once`
  )
  yield* print(`Mailbox: ${seen} of ${Mails.inbox.length} mails marked read; run took ${report.summary.makespanMs} ms`)
})

main.pipe(
  Effect.scoped,
  Effect.tapErrorCause((cause) =>
    Cause.isInterruptedOnly(cause)
      ? Effect.void
      : Effect.sync(() => {
          const failure = Cause.failureOption(cause)
          process.stderr.write(`offer-desk: ${Option.isSome(failure) ? failure.value.message : Cause.pretty(cause)}\n`)
        })
  ),
  NodeRuntime.runMain({ disableErrorReporting: true })
)
