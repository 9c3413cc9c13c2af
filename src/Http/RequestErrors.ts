/**
 * Two answers the HTTP API framework gives in its own shape, put in the shape of the API's other
 * errors (`{"_tag","message"}`, one line):
 * - a query string that fails its schema (`?maxTokens=-3`) is a 400 `InvalidRequest` (as in `Api.ts`) naming the
 *   parameter, not a multi-line parse tree;
 * - a known path asked with another method (`DELETE /v1/runs`) is a 405 with an `Allow` header and a
 *   message saying which methods it takes, not an empty 404;
 * - a body over the limit is a 413 that closes the connection, so a client need not send the rest.
 *
 * @since 0.1.0
 */
import { HttpApi, HttpApiBuilder, HttpApiError, HttpServerError, HttpServerResponse } from "@effect/platform"
import { Cause, Effect, Option } from "effect"
import { Api, PayloadTooLarge } from "./Api.js"

/** Each path of the API as a pattern, with the methods it takes. */
const routes: ReadonlyArray<{ readonly pattern: RegExp; readonly methods: Array<string> }> = (() => {
  const byPath = new Map<string, Array<string>>()
  HttpApi.reflect(Api, {
    onGroup: () => {},
    onEndpoint: ({ endpoint }) => {
      const methods = byPath.get(endpoint.path) ?? []
      methods.push(endpoint.method)
      byPath.set(endpoint.path, methods)
    }
  })
  return [...byPath].map(([p, methods]) => ({
    pattern: new RegExp(`^${p.replace(/:[^/]+/g, "[^/]+")}/?$`),
    methods: methods.sort()
  }))
})()

/**
 * The methods a path takes, when it is one of the API's.
 *
 * @since 0.1.0
 */
export const allowedMethods = (pathname: string): ReadonlyArray<string> | undefined =>
  routes.find((r) => r.pattern.test(pathname))?.methods

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = HttpApiBuilder.middleware((app) =>
  // The framework types the app's failures as `never`; they are its own errors, found by class.
  Effect.catchAllCause(app, (cause) => {
    const failure = Option.getOrUndefined(Cause.failureOption(cause as Cause.Cause<unknown>))
    if (failure instanceof HttpApiError.HttpApiDecodeError) {
      const message = failure.issues
        .slice(0, 5)
        .map((i) => (i.path.length > 0 ? `${i.path.map(String).join(".")}: ${i.message}` : i.message))
        .join("; ")
      return Effect.succeed(HttpServerResponse.unsafeJson({ _tag: "InvalidRequest", message }, { status: 400 }))
    }
    // The client may still be sending the rest of a body refused from its header: closing the connection
    // after the answer stops it, where keep-alive would have it send every byte first.
    if (failure instanceof PayloadTooLarge) {
      return Effect.succeed(
        HttpServerResponse.unsafeJson(
          { _tag: failure._tag, message: failure.message, limitBytes: failure.limitBytes },
          { status: 413, headers: { connection: "close" } }
        )
      )
    }
    if (failure instanceof HttpServerError.RouteNotFound) {
      const pathname = new URL(failure.request.url, "http://localhost").pathname
      const methods = allowedMethods(pathname)
      if (methods !== undefined && !methods.includes(failure.request.method)) {
        const allow = [...methods, ...(methods.includes("GET") ? ["HEAD"] : [])].join(", ")
        return Effect.succeed(
          HttpServerResponse.unsafeJson(
            {
              _tag: "MethodNotAllowed",
              message: `${failure.request.method} is not allowed on ${pathname}; it takes ${methods.join(" or ")}`
            },
            { status: 405, headers: { allow } }
          )
        )
      }
    }
    return Effect.failCause(cause)
  })
)
