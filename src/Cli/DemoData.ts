/**
 * The demo's inbox: realistic mails to an industrial supplier's sales address — offer requests,
 * questions about where an order is, and the noise every shared inbox gets — generated
 * deterministically, so every machine sees the same run.
 *
 * @since 0.1.0
 */

/**
 * What the supplier sells: the demo's model prices offers from this list.
 *
 * @since 0.1.0
 */
export const catalogue: ReadonlyArray<{
  readonly product: string
  readonly sku: string
  readonly unitPriceEur: number
}> = [
  { product: "stainless steel brackets", sku: "BR-SS-40", unitPriceEur: 2.35 },
  { product: "M8 hex bolts", sku: "HB-M8-50", unitPriceEur: 0.12 },
  { product: "pallet racks", sku: "PR-2700", unitPriceEur: 189 },
  { product: "LED panels", sku: "LP-6060-40W", unitPriceEur: 27.5 },
  { product: "copper pipe fittings", sku: "CF-22-EL", unitPriceEur: 1.85 },
  { product: "nitrile safety gloves", sku: "GL-NI-9", unitPriceEur: 0.42 },
  { product: "galvanised cable trays", sku: "CT-G-300", unitPriceEur: 14.9 },
  { product: "hydraulic hoses", sku: "HH-12-2M", unitPriceEur: 38 },
  { product: "ball bearings 6204", sku: "BB-6204-2RS", unitPriceEur: 3.1 },
  { product: "aluminium profiles 40x40", sku: "AP-4040-6M", unitPriceEur: 46 }
]

/**
 * Senders: a contact and the company in their signature.
 *
 * @since 0.1.0
 */
export const customers: ReadonlyArray<{ readonly company: string; readonly contact: string; readonly domain: string }> =
  [
    { company: "Acme Fertigung GmbH", contact: "Jana Berg", domain: "acme-fertigung.example" },
    { company: "Nordlicht AG", contact: "Ole Hansen", domain: "nordlicht.example" },
    { company: "Blue Harbor Ltd", contact: "Priya Shah", domain: "blueharbor.example" },
    { company: "Kiwi Foods", contact: "Tom Walker", domain: "kiwifoods.example" },
    { company: "Stahlwerk Ost", contact: "Marek Nowak", domain: "stahlwerk-ost.example" },
    { company: "Orchard & Co", contact: "Claire Dubois", domain: "orchard.example" },
    { company: "Meridian Labs", contact: "Sofia Rossi", domain: "meridianlabs.example" },
    { company: "Fjord Freight AS", contact: "Ingrid Lie", domain: "fjordfreight.example" },
    { company: "Baltic Build SIA", contact: "Andris Ozols", domain: "balticbuild.example" },
    { company: "Helvetia Technik AG", contact: "Luca Meier", domain: "helvetia-technik.example" }
  ]

/**
 * Delivery sites customers name.
 *
 * @since 0.1.0
 */
export const sites: ReadonlyArray<string> = [
  "Hamburg",
  "Lyon",
  "Leeds",
  "Graz",
  "Gdańsk",
  "Bergen",
  "Turin",
  "Rotterdam"
]
const carriers = ["DHL", "UPS", "GLS", "DPD"]
const trackingStates = ["in transit", "label created", "delayed", "held at depot", "out for delivery"]

/**
 * What a mail really is: the ground truth the demo's model is checked against.
 *
 * @since 0.1.0
 */
export type Kind = "offer_request" | "tracking" | "other"

/**
 * A mail as the inbox source would hand it over.
 *
 * @since 0.1.0
 */
export interface Mail {
  readonly id: string
  readonly from: string
  readonly to: string
  readonly subject: string
  readonly receivedAt: string
  readonly body: string
}

const pick = <A>(xs: ReadonlyArray<A>, i: number): A => xs[((i % xs.length) + xs.length) % xs.length]!

/** A small deterministic scramble, so neighbouring mails do not look alike. */
const mix = (i: number, salt: number) => {
  let h = (i * 2654435761 + salt * 40503) >>> 0
  h ^= h >>> 15
  h = Math.imul(h, 2246822507) >>> 0
  return (h ^ (h >>> 13)) >>> 0
}

/**
 * The kind of the i-th mail: about 45% offer requests, 30% tracking questions, 25% noise.
 *
 * @since 0.1.0
 */
export const kindOf = (i: number): Kind => {
  const r = mix(i, 1) % 100
  return r < 45 ? "offer_request" : r < 75 ? "tracking" : "other"
}

const START = Date.UTC(2025, 2, 3, 7, 0, 0)

const offer = (i: number, c: (typeof customers)[number]): { subject: string; body: string } => {
  const item = pick(catalogue, mix(i, 2))
  const qty = pick([10, 24, 50, 60, 100, 120, 150, 200, 250, 400, 500, 750, 1000, 2500], mix(i, 3))
  const site = pick(sites, mix(i, 4))
  const weeks = 1 + (mix(i, 5) % 6)
  const ref = `PO-${(20000 + i * 13).toString()}`
  const first = c.contact.split(" ")[0]!
  switch (mix(i, 6) % 5) {
    case 0:
      return {
        subject: `Quote request: ${item.product}`,
        body: `Hello,\n\ncould you send us a quote for ${qty} ${item.product}, delivered to our ${site} site within ${weeks} weeks?\n\nBest regards,\n${c.contact}\n${c.company}`
      }
    case 1:
      return {
        subject: `Pricing for ${item.product}`,
        body: `Hi team,\n\nwe need ${qty} ${item.product} for a project in ${site}. Please send your best price including delivery within ${weeks} weeks.\n\nThanks,\n${first}\n${c.company}`
      }
    case 2:
      return {
        subject: `RFQ ${ref}`,
        body: `Dear Sir or Madam,\n\nplease provide an offer for ${qty} ${item.product} (our reference ${ref}).\nDelivery address: ${c.company}, ${site}.\nRequired delivery: within ${weeks} weeks.\n\nKind regards,\n${c.contact}`
      }
    case 3:
      return {
        subject: `Anfrage ${item.product}`,
        body: `Guten Tag,\n\nbitte senden Sie uns ein Angebot über ${qty} ${item.product}, Lieferung nach ${site} innerhalb von ${weeks} Wochen.\n\nMit freundlichen Grüßen\n${c.contact}\n${c.company}`
      }
    default:
      return {
        subject: `Re: ${item.product} for ${site}`,
        body: `Hi,\n\nfollowing our call: what would ${qty} ${item.product} cost us, delivered to ${site}? We would need them within ${weeks} weeks.\n\nCheers,\n${first} (${c.company})`
      }
  }
}

const tracking = (i: number, c: (typeof customers)[number]): { subject: string; body: string } => {
  const order = 40000 + ((i * 37) % 9000)
  const carrier = pick(carriers, mix(i, 7))
  const state = pick(trackingStates, mix(i, 8))
  const number = `${carrier.slice(0, 2)}${(1000000 + ((i * 7919) % 8999999)).toString()}`
  switch (mix(i, 9) % 3) {
    case 0:
      return {
        subject: `Order #${order}`,
        body: `Hi,\n\nwhere is our order #${order}? ${carrier} tracking says "${state}" (${number}).\n\nThanks,\n${c.contact}, ${c.company}`
      }
    case 1:
      return {
        subject: `Delivery of order #${order}`,
        body: `Hello,\n\nour delivery for order #${order} has not arrived yet. Could you send us the tracking number?\n\nRegards,\n${c.contact}\n${c.company}`
      }
    default:
      return {
        subject: `Shipment status order #${order}`,
        body: `Dear team,\n\nthe ${carrier} parcel ${number} for order #${order} shows "${state}" since Monday. Can you check with the carrier?\n\nBest,\n${c.contact}`
      }
  }
}

const noise = (i: number, c: (typeof customers)[number]): { subject: string; body: string; from?: string } => {
  switch (mix(i, 10) % 7) {
    case 0:
      return {
        subject: `${c.company} spring catalogue`,
        body: `Our spring catalogue is out now: new ranges, new colours, and 20% off selected lines until April.\n\nUnsubscribe: https://${c.domain}/u`
      }
    case 1:
      return {
        subject: "Automatic reply: out of office",
        body: `I am out of the office until Monday with limited access to e-mail. For urgent matters please call the front desk.\n\n${c.contact}`
      }
    case 2:
      return {
        subject: "Thanks for the visit",
        body: `Thanks for the visit last week, it was great to meet the team! Looking forward to the trade fair.\n\n${c.contact}`
      }
    case 3:
      return {
        subject: "Lunch on Friday?",
        body: `Are we still on for lunch on Friday at 12:30? I booked the usual place.\n\n${c.contact.split(" ")[0]}`
      }
    case 4:
      return {
        subject: "Your password expires in 3 days",
        body: "Your mailbox password expires in 3 days. Change it in the self-service portal to avoid interruptions.\n\nIT Service Desk",
        from: "it-servicedesk@stahlmann.example"
      }
    case 5:
      return {
        subject: "Invitation: quarterly review",
        body: `You are invited to the quarterly review on Thursday, 10:00–11:00, room Elbe.\n\nAgenda to follow.\n${c.contact}`
      }
    default:
      return {
        subject: "Congratulations, you have been selected!",
        body: "You have been selected for an exclusive reward. Confirm your details within 24 hours to claim it.",
        from: "rewards@prize-center.example"
      }
  }
}

/**
 * The i-th mail of the inbox.
 *
 * @since 0.1.0
 */
export const mail = (i: number): Mail => {
  const kind = kindOf(i)
  const c = pick(customers, mix(i, 11))
  const m: { subject: string; body: string; from?: string } =
    kind === "offer_request" ? offer(i, c) : kind === "tracking" ? tracking(i, c) : noise(i, c)
  const address = `${c.contact.toLowerCase().replace(/[^a-z]+/g, ".")}@${c.domain}`
  return {
    id: `mail-${String(i).padStart(5, "0")}`,
    from: m.from ?? `${c.contact} <${address}>`,
    to: "sales@stahlmann.example",
    subject: m.subject,
    receivedAt: new Date(START + i * 97_000).toISOString(),
    body: m.body
  }
}

/**
 * The first `n` mails of the inbox.
 *
 * @since 0.1.0
 */
export const mails = (n: number): Array<Mail> => Array.from({ length: n }, (_, i) => mail(i))
