/**
 * An OpenAI-compatible chat-completions server on 127.0.0.1 with realistic limits, latency and faults.
 * Tests, `sluice demo`, the examples and the benchmarks run against it.
 *
 * Routes: `POST /v1/chat/completions` (also `/chat/completions`); control: `GET /_sim/stats`,
 * `GET /_sim/log`, `POST /_sim/reset`, `POST /_sim/outage?ms=N` (also under `/v1`).
 *
 * @since 0.1.0
 */
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { Context, Effect, Layer, type Scope } from "effect"
import { Handler } from "./Handler.js"
import type { SimulatorOptions } from "./Options.js"
import { Recorder } from "./Recorder.js"
import type { LogEntry, Stats } from "./Stats.js"

/** @since 0.1.0 */
export type { SimulatorOptions } from "./Options.js"

/**
 * @since 0.1.0
 * @category tags
 */
export class Simulator extends Context.Tag("sluice/Simulator/Simulator")<
  Simulator,
  {
    /** Base URL for an OpenAI client, ending in `/v1`. */
    readonly url: string
    readonly port: number
    readonly stats: Effect.Effect<Stats>
    /** Admitted requests, in the order they were answered. */
    readonly log: Effect.Effect<ReadonlyArray<LogEntry>>
    /** Every request answers 503 at once for the next `ms` milliseconds; 0 ends an outage. */
    readonly outage: (ms: number) => Effect.Effect<void>
    /** Stats, log, buckets, outage and the seeded draws back to their state at start. */
    readonly reset: Effect.Effect<void>
  }
>() {}

const listen = (server: Server, port: number) =>
  Effect.async<number, Error>((resume) => {
    const onError = (e: Error) => resume(Effect.fail(e))
    server.once("error", onError)
    server.listen(port, "127.0.0.1", () => {
      server.off("error", onError)
      resume(Effect.succeed((server.address() as AddressInfo).port))
    })
  })

const close = (server: Server) =>
  Effect.async<void>((resume) => {
    server.close(() => resume(Effect.void))
    // close() waits for every connection to end; idle keep-alive sockets would hold it for seconds.
    server.closeAllConnections()
  })

/**
 * Starts a simulator that closes with the scope. Invalid options and a port that cannot be bound
 * are defects: nothing downstream can act on them.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: SimulatorOptions): Effect.Effect<Simulator["Type"], never, Scope.Scope> =>
  Effect.gen(function* () {
    const recorder = yield* Effect.acquireRelease(
      Effect.sync(() => new Recorder(options.logFile)),
      (r) => Effect.sync(() => r.close())
    )
    const handler = yield* Effect.sync(() => new Handler(options, recorder))
    const server = createServer(handler.handle)
    // Node closes an idle keep-alive socket after 5 s, and a client that reuses it at that instant sees
    // "other side closed". Hosted APIs keep idle connections open far longer; so does the simulator.
    server.keepAliveTimeout = 65_000
    const port = yield* Effect.acquireRelease(listen(server, options.port ?? 0).pipe(Effect.orDie), () =>
      Effect.sync(() => handler.close()).pipe(Effect.zipRight(close(server)))
    )
    return Simulator.of({
      url: `http://127.0.0.1:${port}/v1`,
      port,
      stats: Effect.sync(() => handler.stats()),
      log: Effect.sync(() => handler.log()),
      outage: Effect.fn("Simulator.outage")(function* (ms: number) {
        yield* Effect.sync(() => handler.outage(ms))
      }),
      reset: Effect.sync(() => handler.reset()).pipe(Effect.withSpan("Simulator.reset"))
    })
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: SimulatorOptions): Layer.Layer<Simulator> => Layer.scoped(Simulator, make(options))

/**
 * Starts a simulator, logs its URL and limits, and runs until interrupted (`sluice simulate`).
 *
 * @since 0.1.0
 */
export const serve = (options: SimulatorOptions): Effect.Effect<never> =>
  Effect.scoped(
    Effect.gen(function* () {
      const simulator = yield* make(options)
      yield* Effect.log(`Simulator listening on ${simulator.url}`).pipe(
        Effect.annotateLogs({
          dialect: options.dialect ?? "legacy",
          rpm: options.rpm ?? 0,
          tpm: options.tpm ?? 0,
          latencyMs: options.latencyMs ?? 0,
          errorRate: options.errorRate ?? 0
        })
      )
      return yield* Effect.never
    })
  )
