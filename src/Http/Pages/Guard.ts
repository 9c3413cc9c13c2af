/**
 * Who may see and act on the dashboard when the service has a token (`SLUICE_TOKEN`): a browser cannot
 * send `Authorization: Bearer` on a link or a form, so the token is typed once into a sign-in form and
 * kept in an HttpOnly, SameSite=Strict cookie (a page on another site can neither read it nor post a
 * form with it). Scripts may still send the bearer header. Without a token everything passes (the
 * service then listens on loopback only).
 *
 * @since 0.1.0
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Effect, Redacted } from "effect"
import { createHash, timingSafeEqual } from "node:crypto"
import { esc, page, respond } from "./Html.js"

const COOKIE = "sluice_token"

/** Compares digests, so neither the length nor a prefix of the token leaks through timing. */
const same = (given: string, expected: string): boolean =>
  timingSafeEqual(createHash("sha256").update(given).digest(), createHash("sha256").update(expected).digest())

const cookieOf = (header: string | undefined): string | undefined => {
  for (const part of (header ?? "").split(";")) {
    const [k, ...v] = part.trim().split("=")
    if (k === COOKIE) {
      try {
        return decodeURIComponent(v.join("="))
      } catch {
        return undefined
      }
    }
  }
  return undefined
}

/**
 * Whether the request carries the token, as a bearer header or the sign-in cookie.
 *
 * @since 0.1.0
 */
export const allowed = (
  request: HttpServerRequest.HttpServerRequest,
  token: Redacted.Redacted<string> | undefined
): boolean => {
  if (token === undefined) return true
  const expected = Redacted.value(token)
  const bearer = /^bearer +(\S+) *$/i.exec(request.headers["authorization"] ?? "")
  if (bearer !== null && same(bearer[1]!, expected)) return true
  const cookie = cookieOf(request.headers["cookie"])
  return cookie !== undefined && same(cookie, expected)
}

const signIn = (next: string, refused: boolean) =>
  respond(
    page({
      title: "sign in",
      body: `<h2>This service needs its token</h2>
<p>Type the service's token (SLUICE_TOKEN). It is kept in a cookie for this site only.</p>
${refused ? `<p class="notice bad">That token was refused.</p>` : ""}
<form method="post" action="/login">
  <input type="hidden" name="next" value="${esc(next)}">
  <label>Token <input name="token" type="password" autocomplete="current-password" required></label>
  <button>Sign in</button>
</form>`
    }),
    401
  )

/**
 * Runs `handler` when the request may; otherwise a page answers 401 with the sign-in form, and any
 * other request (an upload, a retry, a download) a one-line 401.
 *
 * @since 0.1.0
 */
export const guard =
  (token: Redacted.Redacted<string> | undefined, kind: "page" | "action") =>
  <E, R>(
    handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
  ): Effect.Effect<HttpServerResponse.HttpServerResponse, E, R | HttpServerRequest.HttpServerRequest> =>
    Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
      if (allowed(request, token)) return handler
      return Effect.succeed(
        kind === "page"
          ? signIn(request.url, false)
          : HttpServerResponse.text(
              "unauthorized: this service needs its token (SLUICE_TOKEN) as `Authorization: Bearer <token>` or from the sign-in page\n",
              { status: 401 }
            )
      )
    })

/** Only a path on this site: never an open redirect. */
const safeNext = (next: unknown): string =>
  typeof next === "string" && next.startsWith("/") && !next.startsWith("//") ? next : "/"

/**
 * `POST /login`: checks the token and sets the cookie, then goes back to the page that asked.
 *
 * @since 0.1.0
 */
export const login = (token: Redacted.Redacted<string> | undefined) =>
  Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    const form = yield* Effect.orElseSucceed(request.urlParamsBody, () => [] as ReadonlyArray<[string, string]>)
    const field = (k: string) => form.find(([key]) => key === k)?.[1]
    const next = safeNext(field("next"))
    const given = field("token") ?? ""
    if (token === undefined) return HttpServerResponse.redirect(next, { status: 303 })
    if (!same(given, Redacted.value(token))) return signIn(next, true)
    const secure = request.headers["x-forwarded-proto"] === "https" ? "; Secure" : ""
    return HttpServerResponse.redirect(next, {
      status: 303,
      headers: {
        "set-cookie": `${COOKIE}=${encodeURIComponent(given)}; Path=/; HttpOnly; SameSite=Strict${secure}`
      }
    })
  })
