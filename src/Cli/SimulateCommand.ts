/**
 * `sluice simulate`: an OpenAI-compatible server on loopback with limits, latency and faults.
 *
 * @since 0.1.0
 */
import { Command, Options } from "@effect/cli"
import { Effect, Option } from "effect"
import * as Simulator from "../Simulator/Simulator.js"
import { interruption } from "./CliError.js"
import * as Flags from "./Flags.js"
import * as Setting from "./Setting.js"

/** @since 0.1.0 */
export const command = Command.make(
  "simulate",
  {
    port: Flags.port,
    // Not SLUICE_RPM / SLUICE_TPM: those say what a client may ask of its upstream, not what this
    // upstream enforces.
    rpm: Setting.number(
      "rpm",
      { integer: true, min: 0 },
      { default: 0, shown: "0 (unlimited)", description: "Requests per minute the simulator enforces; 0 = unlimited" }
    ),
    tpm: Setting.number(
      "tpm",
      { integer: true, min: 0 },
      { default: 0, shown: "0 (unlimited)", description: "Tokens per minute the simulator enforces; 0 = unlimited" }
    ),
    latencyMs: Setting.number(
      "latency-ms",
      { integer: true, min: 0 },
      { default: 300, description: "Median latency of an answer in milliseconds (lognormal)" }
    ),
    latencySigma: Setting.number(
      "latency-sigma",
      { integer: false, min: 0 },
      { default: 0.5, description: "Lognormal sigma of the latency; 0 = always the median" }
    ),
    errorRate: Setting.number(
      "error-rate",
      { integer: false, min: 0, max: 1 },
      { default: 0, description: "Fraction of answers that are 500s" }
    ),
    retryAfter: Options.choice("retry-after", ["ms", "seconds"]).pipe(
      Options.withDefault("ms" as const),
      Options.withDescription(
        Setting.describe(
          "ms: retry-after-ms and retry-after on a 429; seconds: only a whole-second retry-after, as OpenAI documents",
          { default: "ms" }
        )
      )
    ),
    seed: Setting.number("seed", { integer: true }, { default: 1, description: "Seed of the latency and fault draws" }),
    log: Options.text("log").pipe(
      Options.optional,
      Options.withDescription(Setting.describe("Append every admitted request to this JSONL file", { default: "none" }))
    )
  },
  (o) =>
    Effect.scoped(
      Effect.gen(function* () {
        const simulator = yield* Simulator.make({
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
        // The one line a script waits for (`--port 0` picks the port): on stdout, whatever the log level.
        yield* Effect.sync(() => {
          process.stdout.write(`listening on ${simulator.url}\n`)
          // Ctrl-C or SIGTERM is how a server is stopped: not a failure.
          interruption.isSuccess = true
        })
        return yield* Effect.never
      })
    )
).pipe(
  Command.withDescription("Serve an OpenAI-compatible chat completions API on loopback with limits, latency and faults")
)
