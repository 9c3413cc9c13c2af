/**
 * A small helpdesk API on 127.0.0.1, shaped like Front's, for the tracking-extraction example and its
 * test: customer conversations about orders, some of whose messages carry parcel tracking numbers.
 *
 * - `GET /conversations?limit=N` lists conversations oldest first, at most 100 a page:
 *   `{ "_results": [{ id, subject, customer, created_at }], "_pagination": { "next": <URL> | null } }`.
 *   The next link carries an opaque cursor (the last id listed), so conversations added meanwhile
 *   appear on a later page, never shift one already read.
 * - `GET /conversations/{id}/messages` → `{ "_results": [{ id, author, body, created_at }] }`; 404 for an
 *   unknown id.
 * Every request is counted per endpoint (and per conversation), so a test can tell what a run fetched.
 * Planned faults answer the first requests for a page or a conversation with 429/500/503, in order.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { Effect, type Scope } from "effect"

export type Carrier = "UPS" | "DHL" | "FedEx" | "USPS" | "RoyalMail" | "DPD"

export interface Tracking {
  readonly carrier: Carrier
  readonly number: string
}

export interface Message {
  readonly id: string
  readonly author: "customer" | "agent"
  readonly body: string
  readonly created_at: string
}

export interface Conversation {
  readonly id: string
  readonly subject: string
  readonly customer: { readonly name: string; readonly email: string }
  readonly created_at: string
  readonly messages: ReadonlyArray<Message>
  /** The tracking numbers really in the messages, each once: what a perfect reader extracts. */
  readonly tracking: ReadonlyArray<Tracking>
}

/** Conversation ids by position: `cnv_00a1`…, so a test can name the n-th conversation. */
export const conversationId = (index: number): string => `cnv_${(0x1000 + index).toString(16)}`

// --- deterministic data ------------------------------------------------------------------------

/** mulberry32: a small seeded generator, so every run lists the same conversations. */
const rng = (seed: number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

type Rand = () => number
const pick = <A>(r: Rand, xs: ReadonlyArray<A>): A => xs[Math.floor(r() * xs.length)]!
const digits = (r: Rand, n: number) => Array.from({ length: n }, () => Math.floor(r() * 10)).join("")
const alnum = (r: Rand, n: number) =>
  Array.from({ length: n }, () => "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"[Math.floor(r() * 33)]).join("")
const letters = (r: Rand, n: number) =>
  Array.from({ length: n }, () => "ABCDEFGHJKLMNPRSTUVWXYZ"[Math.floor(r() * 23)]).join("")

/** A number in each carrier's real format. */
const trackingNumber = (r: Rand, carrier: Carrier): string => {
  switch (carrier) {
    case "UPS": // 1Z, 6-character shipper number, 2-digit service code, 8-digit package number
      return `1Z${alnum(r, 6)}${digits(r, 2)}${digits(r, 8)}`
    case "DHL": // DHL Express waybill: 10 digits
      return `${1 + Math.floor(r() * 9)}${digits(r, 9)}`
    case "FedEx": // 12 digits
      return `${7 + Math.floor(r() * 2)}${digits(r, 11)}`
    case "USPS": // 22 digits, starting 9400 / 9205 / 9361
      return `${pick(r, ["9400", "9205", "9361"])}${digits(r, 18)}`
    case "RoyalMail": // UPU S10: 2 letters, 9 digits, GB
      return `${letters(r, 2)}${digits(r, 9)}GB`
    case "DPD": // 14 digits
      return `0${digits(r, 13)}`
  }
}

const CARRIERS: ReadonlyArray<Carrier> = ["UPS", "UPS", "DHL", "DHL", "FedEx", "USPS", "RoyalMail", "DPD"]
const CARRIER_NAME: Record<Carrier, string> = {
  UPS: "UPS",
  DHL: "DHL Express",
  FedEx: "FedEx",
  USPS: "USPS",
  RoyalMail: "Royal Mail",
  DPD: "DPD"
}
const FIRST = [
  "Anna",
  "Ben",
  "Chloé",
  "Dmitri",
  "Emma",
  "Farid",
  "Grace",
  "Hiro",
  "Ines",
  "Jonas",
  "Kemi",
  "Lars",
  "Maya",
  "Noah",
  "Olga",
  "Priya"
]
const LAST = [
  "Keller",
  "Nguyen",
  "Okafor",
  "Schmidt",
  "Rossi",
  "Tanaka",
  "Dubois",
  "Silva",
  "Novak",
  "Evans",
  "Jensen",
  "Haddad"
]
const AGENTS = ["Sam", "Lea", "Tom", "Ivy"]

/** Numbers that look like numbers but are not tracking numbers: a careless reader would take them. */
const decoy = (r: Rand): string =>
  pick(r, [
    `My order number is #${digits(r, 6)}.`,
    `You can reach me on +44 20 ${digits(r, 4)} ${digits(r, 4)}.`,
    `It is about invoice INV-2024-${digits(r, 5)}.`,
    `My customer number is C-${digits(r, 5)}.`,
    `I paid €${Math.floor(r() * 400) + 20}.${digits(r, 2)} on the ${1 + Math.floor(r() * 28)}th.`
  ])

const shippedLine = (r: Rand, t: ReadonlyArray<Tracking>): string => {
  if (t.length === 1) {
    const only = t[0]!
    return pick(r, [
      `Good news: your order left our warehouse today with ${CARRIER_NAME[only.carrier]}. The tracking number is ${only.number}.`,
      `It shipped yesterday via ${CARRIER_NAME[only.carrier]}, tracking ${only.number}; it usually takes 2-3 working days.`,
      `I checked with the warehouse: the parcel went out with ${CARRIER_NAME[only.carrier]} under ${only.number}.`
    ])
  }
  const list = t.map((x) => `${CARRIER_NAME[x.carrier]} ${x.number}`).join(" and ")
  return `Your order was split into ${t.length} parcels because one item came from another warehouse: ${list}.`
}

const CONTEXTS = [
  {
    subject: "Where is my order?",
    ask: "Hi, I ordered a week ago and have not received anything yet. Could you tell me where my parcel is?"
  },
  { subject: "Delivery status", ask: "Hello, can you give me an update on my delivery? I need it before the weekend." },
  {
    subject: "Parcel not arrived",
    ask: "Dear team, the shop says my order was sent but nothing has arrived. Please help."
  },
  {
    subject: "Change of delivery address",
    ask: "Hi, I am moving next week. Is it still possible to change the delivery address?"
  },
  { subject: "Question about my invoice", ask: "Hello, I think I was charged twice for my last order. Can you check?" },
  { subject: "Return label", ask: "Hi, the jacket does not fit. How do I send it back?" },
  { subject: "Missing item", ask: "Hello, my parcel arrived but the charger is missing from the box." }
]

/**
 * `count` conversations, the first at position `from` (so more can be added later with new ids).
 * About half carry one or two tracking numbers; some mention one again in a later message, and many
 * carry order, phone and invoice numbers that are not tracking numbers.
 */
export const generate = (
  count: number,
  options: { readonly from?: number; readonly seed?: number } = {}
): Array<Conversation> => {
  const from = options.from ?? 0
  const out: Array<Conversation> = []
  for (let i = from; i < from + count; i++) {
    const r = rng((options.seed ?? 2025) * 7919 + i)
    const first = pick(r, FIRST)
    const last = pick(r, LAST)
    const context = pick(r, CONTEXTS)
    const shipped = r() < 0.55
    const tracking: Array<Tracking> = []
    if (shipped) {
      const n = r() < 0.2 ? 2 : 1
      for (let k = 0; k < n; k++) {
        const carrier = pick(r, CARRIERS)
        tracking.push({ carrier, number: trackingNumber(r, carrier) })
      }
    }
    const agent = pick(r, AGENTS)
    const start = Date.UTC(2025, 0, 1) + i * 3_600_000
    const at = (k: number) => new Date(start + k * 900_000).toISOString()
    const bodies: Array<{ author: "customer" | "agent"; body: string }> = [
      { author: "customer", body: `${r() < 0.6 ? `${context.ask} ${decoy(r)}` : context.ask}\n\nThanks, ${first}` }
    ]
    if (shipped) {
      bodies.push({ author: "agent", body: `Hi ${first},\n\n${shippedLine(r, tracking)}\n\nBest regards,\n${agent}` })
      if (r() < 0.35) {
        const again = tracking[0]!
        bodies.push({
          author: "customer",
          body: `Thanks! The ${CARRIER_NAME[again.carrier]} page for ${again.number} has not changed for two days though. ${decoy(r)}`
        })
      }
    } else {
      bodies.push({
        author: "agent",
        body: `Hi ${first},\n\nthank you for reaching out. ${pick(r, [
          "I have passed this on to our billing team; you will hear from them within two days.",
          "Your order has not shipped yet; it is scheduled to leave our warehouse on Monday.",
          "I have attached a prepaid return label. Please drop the parcel at any post office.",
          "We will send the missing item today at no cost."
        ])}\n\nBest regards,\n${agent}`
      })
    }
    const id = conversationId(i)
    out.push({
      id,
      subject: context.subject,
      customer: { name: `${first} ${last}`, email: `${first.toLowerCase()}.${last.toLowerCase()}@example.com` },
      created_at: at(0),
      messages: bodies.map((b, k) => ({
        id: `msg_${id.slice(4)}_${k + 1}`,
        author: b.author,
        body: b.body,
        created_at: at(k)
      })),
      tracking
    })
  }
  return out
}

// --- the server --------------------------------------------------------------------------------

export type Fault = 429 | 500 | 503

export interface HelpdeskOptions {
  readonly conversations: ReadonlyArray<Conversation>
  /** The most a page holds (and the default `limit`). Default 100. */
  readonly pageSize?: number | undefined
  /** Every request takes this long, in milliseconds. Default 5. */
  readonly latencyMs?: number | undefined
  /** Page number (1 = first) → the statuses its first requests answer, in order. */
  readonly pageFaults?: Readonly<Record<number, ReadonlyArray<Fault>>> | undefined
  /** Conversation id → the statuses its first message fetches answer, in order. */
  readonly messageFaults?: Readonly<Record<string, ReadonlyArray<Fault>>> | undefined
}

export interface Counts {
  /** `GET /conversations` requests, whatever they answered. */
  readonly pages: number
  /** `GET /conversations/{id}/messages` requests, whatever they answered. */
  readonly messages: number
  /** Message fetches per conversation id. */
  readonly messagesBy: ReadonlyMap<string, number>
  /** Requests answered with a status other than 200, by status. */
  readonly errors: ReadonlyMap<number, number>
}

export interface Helpdesk {
  /** e.g. `http://127.0.0.1:40123` */
  readonly url: string
  /** New conversations, listed after the existing ones. */
  readonly add: (conversations: ReadonlyArray<Conversation>) => Effect.Effect<void>
  readonly counts: Effect.Effect<Counts>
}

const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  const text = JSON.stringify(body)
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers })
  res.end(text)
}

const problem = (status: number, message: string) => ({ _error: { status, title: message } })

const encodeCursor = (lastId: string) => Buffer.from(JSON.stringify({ after: lastId })).toString("base64url")
const decodeCursor = (cursor: string): string | undefined => {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as { after?: unknown }
    return typeof parsed.after === "string" ? parsed.after : undefined
  } catch {
    return undefined
  }
}

/** Starts the helpdesk; it stops with the scope. */
export const make = (options: HelpdeskOptions): Effect.Effect<Helpdesk, never, Scope.Scope> =>
  Effect.gen(function* () {
    const pageSize = options.pageSize ?? 100
    const latencyMs = options.latencyMs ?? 5
    const conversations: Array<Conversation> = [...options.conversations]
    const byId = new Map(conversations.map((c) => [c.id, c]))
    const tries = new Map<string, number>()
    let pages = 0
    let messages = 0
    const messagesBy = new Map<string, number>()
    const errors = new Map<number, number>()
    let base = ""

    const fault = (plan: ReadonlyArray<Fault> | undefined, key: string): Fault | undefined => {
      const n = tries.get(key) ?? 0
      tries.set(key, n + 1)
      return plan?.[n]
    }
    const answer = (res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>) => {
      if (status !== 200) errors.set(status, (errors.get(status) ?? 0) + 1)
      send(res, status, body, headers)
    }
    const faulted = (res: ServerResponse, status: Fault) =>
      status === 429
        ? answer(res, 429, problem(429, "Rate limit exceeded"), { "retry-after": "1" })
        : answer(res, status, problem(status, "The service is temporarily unavailable"))

    const list = (res: ServerResponse, query: URLSearchParams) => {
      pages++
      const limit = Math.min(pageSize, Math.max(1, Number(query.get("limit") ?? pageSize) || pageSize))
      const cursor = query.get("cursor")
      let start = 0
      if (cursor !== null) {
        const after = decodeCursor(cursor)
        const index = after === undefined ? -1 : conversations.findIndex((c) => c.id === after)
        if (index < 0) return answer(res, 400, problem(400, "Invalid cursor"))
        start = index + 1
      }
      const page = Math.floor(start / pageSize) + 1
      const planned = fault(options.pageFaults?.[page], `page:${start}`)
      if (planned !== undefined) return faulted(res, planned)
      const slice = conversations.slice(start, start + limit)
      const more = start + slice.length < conversations.length
      const next = more
        ? `${base}/conversations?limit=${limit}&cursor=${encodeCursor(slice[slice.length - 1]!.id)}`
        : null
      answer(res, 200, {
        _results: slice.map((c) => ({ id: c.id, subject: c.subject, customer: c.customer, created_at: c.created_at })),
        _pagination: { next }
      })
    }

    const messagesOf = (res: ServerResponse, id: string) => {
      messages++
      messagesBy.set(id, (messagesBy.get(id) ?? 0) + 1)
      const conversation = byId.get(id)
      if (conversation === undefined) return answer(res, 404, problem(404, `No conversation ${id}`))
      const planned = fault(options.messageFaults?.[id], `messages:${id}`)
      if (planned !== undefined) return faulted(res, planned)
      answer(res, 200, { _results: conversation.messages })
    }

    const handle = (req: IncomingMessage, res: ServerResponse) => {
      const url = new URL(req.url ?? "/", "http://localhost")
      const route = () => {
        if (req.method !== "GET") return answer(res, 405, problem(405, "Method not allowed"))
        if (url.pathname === "/conversations") return list(res, url.searchParams)
        const m = /^\/conversations\/([^/]+)\/messages$/.exec(url.pathname)
        if (m !== null) return messagesOf(res, decodeURIComponent(m[1]!))
        answer(res, 404, problem(404, `Unknown route ${url.pathname}`))
      }
      if (latencyMs > 0) setTimeout(route, latencyMs)
      else route()
    }

    const server: Server = createServer(handle)
    const port = yield* Effect.acquireRelease(
      Effect.async<number>((resume) => {
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed((server.address() as AddressInfo).port)))
      }),
      () =>
        Effect.async<void>((resume) => {
          server.close(() => resume(Effect.void))
          // Idle keep-alive connections would hold close() open for seconds.
          server.closeAllConnections()
        })
    )
    base = `http://127.0.0.1:${port}`

    return {
      url: base,
      add: (more) =>
        Effect.sync(() => {
          for (const c of more) {
            conversations.push(c)
            byId.set(c.id, c)
          }
        }),
      counts: Effect.sync(() => ({ pages, messages, messagesBy: new Map(messagesBy), errors: new Map(errors) }))
    }
  })
