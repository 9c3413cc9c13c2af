/**
 * The task the inbox service gives the model, and a stand-in model for the example: the simulator
 * answers with this responder, so the example needs no API key and sorts the same mail the same way
 * every time.
 */
import { Option, Schema } from "effect"
import { Imap } from "sluice/imap"
import { SimulatorResponder } from "sluice/simulator"

export const system = `You sort the mail of a company's shared inbox. The user message is one mail as JSON
(from, to, subject, date, text). Answer with a JSON object and nothing else:
{"category": "offer_request" | "tracking" | "invoice" | "complaint" | "newsletter" | "auto_reply" | "thanks" | "other",
 "summary": "<one sentence>", "urgent": true | false}`

export const Answer = Schema.Struct({
  category: Schema.String,
  summary: Schema.String,
  urgent: Schema.Boolean
})
export type Answer = typeof Answer.Type

const RULES: ReadonlyArray<readonly [string, RegExp]> = [
  ["auto_reply", /\b(automatic reply|out of office|abwesen\w*)\b/i],
  ["newsletter", /\b(unsubscribe|newsletter|digest)\b/i],
  ["complaint", /\b(damaged|bent|broken|defect\w*|replace them)\b/i],
  ["invoice", /\b(invoice|rechnung|facture)\b/i],
  ["tracking", /\b(tracking|where is my order|has not arrived)\b/i],
  ["offer_request", /\b(quot(e|ation)|rfq|offer|angebot\w*|devis|pricing request)\b/i],
  ["thanks", /\b(thank you|thanks|merci|danke)\b/i]
]

const decodeMail = Schema.decodeUnknownOption(Schema.parseJson(Imap.Mail))

/** The stand-in model's reading of one mail. */
export const judge = (mail: Imap.Mail): Answer => {
  const text = `${mail.subject}\n${mail.text}`
  const category = RULES.find(([, re]) => re.test(text))?.[0] ?? "other"
  const first = mail.text.split(/(?<=[.?!])\s|\n\n/).find((s) => s.trim().length > 20) ?? mail.subject
  const who = mail.from === null ? "someone" : mail.from.name || mail.from.address
  return {
    category,
    summary: `${who}: ${first.replace(/\s+/g, " ").trim().slice(0, 140)}`,
    urgent: category === "complaint" || category === "tracking"
  }
}

/** The simulator's responder: plays the sorting model. */
export const responder: SimulatorResponder.Responder = (request) => {
  const mail = decodeMail(SimulatorResponder.lastUserMessage(request.messages))
  return JSON.stringify(
    Option.isSome(mail) ? judge(mail.value) : { category: "other", summary: "(not a mail)", urgent: false }
  )
}
