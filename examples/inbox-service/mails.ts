/**
 * The inbox service's mail: a stream of realistic mails made from the offer desk's twenty (offer
 * requests in three languages, tracking questions, invoices, complaints, newsletters, auto-replies,
 * thanks), each with its own Message-ID, date and thread prefix. Deterministic: the same `n` gives the
 * same mails.
 */
import * as Desk from "../offer-desk/mails.js"

export type { ExampleMail, Kind } from "../offer-desk/mails.js"

const PREFIXES = ["", "Re: ", "", "Fwd: ", "", "AW: ", "", "RE: "]
const start = Date.UTC(2025, 10, 17, 6, 0)

/** Mail number `i` (from 0): a variation of one of the offer desk's mails. */
export const mail = (i: number): Desk.ExampleMail => {
  const base = Desk.inbox[i % Desk.inbox.length]!
  const round = Math.floor(i / Desk.inbox.length)
  const domain = base.from.address.split("@")[1] ?? "example.com"
  return {
    ...base,
    messageId: `<inbox.${String(i).padStart(5, "0")}.${(i * 104_729).toString(36)}@${domain}>`,
    subject: round === 0 ? base.subject : `${PREFIXES[round % PREFIXES.length]}${base.subject}`,
    date: new Date(start + i * 47_000).toISOString(),
    text:
      round === 0 ? base.text : `${base.text}\n\n-- \nSent ${round + 1} times this month; our reference ${10_000 + i}`
  }
}

/** The first `n` mails. */
export const mails = (n: number): ReadonlyArray<Desk.ExampleMail> => Array.from({ length: n }, (_, i) => mail(i))

/** As RFC 822 text, addressed to the shared inbox. */
export const toRfc822 = (m: Desk.ExampleMail): string =>
  Desk.toRfc822(m, { name: "ACME Shared Inbox", address: "inbox@acme-industrial.example" })
