/**
 * `sluice simulate`: an OpenAI-compatible server on loopback with limits, latency and faults.
 *
 * @since 0.1.0
 */
import { Command, Options } from "@effect/cli"
import { Option } from "effect"
import { dialectNames } from "../Simulator/Dialect.js"
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
    dialect: Options.choice("dialect", dialectNames).pipe(
      Options.withDefault("legacy" as const),
      Options.withDescription(
        "Which upstream to speak like: openai, compat (remaining of a 200 ms window), anthropic, azure, local (no rate headers), legacy"
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
    windowMs: Options.integer("window-ms").pipe(
      Options.optional,
      Options.withDescription("Override: the window (ms) the per-minute limits are enforced over")
    ),
    otpm: Options.integer("otpm").pipe(
      Options.optional,
      Options.withDescription(
        "Output tokens per minute where the dialect limits them apart (anthropic); default tpm / 5"
      )
    ),
    answerTokens: Options.integer("answer-tokens").pipe(
      Options.optional,
      Options.withDescription("Answers of about this many tokens (0.75x to 1.25x) instead of a ~13-token JSON answer")
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
).pipe(
  Command.withDescription("Serve an OpenAI-compatible chat completions API on loopback with limits, latency and faults")
)
