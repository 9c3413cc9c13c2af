/**
 * Who may call the service: a bearer token (`SLUICE_TOKEN`) when one is configured, and the rule that
 * a service reachable from other machines must have one.
 *
 * @since 0.1.0
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import { Effect, Layer, Redacted } from "effect"
import { createHash, timingSafeEqual } from "node:crypto"
import { Authorization, Unauthorized } from "./Api.js"
import { isLoopback } from "./Loopback.js"

export { isLoopback }

/** Compares digests, so neither the length nor a prefix of the token leaks through timing. */
const sameSecret = (given: string, expected: string): boolean =>
  timingSafeEqual(createHash("sha256").update(given).digest(), createHash("sha256").update(expected).digest())

const unauthorized = new Unauthorized({
  message: "this route needs the header `Authorization: Bearer <token>` (SLUICE_TOKEN)"
})

/**
 * The `Authorization` middleware: with a token, a request passes only with `Authorization: Bearer
 * <token>`; without one, every request passes (the service then listens on loopback only). The token
 * stays `Redacted` and appears in no message.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (token: Redacted.Redacted<string> | undefined): Layer.Layer<Authorization> =>
  Layer.succeed(
    Authorization,
    Authorization.of({
      // The platform's bearer decoder drops the first seven characters whatever they are, so the
      // scheme is checked here against the raw header.
      bearer: () =>
        token === undefined
          ? Effect.void
          : Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
              const match = /^bearer +(\S+) *$/i.exec(request.headers["authorization"] ?? "")
              return match !== null && sameSecret(match[1]!, Redacted.value(token))
                ? Effect.void
                : Effect.fail(unauthorized)
            })
    })
  )
