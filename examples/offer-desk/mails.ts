/**
 * The offer desk's inbox: twenty realistic mails (offer requests in three languages, tracking
 * questions, newsletters, an auto-reply, a complaint …), the ERP's customer master data, and the
 * ERP faults the scenario plans. Everything is fixed, so every run sees the same mails.
 *
 * Outcome of a run: 11 offer requests, of which 3 come from senders the ERP does not know (422, failed
 * for good) and 8 get an offer (three of them only after a 503 or a 429); the other 9 mails are skipped.
 */

export type Kind = "offer_request" | "tracking" | "newsletter" | "invoice" | "auto_reply" | "complaint" | "thanks"

export interface Mailbox {
  readonly name: string
  readonly address: string
}

export interface ExampleMail {
  readonly messageId: string
  readonly from: Mailbox
  readonly subject: string
  /** ISO 8601. */
  readonly date: string
  readonly text: string
  /** When set, the mail is multipart/alternative with this HTML part. */
  readonly html?: string | undefined
  /** Extra headers, e.g. `List-Unsubscribe`. */
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** What the mail really is: the expected classification. */
  readonly kind: Kind
}

export interface Customer {
  readonly id: string
  readonly name: string
  readonly email: string
}

/** The desk's own address. */
export const desk: Mailbox = { name: "ACME Industrial Sales", address: "sales@acme-industrial.example" }

/** The ERP's customers: an offer request from any other address is refused (422). */
export const customers: ReadonlyArray<Customer> = [
  { id: "C-1001", name: "Hartmann Maschinenbau GmbH", email: "einkauf@hartmann-maschinenbau.example" },
  { id: "C-1002", name: "Nordlicht Logistics AS", email: "procurement@nordlicht-logistics.example" },
  { id: "C-1003", name: "Bäckerei Sonnenschein", email: "info@baeckerei-sonnenschein.example" },
  { id: "C-1004", name: "Atlas Facility Services Ltd", email: "purchasing@atlas-fs.example" },
  { id: "C-1005", name: "Verde Gardens BV", email: "orders@verdegardens.example" },
  { id: "C-1006", name: "Kestrel Labs Inc.", email: "ops@kestrel-labs.example" },
  { id: "C-1007", name: "Moreau & Fils SARL", email: "achats@moreau-fils.example" },
  { id: "C-1008", name: "Lindqvist Bygg AB", email: "inkop@lindqvistbygg.example" }
]

const at = (minutes: number) => new Date(Date.UTC(2025, 10, 14, 7, 30) + minutes * 60_000).toISOString()
const id = (n: number, domain: string) =>
  `<20251114.${String(n).padStart(4, "0")}.${(n * 7919).toString(36)}@${domain}>`

export const inbox: ReadonlyArray<ExampleMail> = [
  {
    messageId: id(1, "hartmann-maschinenbau.example"),
    from: { name: "Petra Hartmann", address: "einkauf@hartmann-maschinenbau.example" },
    subject: "Anfrage: Angebot für 40 Hydraulikzylinder HZ-80",
    date: at(0),
    text: `Sehr geehrte Damen und Herren,

bitte senden Sie uns ein Angebot für 40 Hydraulikzylinder HZ-80 (Hub 250 mm), Lieferung frei Haus
nach Bielefeld, gewünschter Liefertermin KW 3.

Mit freundlichen Grüßen
Petra Hartmann
Hartmann Maschinenbau GmbH`,
    kind: "offer_request"
  },
  {
    messageId: id(2, "kestrel-labs.example"),
    from: { name: "Dana Whitfield", address: "ops@kestrel-labs.example" },
    subject: "Where is my order SO-10442?",
    date: at(4),
    text: `Hi team,

our order SO-10442 was due on Monday and has not arrived. Could you check where it is and send the
tracking number?

Thanks,
Dana`,
    kind: "tracking"
  },
  {
    messageId: id(3, "nordlicht-logistics.example"),
    from: { name: "Ola Nordmann", address: "procurement@nordlicht-logistics.example" },
    subject: "Request for quotation: 12 pallet racks",
    date: at(9),
    text: `Hello,

we would like a quotation for 12 pallet racks (2700 x 1100 mm, 3 levels, 1000 kg per level),
delivered to our Drammen warehouse. Please include installation as an option.

Best regards,
Ola Nordmann
Nordlicht Logistics AS`,
    kind: "offer_request"
  },
  {
    messageId: id(4, "mail.fastenerworld.example"),
    from: { name: "FastenerWorld", address: "news@fastenerworld.example" },
    subject: "Spring offer: 20% off all stainless fasteners",
    date: at(13),
    text: `Spring offer: 20% off all stainless fasteners until 30 November.
Shop now at https://fastenerworld.example/spring

You receive this newsletter because you subscribed. Unsubscribe: https://fastenerworld.example/u/8812`,
    html: `<html><body><h1>Spring offer</h1><p><b>20% off</b> all stainless fasteners until 30 November.</p>
<p><a href="https://fastenerworld.example/spring">Shop now</a></p>
<p style="font-size:small">You receive this newsletter because you subscribed.
<a href="https://fastenerworld.example/u/8812">Unsubscribe</a></p></body></html>`,
    headers: { "List-Unsubscribe": "<https://fastenerworld.example/u/8812>" },
    kind: "newsletter"
  },
  {
    messageId: id(5, "novak-dental.example"),
    from: { name: "Martin Novák", address: "m.novak@novak-dental.example" },
    subject: "Quote for 500 pairs of nitrile gloves",
    date: at(18),
    text: `Good morning,

could you send me a quote for 500 pairs of nitrile gloves, size M, powder-free?
We are a new dental practice in Brno.

Kind regards,
Martin Novák`,
    kind: "offer_request"
  },
  {
    messageId: id(6, "atlas-fs.example"),
    from: { name: "Graham Pike", address: "purchasing@atlas-fs.example" },
    subject: "Automatic reply: Delivery schedule week 47",
    date: at(22),
    text: `Thank you for your message. I am out of office until 21 November with limited access to e-mail.
For urgent matters please contact facilities@atlas-fs.example.

Graham Pike`,
    headers: { "Auto-Submitted": "auto-replied" },
    kind: "auto_reply"
  },
  {
    messageId: id(7, "baeckerei-sonnenschein.example"),
    from: { name: "Jonas Becker", address: "info@baeckerei-sonnenschein.example" },
    subject: "Angebot Edelstahl-Arbeitstische",
    date: at(27),
    text: `Hallo,

wir eröffnen eine zweite Filiale und bräuchten ein Angebot über 6 Edelstahl-Arbeitstische
(1800 x 700 mm) mit Unterboden. Würden Sie uns bitte auch die Lieferzeit nennen?

Viele Grüße aus Freiburg
Jonas Becker`,
    kind: "offer_request"
  },
  {
    messageId: id(8, "verdegardens.example"),
    from: { name: "Sanne de Vries", address: "orders@verdegardens.example" },
    subject: "Invoice INV-2291: wrong VAT number",
    date: at(31),
    text: `Hello,

invoice INV-2291 shows our old VAT number. Could you please correct it to NL859912345B01 and
send the corrected invoice?

Regards,
Sanne de Vries`,
    kind: "invoice"
  },
  {
    messageId: id(9, "verdegardens.example"),
    from: { name: "Sanne de Vries", address: "orders@verdegardens.example" },
    subject: "Irrigation pumps for the new greenhouse",
    date: at(36),
    text: `Hello again,

can you quote 3 irrigation pumps (5.5 kW, 400 V) for our new greenhouse in Westland? We would need
them before the end of January.

Regards,
Sanne de Vries
Verde Gardens BV`,
    kind: "offer_request"
  },
  {
    messageId: id(10, "gmail.example"),
    from: { name: "Tom Baker", address: "tom.baker84@gmail.example" },
    subject: "Tracking number for delivery 88123?",
    date: at(40),
    text: `Hi,

I got an e-mail that delivery 88123 was shipped but there is no tracking number in it. Can you send it?

Tom`,
    kind: "tracking"
  },
  {
    messageId: id(11, "brightside-cafe.example"),
    from: { name: "Lea Sommer", address: "hello@brightside-cafe.example" },
    subject: "Angebotsanfrage Kompressor",
    date: at(45),
    text: `Guten Tag,

bitte schicken Sie mir ein Angebot für einen ölfreien Kompressor (50 l, 230 V) für unser Café.

Danke und beste Grüße
Lea Sommer`,
    kind: "offer_request"
  },
  {
    messageId: id(12, "tradeweekly.example"),
    from: { name: "Trade Weekly", address: "digest@tradeweekly.example" },
    subject: "Your November industry digest",
    date: at(49),
    text: `This week: steel prices ease for the third month, port congestion in Rotterdam, and five
trends for warehouse automation in 2026.

Read online: https://tradeweekly.example/digest/2025-46
Manage your subscription or unsubscribe: https://tradeweekly.example/prefs`,
    headers: { "List-Unsubscribe": "<https://tradeweekly.example/prefs>" },
    kind: "newsletter"
  },
  {
    messageId: id(13, "atlas-fs.example"),
    from: { name: "Facilities Atlas", address: "purchasing@atlas-fs.example" },
    subject: "RFQ: 25 cleaning trolleys",
    date: at(54),
    text: `Dear Sales,

please provide your best offer for 25 cleaning trolleys with two 25 l buckets and a wringer, for
delivery to our Leeds depot.

Kind regards,
Facilities, Atlas Facility Services Ltd`,
    kind: "offer_request"
  },
  {
    messageId: id(14, "lindqvistbygg.example"),
    from: { name: "Erik Lindqvist", address: "inkop@lindqvistbygg.example" },
    subject: "Damaged goods in shipment SO-10390",
    date: at(58),
    text: `Hello,

two of the ten scaffold frames in shipment SO-10390 arrived bent. Photos attached to our portal case
7781. Please replace them.

Erik Lindqvist`,
    kind: "complaint"
  },
  {
    messageId: id(15, "kestrel-labs.example"),
    from: { name: "Dana Whitfield", address: "ops@kestrel-labs.example" },
    subject: "Pricing request: 4 fume hoods",
    date: at(63),
    text: `Hi,

we are fitting out a new lab. Can you send us a quote for 4 ducted fume hoods, 1500 mm wide, with
installation and certification?

Thanks,
Dana Whitfield
Kestrel Labs`,
    kind: "offer_request"
  },
  {
    messageId: id(16, "moreau-fils.example"),
    from: { name: "Claire Moreau", address: "achats@moreau-fils.example" },
    subject: "Merci pour la livraison rapide",
    date: at(67),
    text: `Bonjour,

un grand merci pour la livraison rapide de la semaine dernière, tout est arrivé en parfait état.

Cordialement,
Claire Moreau`,
    kind: "thanks"
  },
  {
    messageId: id(17, "moreau-fils.example"),
    from: { name: "Claire Moreau", address: "achats@moreau-fils.example" },
    subject: "Demande de devis : 10 établis d'atelier",
    date: at(72),
    text: `Bonjour,

pourriez-vous nous faire un devis pour 10 établis d'atelier (2000 x 750 mm, plateau hêtre) avec
livraison à Lyon ?

Cordialement,
Claire Moreau
Moreau & Fils SARL`,
    kind: "offer_request"
  },
  {
    messageId: id(18, "okafor-builders.example"),
    from: { name: "Tunde Okafor", address: "t.okafor@okafor-builders.example" },
    subject: "Offer request: forklift batteries",
    date: at(76),
    text: `Hello,

we would like an offer for 2 traction batteries for a 2.5 t forklift (48 V, 620 Ah).

Best,
Tunde Okafor`,
    kind: "offer_request"
  },
  {
    messageId: id(19, "hartmann-maschinenbau.example"),
    from: { name: "Petra Hartmann", address: "einkauf@hartmann-maschinenbau.example" },
    subject: "Lieferstatus Bestellung 55821",
    date: at(81),
    text: `Hallo,

können Sie mir bitte den Lieferstatus unserer Bestellung 55821 mitteilen?

Danke, Petra Hartmann`,
    kind: "tracking"
  },
  {
    messageId: id(20, "lindqvistbygg.example"),
    from: { name: "Erik Lindqvist", address: "inkop@lindqvistbygg.example" },
    subject: "Quotation request: scaffolding clamps",
    date: at(85),
    text: `Hello,

please send us a quotation for 800 swivel couplers and 400 right-angle couplers (EN 74-1), delivery
to Göteborg.

Regards,
Erik Lindqvist
Lindqvist Bygg AB`,
    kind: "offer_request"
  }
]

/**
 * What the ERP answers before it accepts an offer, by the mail's Message-ID: a 503 or two, a 429.
 * These recover on retry; unknown customers (422) fail for good on their own.
 */
export const erpFaults: Readonly<Record<string, ReadonlyArray<503 | 429>>> = {
  [inbox[2]!.messageId]: [503],
  [inbox[8]!.messageId]: [429],
  [inbox[12]!.messageId]: [503, 503]
}

const known = new Set(customers.map((cu) => cu.email))

/** True when the ERP knows the sender. */
export const isCustomer = (mail: ExampleMail): boolean => known.has(mail.from.address.toLowerCase())

// ---- RFC 5322 -------------------------------------------------------------------------------------

const ascii = (s: string) => /^[\x20-\x7e]*$/.test(s)
/** An RFC 2047 encoded word when the text is not plain ASCII. */
const word = (s: string) => (ascii(s) ? s : `=?UTF-8?B?${Buffer.from(s, "utf8").toString("base64")}?=`)
const address = (m: Mailbox) => `${ascii(m.name) ? JSON.stringify(m.name) : word(m.name)} <${m.address}>`
const crlf = (s: string) => s.replace(/\r?\n/g, "\r\n")

/** The mail as an RFC 5322 message (UTF-8, 8bit bodies, CRLF), ready for IMAP APPEND. */
export const toRfc822 = (mail: ExampleMail, to: Mailbox = desk): string => {
  const head = [
    `Message-ID: ${mail.messageId}`,
    `Date: ${new Date(mail.date).toUTCString().replace("GMT", "+0000")}`,
    `From: ${address(mail.from)}`,
    `To: ${address(to)}`,
    `Subject: ${word(mail.subject)}`,
    `MIME-Version: 1.0`,
    ...Object.entries(mail.headers ?? {}).map(([k, v]) => `${k}: ${v}`)
  ]
  if (mail.html === undefined) {
    return crlf(
      [...head, "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", "", mail.text, ""].join(
        "\n"
      )
    )
  }
  const boundary = `=_alt_${mail.messageId.replace(/[^a-z0-9]/gi, "").slice(0, 24)}`
  return crlf(
    [
      ...head,
      `Content-Type: multipart/alternative; boundary="${boundary}"`,
      "",
      `--${boundary}`,
      "Content-Type: text/plain; charset=utf-8",
      "Content-Transfer-Encoding: 8bit",
      "",
      mail.text,
      `--${boundary}`,
      "Content-Type: text/html; charset=utf-8",
      "Content-Transfer-Encoding: 8bit",
      "",
      mail.html,
      `--${boundary}--`,
      ""
    ].join("\n")
  )
}
