/**
 * Every CLI setting in one place: its flag, its environment variable and its default. The README's
 * settings table mirrors this file.
 *
 * @since 0.1.0
 */
import { Options } from "@effect/cli"
import { Config } from "effect"

/** `--db <file>` / `SLUICE_DB`, default `./sluice.db`. */
export const db = Options.file("db").pipe(
  Options.withFallbackConfig(Config.string("SLUICE_DB")),
  Options.withDefault("./sluice.db"),
  Options.withDescription("SQLite file holding the queue, results and metrics")
)

/** `--base-url <url>` / `OPENAI_BASE_URL`, default https://api.openai.com/v1. */
export const baseUrl = Options.text("base-url").pipe(
  Options.withFallbackConfig(Config.string("OPENAI_BASE_URL")),
  Options.withDefault("https://api.openai.com/v1"),
  Options.withDescription("OpenAI-compatible endpoint; the key is read from OPENAI_API_KEY")
)

/** `--model <name>` / `SLUICE_MODEL`, default gpt-4o-mini. */
export const model = Options.text("model").pipe(
  Options.withFallbackConfig(Config.string("SLUICE_MODEL")),
  Options.withDefault("gpt-4o-mini"),
  Options.withDescription("Model name sent upstream")
)

/** `--prompt <file>`: the system prompt; the user message is the item as JSON. */
export const prompt = Options.file("prompt", { exists: "either" }).pipe(
  Options.optional,
  Options.withDescription("File with the system prompt; the user message is the item as JSON")
)

/** `--concurrency <n>` / `SLUICE_CONCURRENCY`, default 8. */
export const concurrency = Options.integer("concurrency").pipe(
  Options.withFallbackConfig(Config.integer("SLUICE_CONCURRENCY")),
  Options.withDefault(8),
  Options.withDescription("At most this many items in the stages at once; 1 is strictly sequential")
)

/** `--rpm <n>` / `SLUICE_RPM`, default 0 (unknown). */
export const rpm = Options.integer("rpm").pipe(
  Options.withFallbackConfig(Config.integer("SLUICE_RPM")),
  Options.withDefault(0),
  Options.withDescription("Upstream requests per minute; 0 = unknown (learned from headers or discovered)")
)

/** `--tpm <n>` / `SLUICE_TPM`, default 0 (unknown). */
export const tpm = Options.integer("tpm").pipe(
  Options.withFallbackConfig(Config.integer("SLUICE_TPM")),
  Options.withDefault(0),
  Options.withDescription("Upstream tokens per minute; 0 = unknown (learned from headers)")
)

/** `--max-attempts <n>` / `SLUICE_MAX_ATTEMPTS`, default 5. */
export const maxAttempts = Options.integer("max-attempts").pipe(
  Options.withFallbackConfig(Config.integer("SLUICE_MAX_ATTEMPTS")),
  Options.withDefault(5),
  Options.withDescription("Attempts per stage call before an item fails (429s do not count)")
)

/** `--processor llm|echo`, default llm. */
export const processor = Options.choice("processor", ["llm", "echo"]).pipe(
  Options.withDefault("llm" as const),
  Options.withDescription("llm: ask the model; echo: the output is the item (no network)")
)

/** `--max-tokens <n>` / `SLUICE_MAX_TOKENS`, default 512. */
export const maxTokens = Options.integer("max-tokens").pipe(
  Options.withFallbackConfig(Config.integer("SLUICE_MAX_TOKENS")),
  Options.withDefault(512),
  Options.withDescription("Completion allowance per request (also what admission reserves)")
)

/** `--attempt-timeout <seconds>` / `SLUICE_ATTEMPT_TIMEOUT`, default 60. */
export const attemptTimeout = Options.integer("attempt-timeout").pipe(
  Options.withFallbackConfig(Config.integer("SLUICE_ATTEMPT_TIMEOUT")),
  Options.withDefault(60),
  Options.withDescription("Seconds one attempt may take before it counts as a transient failure")
)

/** `--no-cache`: ask the upstream even when an identical request was answered before. */
export const noCache = Options.boolean("no-cache").pipe(
  Options.withDescription("Do not answer from the response cache (answers are still stored)")
)

/** `--budget <usd>` / `SLUICE_BUDGET_USD`: stop admitting work past this estimated spend. */
export const budget = Options.float("budget").pipe(
  Options.withFallbackConfig(Config.number("SLUICE_BUDGET_USD")),
  Options.optional,
  Options.withDescription("Stop admitting work once the run's estimated spend would pass this many USD")
)

/** `--run <id>`: the run id (default: derived from the input file's path). */
export const runId = Options.text("run").pipe(Options.optional, Options.withDescription("Run id"))

/** `--drain-timeout <seconds>`, default 10. */
export const drainTimeout = Options.integer("drain-timeout").pipe(
  Options.withFallbackConfig(Config.integer("SLUICE_DRAIN_TIMEOUT")),
  Options.withDefault(10),
  Options.withDescription("On Ctrl-C/SIGTERM, seconds in-flight items may take to finish before they are handed back")
)
