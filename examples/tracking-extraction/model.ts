/**
 * The extraction prompt, the answer's Schema, and a stand-in for the model: the in-process simulator
 * answers with `makeResponder`, so the example needs no API key and extracts the same numbers every
 * time.
 *
 * The stand-in reads tracking numbers by their formats, as a careful model would, and ignores order,
 * phone and invoice numbers. A few chosen conversations make it misbehave, to exercise the decode
 * path: "flaky" ones get prose instead of JSON on the first ask and a good answer when asked again;
 * "off-schema" ones never get a usable answer, so they end `Failed` as `Invalid`.
 */
import { Schema } from "effect"
import { SimulatorResponder } from "sluice/simulator"
import { type Carrier as CarrierName, conversationId, type Tracking } from "./helpdesk.js"

export const Carrier = Schema.Literal("UPS", "DHL", "FedEx", "USPS", "RoyalMail", "DPD")

export const TrackingNumber = Schema.Struct({
  carrier: Carrier,
  number: Schema.String.pipe(Schema.pattern(/^[0-9A-Z]{10,22}$/))
})

/** The answer the model must give; anything else is asked again, then failed as `Invalid`. */
export const Extraction = Schema.Struct({ tracking: Schema.Array(TrackingNumber) })
export type Extraction = typeof Extraction.Type

export const system = `You read one customer-service conversation of an online shop and extract every parcel
tracking number in it. Answer with a JSON object and nothing else:
{"tracking": [{"carrier": "UPS" | "DHL" | "FedEx" | "USPS" | "RoyalMail" | "DPD", "number": "<as written, no spaces>"}]}
List each number once, in order of first mention; answer {"tracking": []} when there is none. Order
numbers, invoice numbers, customer numbers and phone numbers are not tracking numbers.`

/** What `render` needs of a conversation (the client's decoded view of the helpdesk's JSON). */
export interface Thread {
  readonly conversation: {
    readonly id: string
    readonly subject: string
    readonly customer: { readonly name: string; readonly email: string }
  }
  readonly messages: ReadonlyArray<{ readonly author: string; readonly body: string; readonly created_at: string }>
}

/** The user message: the conversation as an agent would read it. The first line names it. */
export const render = (thread: Thread): string =>
  [
    `Conversation ${thread.conversation.id}`,
    `Subject: ${thread.conversation.subject}`,
    `Customer: ${thread.conversation.customer.name} <${thread.conversation.customer.email}>`,
    ...thread.messages.map((m) => `\n[${m.created_at}] ${m.author}:\n${m.body}`)
  ].join("\n")

const FORMATS: ReadonlyArray<readonly [CarrierName, RegExp]> = [
  ["UPS", /\b1Z[0-9A-Z]{16}\b/g],
  ["USPS", /\b9[2-5]\d{20}\b/g],
  ["DPD", /\b\d{14}\b/g],
  ["FedEx", /\b\d{12}\b/g],
  ["DHL", /\b\d{10}\b/g],
  ["RoyalMail", /\b[A-Z]{2}\d{9}GB\b/g]
]

/** The stand-in model's reading: every tracking number by its format, each once, in order of mention. */
export const extract = (text: string): Array<Tracking> => {
  const found: Array<{ at: number; t: Tracking }> = []
  for (const [carrier, pattern] of FORMATS) {
    for (const m of text.matchAll(pattern)) found.push({ at: m.index, t: { carrier, number: m[0] } })
  }
  found.sort((a, b) => a.at - b.at)
  const seen = new Set<string>()
  return found.filter(({ t }) => !seen.has(t.number) && (seen.add(t.number), true)).map(({ t }) => t)
}

/** Conversations whose first answer is prose; asked again, they get a good one. */
export const flaky: ReadonlySet<string> = new Set([7, 133].map(conversationId))

/** Conversations that never get an answer matching the Schema. */
export const offSchema: ReadonlySet<string> = new Set([19, 104, 211].map(conversationId))

/** Three wrong answers in turn: off-schema JSON, cut-off JSON, an unknown carrier. */
const wrong = (tracking: ReadonlyArray<Tracking>, n: number): string => {
  switch (n % 3) {
    case 0:
      return JSON.stringify({ tracking_numbers: tracking.map((t) => t.number) })
    case 1:
      return `{"tracking": [{"carrier": "${tracking[0]?.carrier ?? "UPS"}", "number": "`
    default:
      return JSON.stringify({ tracking: [{ carrier: "Parcelforce", number: tracking[0]?.number ?? "unknown" }] })
  }
}

/**
 * The simulator's responder: plays the extracting model. It counts the asks per conversation (the
 * only state it keeps), so a flaky conversation answers well on its second ask.
 */
export const makeResponder = (): SimulatorResponder.Responder => {
  const asked = new Map<string, number>()
  return (request) => {
    const text = SimulatorResponder.lastUserMessage(request.messages)
    const id = /^Conversation (\S+)/.exec(text)?.[1] ?? ""
    const n = asked.get(id) ?? 0
    asked.set(id, n + 1)
    const tracking = extract(text)
    if (offSchema.has(id)) return wrong(tracking, n)
    if (flaky.has(id) && n === 0) {
      return `Sure! I found ${tracking.length} tracking number(s): ${tracking.map((t) => t.number).join(", ") || "none"}.`
    }
    return JSON.stringify({ tracking })
  }
}
