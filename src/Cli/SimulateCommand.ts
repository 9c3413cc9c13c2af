/**
 * `sluice simulate`: an OpenAI-compatible server on loopback with limits, latency and faults.
 *
 * @since 0.1.0
 */
import { Command, Options } from "@effect/cli"
import { Option } from "effect"
import * as Simulator from "../Simulator/Simulator.js"

/** @since 0.1.0 */
export const command = Command.make(
  "simulate",
  {
    port: Options.integer("port").pipe(
      Options.withDefault(8080),
      Options.withDescription("Port on 127.0.0.1 (0 = any free port)")
    ),
    rpm: Options.integer("rpm").pipe(
      Options.withDefault(0),
      Options.withDescription("Requests per minute; 0 = unlimited")
    ),
    tpm: Options.integer("tpm").pipe(
      Options.withDefault(0),
      Options.withDescription("Tokens per minute; 0 = unlimited")
    ),
    latencyMs: Options.integer("latency-ms").pipe(
      Options.withDefault(300),
      Options.withDescription("Median latency (lognormal)")
    ),
    latencySigma: Options.float("latency-sigma").pipe(
      Options.withDefault(0.5),
      Options.withDescription("Lognormal sigma")
    ),
    errorRate: Options.float("error-rate").pipe(
      Options.withDefault(0),
      Options.withDescription("Fraction of answers that are 500s")
    ),
    retryAfter: Options.choice("retry-after", ["ms", "seconds"]).pipe(
      Options.withDefault("ms" as const),
      Options.withDescription("ms: retry-after-ms and retry-after on a 429; seconds: only a whole-second retry-after")
    ),
    seed: Options.integer("seed").pipe(Options.withDefault(1)),
    log: Options.text("log").pipe(
      Options.optional,
      Options.withDescription("Append every admitted request to this JSONL file")
    )
  },
  (o) =>
    Simulator.serve({
      port: o.port,
      rpm: o.rpm,
      tpm: o.tpm,
      latencyMs: o.latencyMs,
      latencySigma: o.latencySigma,
      errorRate: o.errorRate,
      retryAfter: o.retryAfter,
      seed: o.seed,
      ...(Option.isSome(o.log) ? { logFile: o.log.value } : {})
    })
).pipe(
  Command.withDescription("Serve an OpenAI-compatible chat completions API on loopback with limits, latency and faults")
)
