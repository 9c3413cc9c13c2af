/**
 * The demo's bundled sample: realistic short mails, generated deterministically so every machine
 * sees the same run.
 *
 * @since 0.1.0
 */

const customers = ["Acme GmbH", "Nordlicht AG", "Blue Harbor Ltd", "Kiwi Foods", "Stahlwerk Ost", "Orchard & Co", "Meridian Labs", "Fjord Freight"]
const products = ["stainless brackets", "M8 hex bolts", "pallet racks", "LED panels", "copper fittings", "safety gloves", "cable trays", "hydraulic hoses"]
const carriers = ["DHL", "UPS", "GLS", "DPD"]

const pick = <A>(xs: ReadonlyArray<A>, i: number): A => xs[i % xs.length]!

/**
 * A mail of one of three kinds: an offer request, a tracking question, or noise.
 *
 * @since 0.1.0
 */
export const mail = (i: number) => {
  const customer = pick(customers, i * 7 + 3)
  const kind = i % 5 === 0 || i % 7 === 0 ? "tracking" : i % 3 === 0 ? "noise" : "offer"
  const qty = 10 + ((i * 37) % 490)
  const product = pick(products, i * 11 + 1)
  const body =
    kind === "offer"
      ? `Hello, could you send us a quote for ${qty} ${product}, delivery to our ${pick(["Hamburg", "Lyon", "Leeds", "Graz"], i)} site within ${2 + (i % 4)} weeks? Best regards, ${customer}`
      : kind === "tracking"
        ? `Hi, where is our order #${40000 + i}? ${pick(carriers, i)} tracking says ${pick(["in transit", "label created", "delayed"], i)} (${pick(carriers, i).slice(0, 2)}${(1000000 + i * 7919).toString()}). Thanks, ${customer}`
        : pick(
            [
              `Newsletter: ${customer} spring catalogue is out now.`,
              `Out of office until Monday. — ${customer}`,
              `Thanks for the visit last week, great to meet the team! ${customer}`
            ],
            i
          )
  return { id: `mail-${String(i).padStart(5, "0")}`, from: `${customer.toLowerCase().replace(/[^a-z]+/g, ".")}@example.com`, subject: kind === "offer" ? `Quote request: ${product}` : kind === "tracking" ? `Order #${40000 + i}` : "Hello", body }
}

/** @since 0.1.0 */
export const mails = (n: number) => Array.from({ length: n }, (_, i) => mail(i))
