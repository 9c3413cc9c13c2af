/**
 * The classifier's prompt, and a stand-in for the model behind it: the in-process simulator answers
 * with this responder, so the example needs no API key and always sorts the same mails the same way.
 */
import { Schema } from "effect"
import { type Item } from "sluice"
import { Imap } from "sluice/imap"
import { SimulatorResponder } from "sluice/simulator"

/** The label of mails that get an offer. */
export const OFFER_REQUEST = "offer_request"

export const system = `You triage the inbox of an industrial supplier's sales desk.
Answer with a JSON object {"label": "offer_request"} when the mail asks us for a quote, a quotation or an
offer for goods or services; answer {"label": "other"} for anything else (order tracking, invoices,
complaints, newsletters, automatic replies, thanks).`

const decodeMail = Schema.decodeUnknownOption(Imap.Mail)

/** The user message for one mail: sender, subject and body, as a person would read it. */
export const render = (item: Item.Item): string => {
  const mail = decodeMail(item.payload)
  if (mail._tag === "None") return JSON.stringify(item.payload)
  const m = mail.value
  const from = m.from === null ? "(unknown sender)" : `${m.from.name} <${m.from.address}>`
  return `From: ${from}\nSubject: ${m.subject}\n\n${m.text}`
}

// What the stand-in model looks for: a word for a quote or an offer, and a request for one.
const quoteWord = /\b(quot(e|ation)|rfq|offer|angebot\w*|devis|offert\w*|pricing request)\b/i
const asking = /\b(please|could you|can you|would you|we would like|we'd like|bitte|bräuchten|pourriez|merci de)\b/i
const notPersonal = /\b(unsubscribe|out of office|automatic reply|abwesen\w*)\b/i

/** The stand-in model's judgement. */
export const looksLikeOfferRequest = (text: string): boolean =>
  quoteWord.test(text) && asking.test(text) && !notPersonal.test(text)

/** The simulator's responder: plays the classifying model. */
export const responder: SimulatorResponder.Responder = (request) =>
  JSON.stringify({
    label: looksLikeOfferRequest(SimulatorResponder.lastUserMessage(request.messages)) ? OFFER_REQUEST : "other"
  })
