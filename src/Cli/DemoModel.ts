/**
 * The demo's model: the offer desk's two prompts, and a simulator responder that plays the model
 * behind them deterministically from the mail text — triage into "offer_request" | "tracking" |
 * "other", and an offer drafted as JSON from a request. It reads the mail as a model would (the
 * words, not the generator's ground truth), so a misread mail would show up as a wrong outcome.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import type { ChatMessage } from "../Llm/Llm.js"
import { promptTokens } from "../Llm/TokenEstimate.js"
import { defaultResponder, fit, lastUserMessage, type Responder } from "../Simulator/Responder.js"
import { catalogue, customers, type Kind, sites } from "./DemoData.js"

/**
 * The triage prompt (the classify stage's system message).
 *
 * @since 0.1.0
 */
export const CLASSIFY_PROMPT = `You are the triage assistant of the offer desk at Stahlmann Industriebedarf GmbH, a supplier of industrial parts.
The user message is one incoming e-mail as JSON (from, to, subject, receivedAt, body). Decide what the sender wants.
Answer with one JSON object and nothing else: {"label": "<label>"}, where <label> is exactly one of:
- "offer_request": the sender asks for a quote, an offer or prices for products we sell (in any language);
- "tracking": the sender asks where an order or a delivery is, or for a tracking number;
- "other": anything else (newsletters, out-of-office replies, invitations, personal notes, IT notices, spam).
When unsure between "offer_request" and "other", answer "other": a person reads those.`

/**
 * The drafting prompt (the process stage's system message).
 *
 * @since 0.1.0
 */
export const DRAFT_PROMPT = `You draft offers for the offer desk of Stahlmann Industriebedarf GmbH.
The user message is a customer's offer request e-mail as JSON. Extract what they ask for and price it from the catalogue.
Answer with one JSON object and nothing else:
{"customer": string, "contact": string, "product": string, "sku": string, "quantity": integer,
 "unit_price_eur": number, "discount_pct": number, "total_eur": number,
 "delivery": {"site": string, "within_weeks": integer or null, "incoterm": "DAP"},
 "customer_reference": string or null, "valid_until": "YYYY-MM-DD"}
Discounts: 5% from 100 units, 10% from 500 units. Offers are valid for 30 days from the request. Never invent a product
that is not in the catalogue; if the request is unclear, set "product" to null.`

/**
 * The labels the classifier asks for; only offer requests are drafted.
 *
 * @since 0.1.0
 */
export const LABELS: ReadonlyArray<Kind> = ["offer_request", "tracking", "other"]

/**
 * A drafted offer, as the results file holds it.
 *
 * @since 0.1.0
 */
export const Offer = Schema.Struct({
  customer: Schema.String,
  contact: Schema.String,
  product: Schema.String,
  sku: Schema.String,
  quantity: Schema.Int.pipe(Schema.positive()),
  unit_price_eur: Schema.Number,
  discount_pct: Schema.Number,
  total_eur: Schema.Number,
  delivery: Schema.Struct({
    site: Schema.NullOr(Schema.String),
    within_weeks: Schema.NullOr(Schema.Int),
    incoterm: Schema.Literal("DAP")
  }),
  customer_reference: Schema.NullOr(Schema.String),
  valid_until: Schema.String
})

/** @since 0.1.0 */
export type Offer = typeof Offer.Type

interface MailText {
  readonly from: string
  readonly subject: string
  readonly body: string
  readonly receivedAt: string | undefined
}

/** The mail in a user message: the JSON the stages send, or plain text. */
const readMail = (content: string): MailText => {
  try {
    const m = JSON.parse(content) as Record<string, unknown>
    const s = (k: string) => (typeof m[k] === "string" ? (m[k] as string) : "")
    return { from: s("from"), subject: s("subject"), body: s("body"), receivedAt: s("receivedAt") || undefined }
  } catch {
    return { from: "", subject: "", body: content, receivedAt: undefined }
  }
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
const ASKS_PRICE = /\b(quote|quotation|offer|pricing|price|prices|cost|rfq|angebot|preis)\b/i
const ORDER_NUMBER = /\border\s*#\s*\d+/i
const WHERE_IS = /\b(where is|tracking|not arrived|parcel|shipment|delivery status|sendung)\b/i

/** The product asked for and how many: a catalogue product with a number right before it. */
const requested = (text: string) => {
  for (const entry of catalogue) {
    const m = new RegExp(
      `(\\d[\\d,.]*)\\s+(?:x\\s+|×\\s+|units of\\s+|pcs\\.?\\s+|Stück\\s+)?${escape(entry.product)}`,
      "i"
    ).exec(text)
    if (m !== null) return { entry, quantity: Number(m[1]!.replace(/[,.]/g, "")) }
  }
  return undefined
}

/**
 * The label a careful model gives a mail.
 *
 * @since 0.1.0
 */
export const classify = (mail: MailText): Kind => {
  const text = `${mail.subject}\n${mail.body}`
  if (ORDER_NUMBER.test(text) && WHERE_IS.test(text)) return "tracking"
  if (ASKS_PRICE.test(text) && requested(text) !== undefined) return "offer_request"
  return "other"
}

const round2 = (n: number) => Math.round(n * 100) / 100

/**
 * The offer a careful model drafts from a request; undefined when no catalogue product is asked for.
 *
 * @since 0.1.0
 */
export const draft = (mail: MailText): Offer | undefined => {
  const text = `${mail.subject}\n${mail.body}`
  const wanted = requested(text)
  if (wanted === undefined) return undefined
  const { entry, quantity } = wanted
  const discount = quantity >= 500 ? 10 : quantity >= 100 ? 5 : 0
  const customer =
    customers.find((c) => text.includes(c.company)) ?? customers.find((c) => mail.from.toLowerCase().includes(c.domain))
  const weeks = /(\d+)\s+(?:weeks|Wochen)/i.exec(text)
  const reference = /\b(PO-\d+)\b/.exec(text)
  const received = mail.receivedAt === undefined ? NaN : Date.parse(mail.receivedAt)
  const validUntil = new Date((Number.isNaN(received) ? Date.UTC(2025, 0, 1) : received) + 30 * 86_400_000)
  return {
    customer: customer?.company ?? (mail.from.replace(/\s*<.*>$/, "") || "unknown"),
    contact: mail.from,
    product: entry.product,
    sku: entry.sku,
    quantity,
    unit_price_eur: entry.unitPriceEur,
    discount_pct: discount,
    total_eur: round2(quantity * entry.unitPriceEur * (1 - discount / 100)),
    delivery: {
      site: sites.find((s) => text.includes(s)) ?? null,
      within_weeks: weeks === null ? null : Number(weeks[1]),
      incoterm: "DAP"
    },
    customer_reference: reference === null ? null : reference[1]!,
    valid_until: validUntil.toISOString().slice(0, 10)
  }
}

/**
 * Calls answered and tokens billed, per task.
 *
 * @since 0.1.0
 */
export interface Tally {
  readonly calls: number
  readonly promptTokens: number
  readonly completionTokens: number
}

/**
 * @since 0.1.0
 */
export interface Meter {
  readonly classify: Tally
  readonly draft: Tally
}

const systemOf = (messages: ReadonlyArray<ChatMessage>) => messages.find((m) => m.role === "system")?.content

/**
 * A responder playing the offer desk's model, with a meter of what it answered (the simulator calls
 * it once per answered request, not for injected faults, which a provider would not bill).
 * Requests with another system prompt get the simulator's default answer.
 *
 * @since 0.1.0
 */
export const make = (): { readonly responder: Responder; readonly meter: () => Meter } => {
  const tally = {
    classify: { calls: 0, promptTokens: 0, completionTokens: 0 },
    draft: { calls: 0, promptTokens: 0, completionTokens: 0 }
  }
  const responder: Responder = (request) => {
    const system = systemOf(request.messages)
    const task = system === CLASSIFY_PROMPT ? "classify" : system === DRAFT_PROMPT ? "draft" : undefined
    if (task === undefined) return defaultResponder(request)
    const mail = readMail(lastUserMessage(request.messages))
    const answer =
      task === "classify"
        ? JSON.stringify({ label: classify(mail) })
        : JSON.stringify(draft(mail) ?? { product: null, reason: "no catalogue product in the request" })
    const t = tally[task]
    t.calls++
    t.promptTokens += promptTokens(request.messages)
    t.completionTokens += fit(answer, request.maxTokens).completionTokens
    return answer
  }
  return { responder, meter: () => ({ classify: { ...tally.classify }, draft: { ...tally.draft } }) }
}
