/**
 * The process stage of the offer desk: creates an offer in the ERP for one mail, over
 * `@effect/platform`'s HttpClient. Every way the call can fail becomes one of sluice's typed errors, and
 * the engine's policy decides what happens next:
 * - 429 → `RateLimited` (everyone waits for `Retry-After`, no attempt spent);
 * - 408, 5xx, a timeout, a dropped connection, a body that is not an offer → `Transient` (retried);
 * - any other 4xx (422 unknown customer …) → `Invalid` (failed for good, kept for a person).
 *
 * The mail's key goes along as `Idempotency-Key`: should a crash replay the call after the ERP created
 * the offer, the ERP answers with the same offer instead of making a second one.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { Duration, Effect, Layer, Schema } from "effect"
import { Errors, type Item, Processor, Upstream } from "sluice"
import { Imap } from "sluice/imap"

export interface ErpClientOptions {
  /** e.g. `http://127.0.0.1:40123` */
  readonly baseUrl: string
  /** The whole call. Default 10 seconds. */
  readonly timeout?: Duration.DurationInput | undefined
}

/** What the ERP answers for a created offer (the fields the desk keeps). */
export const CreatedOffer = Schema.Struct({
  id: Schema.String,
  number: Schema.String,
  customerId: Schema.String,
  customerName: Schema.String
})

export type CreatedOffer = typeof CreatedOffer.Type

const decodeMail = Schema.decodeUnknown(Imap.Mail)
const decodeOffer = Schema.decodeUnknown(CreatedOffer)
const MAX_MESSAGE = 200

/** The ERP's own words from an error body (`{ error: { message } }`), else the start of the body. */
const reason = (body: string): string => {
  try {
    const parsed = JSON.parse(body) as { error?: { message?: unknown } }
    if (typeof parsed.error?.message === "string") return parsed.error.message
  } catch {
    // not JSON
  }
  return body.replace(/\s+/g, " ").trim().slice(0, MAX_MESSAGE) || "(no body)"
}

// The one status mapping sluice's own adapters use: 429 pauses, 408/409/5xx retry, 401/403 stop the
// run with the offers still pending, any other status fails the offer.
const fromStatus = (
  status: number,
  headers: Readonly<Record<string, string | undefined>>,
  body: string
): Errors.StageError =>
  Upstream.fromStatus(status, Upstream.fromRecord(headers), `ERP answered ${status}: ${reason(body)}`, { name: "ERP" })

const fromHttpError = (e: HttpClientError.HttpClientError): Errors.StageError =>
  e._tag === "RequestError"
    ? e.reason === "Transport"
      ? new Errors.Transient({ reason: "Connection", message: `ERP unreachable: ${e.message}` })
      : new Errors.Invalid({ reason: "Input", message: `ERP request not sent: ${e.message}` })
    : new Errors.Transient({
        reason: "Decode",
        status: e.response.status,
        message: `ERP response unreadable: ${e.message}`
      })

/**
 * @category constructors
 */
export const make = (
  options: ErpClientOptions
): Effect.Effect<Processor.Processor["Type"], never, HttpClient.HttpClient> =>
  Effect.gen(function* () {
    const http = yield* HttpClient.HttpClient
    const timeout = Duration.decode(options.timeout ?? "10 seconds")
    const url = `${options.baseUrl.replace(/\/$/, "")}/api/offers`

    const createOffer = Effect.fn("Erp.createOffer")(
      function* (item: Item.Item) {
        const mail = yield* decodeMail(item.payload).pipe(
          Effect.mapError(
            (e) => new Errors.Invalid({ reason: "Input", message: `not a mail: ${e.message.slice(0, MAX_MESSAGE)}` })
          )
        )
        if (mail.from === null) return yield* new Errors.Invalid({ reason: "Input", message: "the mail has no sender" })
        const request = HttpClientRequest.post(url).pipe(
          HttpClientRequest.acceptJson,
          HttpClientRequest.setHeader("idempotency-key", item.key),
          HttpClientRequest.bodyUnsafeJson({
            customerEmail: mail.from.address,
            subject: mail.subject,
            request: mail.text,
            receivedAt: mail.date
          })
        )
        const response = yield* http.execute(request)
        const body = yield* response.text
        if (response.status !== 200 && response.status !== 201) {
          return yield* fromStatus(response.status, response.headers, body)
        }
        const json = yield* Effect.try({
          try: (): unknown => JSON.parse(body),
          catch: () =>
            new Errors.Transient({
              reason: "Decode",
              status: response.status,
              message: `ERP answered ${response.status} with a body that is not JSON`
            })
        })
        return yield* decodeOffer(json).pipe(
          Effect.mapError(
            (e) =>
              new Errors.Transient({
                reason: "Decode",
                status: response.status,
                message: `ERP answered ${response.status} without an offer: ${e.message.slice(0, MAX_MESSAGE)}`
              })
          )
        )
      },
      (effect) => Effect.catchTag(effect, "RequestError", (e) => Effect.fail(fromHttpError(e))),
      (effect) => Effect.catchTag(effect, "ResponseError", (e) => Effect.fail(fromHttpError(e))),
      (effect) =>
        Effect.timeoutFail(effect, {
          duration: timeout,
          onTimeout: () =>
            new Errors.Transient({
              reason: "Timeout",
              message: `ERP did not answer within ${Duration.format(timeout)}`
            })
        })
    )

    return Processor.Processor.of({
      process: (item) => Effect.map(createOffer(item), (offer) => ({ output: offer }))
    })
  })

/**
 * @category layers
 */
export const layer = (options: ErpClientOptions): Layer.Layer<Processor.Processor, never, HttpClient.HttpClient> =>
  Layer.effect(Processor.Processor, make(options))
