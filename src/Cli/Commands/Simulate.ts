/**
 * `sluice simulate`: an OpenAI-compatible server on loopback with limits, latency and faults.
 *
 * @since 0.1.0
 */
import { Command, Options } from "@effect/cli"
import { Effect, Option } from "effect"
import { dialectNames } from "../../Simulator/Dialect.js"
import * as Simulator from "../../Simulator/Simulator.js"
import { interruption } from "../CliError.js"
import * as Flags from "../Flags.js"
import * as Setting from "../Setting.js"

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
    dialect: Options.choice("dialect", dialectNames).pipe(
      Options.withDefault("legacy" as const),
      Options.withDescription(
        Setting.describe(
          "Which upstream to speak like: openai, compat (remaining of a 200 ms window), anthropic, azure, local (no rate headers), legacy",
          { default: "legacy" }
        )
      )
    ),
    retryAfter: Options.choice("retry-after", ["ms", "seconds", "date"]).pipe(
      Options.optional,
      Options.withDescription(
        "Override the dialect's 429 wait: ms (retry-after-ms and retry-after), seconds (whole-second retry-after only), date (an HTTP date)"
      )
    ),
    remaining: Options.choice("remaining", ["minute", "window"]).pipe(
      Options.optional,
      Options.withDescription("Override: remaining out of the minute, or of the enforcement window")
    ),
    reset: Options.choice("reset", ["duration", "rfc3339"]).pipe(
      Options.optional,
      Options.withDescription("Override: reset headers as durations (6m0s) or RFC 3339 times")
    ),
    refund: Options.choice("refund", ["yes", "no"]).pipe(
      Options.optional,
      Options.withDescription("Override: give back unused max_tokens allowance at the answer (yes) or keep it (no)")
    ),
    windowMs: Setting.optionalNumber(
      "window-ms",
      { integer: true, min: 1 },
      { description: "Override: the window (ms) the per-minute limits are enforced over" }
    ),
    otpm: Setting.optionalNumber(
      "otpm",
      { integer: true, min: 1 },
      {
        shown: "tpm / 5",
        description: "Output tokens per minute where the dialect limits them apart (anthropic)"
      }
    ),
    answerTokens: Setting.optionalNumber(
      "answer-tokens",
      { integer: true, min: 1 },
      { description: "Answers of about this many tokens (0.75x to 1.25x) instead of a ~13-token JSON answer" }
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
          dialect: o.dialect,
          dialectOverrides: {
            ...(Option.isSome(o.remaining) ? { remaining: o.remaining.value } : {}),
            ...(Option.isSome(o.reset) ? { reset: o.reset.value } : {}),
            ...(Option.isSome(o.refund) ? { refund: o.refund.value === "yes" } : {}),
            ...(Option.isSome(o.windowMs) ? { windowMs: o.windowMs.value } : {})
          },
          ...(Option.isSome(o.retryAfter) ? { retryAfter: o.retryAfter.value } : {}),
          ...(Option.isSome(o.otpm) ? { otpm: o.otpm.value } : {}),
          ...(Option.isSome(o.answerTokens) ? { answerTokens: o.answerTokens.value } : {}),
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
