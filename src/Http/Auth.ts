/**
 * Who may call the service: a bearer token (`SLUICE_TOKEN`) when one is configured, and the rule that
 * a service reachable from other machines must have one.
 *
 * @since 0.1.0
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import { Effect, Layer, Redacted } from "effect"
import { createHash, timingSafeEqual } from "node:crypto"
import * as net from "node:net"
import { Authorization, Unauthorized } from "./Api.js"

/**
 * True for addresses only this machine can reach: `localhost`, `127.0.0.0/8`, `::1` (and the
 * IPv4-mapped `::ffff:127.x.y.z`). `0.0.0.0`, `::` and every other address are reachable from outside.
 *
 * @since 0.1.0
 */
export const isLoopback = (host: string): boolean => {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, "$1")
  if (h === "localhost" || h.endsWith(".localhost")) return true
  if (net.isIPv4(h)) return h.startsWith("127.")
  if (net.isIPv6(h)) {
    if (h === "::1" || h === "0:0:0:0:0:0:0:1") return true
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h)
    return mapped !== null && mapped[1]!.startsWith("127.")
  }
  return false
}

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
