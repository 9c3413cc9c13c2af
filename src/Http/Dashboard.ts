/**
 * The dashboard: server-rendered pages (no CDN, no build step) for an operator who asks "what failed,
 * and why?" and "how close to the limits are we running?".
 *
 * - `GET /`: the upload form and the runs, newest first, paged (`Pages/Home.ts`);
 * - `POST /runs`: a JSONL or CSV file streamed into a new run, then `303` to its page (`Pages/Upload.ts`);
 * - `GET /runs/<id>`: progress, throughput, ETA and its binding limit, tokens and cost, each limit's use,
 *   the breaker, and the failed items with retry buttons and downloads (`Pages/RunPage.ts`);
 * - `POST /login`: the sign-in form's target when the service has a token (`Pages/Guard.ts`).
 *
 * Each page polls a `…live` URL every two seconds for fresh panels; everything it shows is read from
 * the store, so it is right again as soon as a restarted service answers.
 *
 * @since 0.1.0
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Effect, type Layer, type Redacted } from "effect"
import type * as RunConfig from "../Domain/RunConfig.js"
import type { Progress } from "../Engine/Progress.js"
import { type Store, StoreError } from "../Store/Store.js"
import type { LimitsMeter } from "./LimitsMeter.js"
import { guard, login } from "./Pages/Guard.js"
import * as Home from "./Pages/Home.js"
import * as RunPage from "./Pages/RunPage.js"
import * as Upload from "./Pages/Upload.js"
import type { Engine } from "../Service/Workers.js"

/** @since 0.1.0 */
export interface DashboardOptions {
  /** When set, the pages ask for it once (a cookie) and refuse actions without it. */
  readonly token?: Redacted.Redacted<string> | undefined
  /** Settings of uploaded runs that the form leaves empty. */
  readonly defaults: Partial<RunConfig.RunConfigEncoded>
  /** Largest accepted upload in bytes. */
  readonly maxUploadBytes: number
}

/** @since 0.1.0 */
export const DEFAULT_MAX_UPLOAD_BYTES = 4 * 1024 ** 3

/**
 * The pages, on the API's router.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: DashboardOptions): Layer.Layer<never, never, Store | Progress | Engine | LimitsMeter> =>
  HttpApiBuilder.Router.use((router) =>
    Effect.gen(function* () {
      const context = yield* Effect.context<Store | Progress | Engine | LimitsMeter>()
      const page = guard(options.token, "page")
      const action = guard(options.token, "action")
      const run = <E, R>(handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E | StoreError, R>) =>
        handler.pipe(
          Effect.catchIf(
            (e): e is StoreError => e instanceof StoreError,
            (e) => Effect.succeed(RunPage.storeUnavailable(e))
          )
        )
      yield* router.get("/", page(Effect.provide(run(Home.show(options.defaults)), context)))
      yield* router.get("/runs.live", action(Effect.provide(run(Home.live), context)))
      yield* router.post(
        "/runs",
        action(Effect.provide(Upload.handle({ ...options, maxBytes: options.maxUploadBytes }), context))
      )
      yield* router.get("/runs/:id", page(Effect.provide(run(RunPage.show), context)))
      yield* router.get("/runs/:id/live", action(Effect.provide(run(RunPage.live), context)))
      yield* router.post("/runs/:id/retry", action(Effect.provide(run(RunPage.retry), context)))
      yield* router.get("/runs/:id/results.jsonl", action(Effect.provide(run(RunPage.download("jsonl")), context)))
      yield* router.get("/runs/:id/results.csv", action(Effect.provide(run(RunPage.download("csv")), context)))
      yield* router.post("/login", login(options.token))
    })
  )
