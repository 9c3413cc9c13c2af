/**
 * API documentation: the OpenAPI 3.1 document at `/docs/openapi.json` and Swagger UI at `/docs`.
 *
 * In @effect/platform 0.97 `HttpApiSwagger` inlines the Swagger UI bundle and stylesheet into the page
 * (its only URLs are `data:` images), so `/docs` works with no network access; only `HttpApiScalar`
 * with `source: { type: "cdn" }` would fetch from a CDN, and it is not used. The bundle is about 2 MB
 * of JavaScript, so it is imported when the service starts rather than whenever the CLI loads.
 *
 * @since 0.1.0
 */
import type * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { Effect, Layer } from "effect"

/**
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<never, never, HttpApi.Api> = Layer.mergeAll(
  HttpApiBuilder.middlewareOpenApi({ path: "/docs/openapi.json" }),
  Layer.unwrapEffect(
    Effect.map(
      Effect.promise(() => import("@effect/platform/HttpApiSwagger")),
      (Swagger) => Swagger.layer({ path: "/docs" })
    )
  )
)
