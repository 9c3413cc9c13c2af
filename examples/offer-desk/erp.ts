/**
 * A small ERP on 127.0.0.1 that creates offers, for the offer-desk example and its test.
 *
 * `POST /api/offers` with `{ customerEmail, subject, request }` and an `Idempotency-Key` header:
 * - 201 and the new offer; a key seen before answers 200 with the same offer, and creates nothing;
 * - 422 when the customer is unknown (a failure no retry will fix);
 * - 503 or 429 (`Retry-After: 1`) as the fault plan says, by idempotency key: the first calls for a
 *   key get the planned faults in order, the next one succeeds.
 * `GET /api/offers` lists the offers. Every call is recorded, and the server measures how many calls
 * were in flight at once.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { Effect, type Scope } from "effect"
import type { Customer } from "./mails.js"

export type Fault = 429 | 500 | 503

export interface ErpOptions {
  readonly customers: ReadonlyArray<Customer>
  /** Idempotency key → the statuses answered before the call succeeds. */
  readonly faults?: Readonly<Record<string, ReadonlyArray<Fault>>> | undefined
  /** How long every call takes, in milliseconds. Default 40. */
  readonly latencyMs?: number | undefined
}

export interface Offer {
  readonly id: string
  readonly number: string
  readonly customerId: string
  readonly customerName: string
  readonly reference: string
  readonly subject: string
  readonly createdAt: string
}

export interface ErpCall {
  readonly reference: string
  readonly status: number
  readonly startedAt: number
  readonly finishedAt: number
}

export interface Erp {
  /** e.g. `http://127.0.0.1:40123` */
  readonly url: string
  readonly calls: Effect.Effect<ReadonlyArray<ErpCall>>
  readonly offers: Effect.Effect<ReadonlyArray<Offer>>
  /** The most calls that were in flight at one moment. */
  readonly maxInFlight: Effect.Effect<number>
}

const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  const text = JSON.stringify(body)
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers })
  res.end(text)
}

const problem = (code: string, message: string) => ({ error: { code, message } })

const readBody = (req: IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    let body = ""
    req.setEncoding("utf8")
    req.on("data", (d: string) => (body += d))
    req.on("end", () => resolve(body))
    req.on("error", reject)
  })

/** Starts the ERP; it stops with the scope. */
export const make = (options: ErpOptions): Effect.Effect<Erp, never, Scope.Scope> =>
  Effect.gen(function* () {
    const latencyMs = options.latencyMs ?? 40
    const customers = new Map(options.customers.map((c) => [c.email.toLowerCase(), c]))
    const faults = options.faults ?? {}
    const offers: Array<Offer> = []
    const byKey = new Map<string, Offer>()
    const tries = new Map<string, number>()
    const calls: Array<ErpCall> = []
    let inFlight = 0
    let maxInFlight = 0

    const createOffer = async (req: IncomingMessage, res: ServerResponse) => {
      const startedAt = Date.now()
      inFlight++
      maxInFlight = Math.max(maxInFlight, inFlight)
      let reference = ""
      const answer = (status: number, body: unknown, headers?: Record<string, string>) => {
        calls.push({ reference, status, startedAt, finishedAt: Date.now() })
        inFlight--
        send(res, status, body, headers)
      }
      try {
        const text = await readBody(req)
        await new Promise((r) => setTimeout(r, latencyMs))
        reference = String(req.headers["idempotency-key"] ?? "")
        if (reference === "")
          return answer(400, problem("missing_idempotency_key", "an Idempotency-Key header is required"))
        let body: { customerEmail?: unknown; subject?: unknown; request?: unknown }
        try {
          body = JSON.parse(text)
        } catch {
          return answer(400, problem("bad_json", "the body is not JSON"))
        }
        const existing = byKey.get(reference)
        if (existing !== undefined) return answer(200, existing, { "idempotent-replayed": "true" })
        const n = tries.get(reference) ?? 0
        tries.set(reference, n + 1)
        const fault = faults[reference]?.[n]
        if (fault === 429)
          return answer(429, problem("rate_limited", "too many offers at once"), { "retry-after": "1" })
        if (fault !== undefined) return answer(fault, problem("unavailable", "the offer service is restarting"))
        if (typeof body.customerEmail !== "string" || typeof body.subject !== "string") {
          return answer(400, problem("bad_request", "customerEmail and subject are required"))
        }
        const customer = customers.get(body.customerEmail.toLowerCase())
        if (customer === undefined) {
          return answer(422, problem("unknown_customer", `no customer with e-mail ${body.customerEmail}`))
        }
        const seq = offers.length + 1
        const offer: Offer = {
          id: `OF-${9000 + seq}`,
          number: `AN-2025-${String(seq).padStart(4, "0")}`,
          customerId: customer.id,
          customerName: customer.name,
          reference,
          subject: body.subject,
          createdAt: new Date().toISOString()
        }
        offers.push(offer)
        byKey.set(reference, offer)
        return answer(201, offer)
      } catch (e) {
        return answer(500, problem("internal", e instanceof Error ? e.message : String(e)))
      }
    }

    const handle = (req: IncomingMessage, res: ServerResponse) => {
      const path = (req.url ?? "/").split("?")[0]
      if (req.method === "POST" && path === "/api/offers") return void createOffer(req, res)
      if (req.method === "GET" && path === "/api/offers") return send(res, 200, offers)
      if (req.method === "GET" && path === "/health") return send(res, 200, { ok: true })
      send(res, 404, problem("not_found", `${req.method} ${path}`))
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

    return {
      url: `http://127.0.0.1:${port}`,
      calls: Effect.sync(() => [...calls]),
      offers: Effect.sync(() => [...offers]),
      maxInFlight: Effect.sync(() => maxInFlight)
    }
  })
