/**
 * Every CLI setting in one place: its flag, its environment variable and its default. The README's
 * settings table mirrors this file.
 *
 * @since 0.1.0
 */
import { Options } from "@effect/cli"
import { Config, Option } from "effect"
import { type AttemptOptions, defaultAttemptOptions } from "../Engine/Attempt.js"
import type { Upstream } from "./Compose.js"
import * as Setting from "./Setting.js"

/** `--db <file>` / `SLUICE_DB`, default `./sluice.db`. */
export const db = Options.file("db").pipe(
  Options.withFallbackConfig(Config.string("SLUICE_DB")),
  Options.withDefault("./sluice.db"),
  Options.withDescription(
    Setting.describe(
      "SQLite file holding the queue, results and metrics, or a postgres:// URL (password from the URL or PGPASSWORD)",
      { default: "./sluice.db", env: "SLUICE_DB" }
    )
  )
)

/** `--base-url <url>` / `OPENAI_BASE_URL`, default https://api.openai.com/v1. */
export const baseUrl = Options.text("base-url").pipe(
  Options.withFallbackConfig(Config.string("OPENAI_BASE_URL")),
  Options.withDefault("https://api.openai.com/v1"),
  Options.withDescription(
    Setting.describe("OpenAI-compatible endpoint; the key is read from OPENAI_API_KEY", {
      default: "https://api.openai.com/v1",
      env: "OPENAI_BASE_URL"
    })
  )
)

/** `--model <name>` / `SLUICE_MODEL`, default gpt-4o-mini. */
export const model = Options.text("model").pipe(
  Options.withFallbackConfig(Config.string("SLUICE_MODEL")),
  Options.withDefault("gpt-4o-mini"),
  Options.withDescription(Setting.describe("Model name sent upstream", { default: "gpt-4o-mini", env: "SLUICE_MODEL" }))
)

/** `--prompt <file>`: the system prompt; the user message is the item as JSON. */
export const prompt = Options.file("prompt", { exists: "either" }).pipe(
  Options.optional,
  Options.withDescription(
    Setting.describe("File with the system prompt; the user message is the item as JSON", {
      default: "a generic JSON task"
    })
  )
)

/** `--concurrency <n>` / `SLUICE_CONCURRENCY`, default 8. */
export const concurrency = Setting.number(
  "concurrency",
  { integer: true, min: 1 },
  {
    env: "SLUICE_CONCURRENCY",
    default: 8,
    description: "At most this many items in the stages at once; 1 is strictly sequential"
  }
)

/** `--rpm <n>` / `SLUICE_RPM`, default 0 (unknown). */
export const rpm = Setting.number(
  "rpm",
  { integer: true, min: 0 },
  {
    env: "SLUICE_RPM",
    default: 0,
    shown: "0 (unknown)",
    description: "Upstream requests per minute; 0 = unknown (learned from headers or discovered)"
  }
)

/** `--tpm <n>` / `SLUICE_TPM`, default 0 (unknown). */
export const tpm = Setting.number(
  "tpm",
  { integer: true, min: 0 },
  {
    env: "SLUICE_TPM",
    default: 0,
    shown: "0 (unknown)",
    description: "Upstream tokens per minute; 0 = unknown (learned from headers)"
  }
)

/** `--input-tpm <n>` / `SLUICE_INPUT_TPM`, default 0 (unknown). */
export const inputTpm = Setting.number(
  "input-tpm",
  { integer: true, min: 0 },
  {
    env: "SLUICE_INPUT_TPM",
    default: 0,
    shown: "0 (unknown)",
    description:
      "Upstream input tokens per minute, where input and output are limited apart (Anthropic); 0 = unknown (learned from headers)"
  }
)

/** `--output-tpm <n>` / `SLUICE_OUTPUT_TPM`, default 0 (unknown). */
export const outputTpm = Setting.number(
  "output-tpm",
  { integer: true, min: 0 },
  {
    env: "SLUICE_OUTPUT_TPM",
    default: 0,
    shown: "0 (unknown)",
    description:
      "Upstream output tokens per minute, where limited apart (Anthropic); 0 = unknown (learned from headers)"
  }
)

/** `--max-attempts <n>` / `SLUICE_MAX_ATTEMPTS`, default 5. */
export const maxAttempts = Setting.number(
  "max-attempts",
  { integer: true, min: 1 },
  {
    env: "SLUICE_MAX_ATTEMPTS",
    default: 5,
    description: "Attempts per stage call before an item fails (429s do not count)"
  }
)

/** `--processor llm|echo`, default llm. */
export const processor = Options.choice("processor", ["llm", "echo"]).pipe(
  Options.withDefault("llm" as const),
  Options.withDescription(
    Setting.describe("llm: ask the model; echo: the output is the item (no network)", { default: "llm" })
  )
)

/** `--max-tokens <n>` / `SLUICE_MAX_TOKENS`; unset, it is learned from the answers (`Llm/CompletionLength.ts`). */
export const maxTokens = Setting.optionalNumber(
  "max-tokens",
  { integer: true, min: 1 },
  {
    env: "SLUICE_MAX_TOKENS",
    shown: "learned",
    description:
      "Completion allowance per request (also what admission reserves); unset: learned from the answers so nearly all fit, and a cut-off answer is asked again with more room"
  }
)

/** `--attempt-timeout <seconds>` / `SLUICE_ATTEMPT_TIMEOUT`, default 60. */
export const attemptTimeout = Setting.number(
  "attempt-timeout",
  { integer: true, min: 1 },
  {
    env: "SLUICE_ATTEMPT_TIMEOUT",
    default: 60,
    description: "Seconds one attempt may take before it counts as a transient failure"
  }
)

/** `--no-cache`: ask the upstream even when an identical request was answered before. */
export const noCache = Options.boolean("no-cache").pipe(
  Options.withDescription(
    Setting.describe("Turn the response cache off: every request goes upstream, and no answer is stored", {
      default: "cache on"
    })
  )
)

/** `--prices <file>` / `SLUICE_PRICES`: a JSON price table, USD per million tokens per model. */
export const prices = Options.file("prices", { exists: "either" }).pipe(
  Options.withFallbackConfig(Config.string("SLUICE_PRICES")),
  Options.optional,
  Options.withDescription(
    Setting.describe(
      'JSON price table for cost accounting and --budget: {"gpt-4o-mini": {"input": 0.15, "output": 0.6}, "*": {…}} (USD per 1M tokens)',
      { default: "built-in table", env: "SLUICE_PRICES" }
    )
  )
)

/** `--lease <seconds>` / `SLUICE_LEASE`, default 30. */
export const lease = Setting.number(
  "lease",
  { integer: true, min: 1 },
  {
    env: "SLUICE_LEASE",
    default: 30,
    description: "Seconds a claim holds an item without a heartbeat; a crashed worker's items return after this"
  }
)

/** `--budget <usd>` / `SLUICE_BUDGET_USD`: stop admitting work past this estimated spend. */
export const budget = Setting.optionalNumber(
  "budget",
  { integer: false, above: 0 },
  {
    env: "SLUICE_BUDGET_USD",
    shown: "none",
    description: "Stop admitting work once the run's estimated spend would pass this many USD"
  }
)

/** `--run <id>`: only this run (default every run; `sluice run` has its own). */
export const runId = Options.text("run").pipe(
  Options.optional,
  Options.withDescription(Setting.describe("Only this run", { default: "every run" }))
)

/** `--drain-timeout <seconds>`, default 10. */
export const drainTimeout = Setting.number(
  "drain-timeout",
  { integer: true, min: 0 },
  {
    env: "SLUICE_DRAIN_TIMEOUT",
    default: 10,
    description: "On Ctrl-C/SIGTERM, seconds in-flight items may take to finish before they are handed back"
  }
)

/** `--host <address>` / `SLUICE_HOST`, default 127.0.0.1 (`sluice serve`). */
export const host = Options.text("host").pipe(
  Options.withFallbackConfig(Config.string("SLUICE_HOST")),
  Options.withDefault("127.0.0.1"),
  Options.withDescription(
    Setting.describe("Address `sluice serve` listens on; any but loopback needs SLUICE_TOKEN", {
      default: "127.0.0.1",
      env: "SLUICE_HOST"
    })
  )
)

/** `--port <n>` / `SLUICE_PORT`, default 8080 (`sluice serve`, `sluice simulate`). */
export const port = Setting.number(
  "port",
  { integer: true, min: 0, max: 65535 },
  { env: "SLUICE_PORT", default: 8080, description: "Port to listen on; 0 picks a free one" }
)

/** `--max-body <size>` / `SLUICE_MAX_BODY`, default 16MiB (`sluice serve`). */
export const maxBody = Options.text("max-body").pipe(
  Options.withFallbackConfig(Config.string("SLUICE_MAX_BODY")),
  Options.withDefault("16MiB"),
  Options.withDescription(
    Setting.describe("Largest request body `sluice serve` accepts (413 above): bytes, or e.g. 512KiB, 16MiB, 1GB", {
      default: "16MiB",
      env: "SLUICE_MAX_BODY"
    })
  )
)

/** `--watch-dir <dir>` / `SLUICE_WATCH_DIR`: a drop directory (`sluice serve`). */
export const watchDir = Options.directory("watch-dir", { exists: "yes" }).pipe(
  Options.withFallbackConfig(Config.string("SLUICE_WATCH_DIR")),
  Options.optional,
  Options.withDescription(
    Setting.describe("Drop directory: each JSONL/CSV file put there becomes a run, then moves to <dir>/.done/", {
      default: "none",
      env: "SLUICE_WATCH_DIR"
    })
  )
)

/** `--poll-interval <seconds>` / `SLUICE_POLL_INTERVAL`, default 2 (`sluice serve`). */
export const pollInterval = Setting.number(
  "poll-interval",
  { integer: false, above: 0 },
  { env: "SLUICE_POLL_INTERVAL", default: 2, description: "Seconds between scans of --watch-dir" }
)

/** `--settle <seconds>` / `SLUICE_SETTLE`, default 2 (`sluice serve`). */
export const settle = Setting.number(
  "settle",
  { integer: false, min: 0 },
  {
    env: "SLUICE_SETTLE",
    default: 2,
    description:
      "Seconds a file in --watch-dir must keep its size before it is taken; a taken file that grows is read again for its new lines"
  }
)

/**
 * `SLUICE_TOKEN` (environment only: a flag would show in `ps`): the bearer token `sluice serve`
 * requires on `/v1` and `/metrics`; required when `--host` is not loopback.
 */
export const token = Config.redacted("SLUICE_TOKEN").pipe(
  Config.withDescription("Bearer token clients of `sluice serve` send as `Authorization: Bearer <token>`"),
  Config.option
)

/**
 * `--trace-content` / `SLUICE_TRACE_CONTENT`: put item payloads and answers (truncated) on the item
 * spans. Off by default: spans often go where customer data must not.
 */
export const traceContent = Options.boolean("trace-content").pipe(
  Options.withFallbackConfig(Config.boolean("SLUICE_TRACE_CONTENT")),
  Options.withDescription(
    Setting.describe(
      "Put each item's payload and answer (truncated) on its trace span; only with OTEL_EXPORTER_OTLP_ENDPOINT set",
      { default: "off", env: "SLUICE_TRACE_CONTENT" }
    )
  )
)

/**
 * `--imap <url>` / `SLUICE_IMAP`: a mailbox `sluice serve` polls into a run, e.g.
 * `imap://user@127.0.0.1:143/INBOX` or `imaps://user@mail.example.com/INBOX`. Off by default.
 */
export const imap = Options.text("imap").pipe(
  Options.withFallbackConfig(Config.string("SLUICE_IMAP")),
  Options.optional,
  Options.withDescription(
    Setting.describe(
      "Mailbox to poll into --inbox-run: imap://user@host:port/INBOX or imaps://…; the password is read from IMAP_PASSWORD",
      { default: "none", env: "SLUICE_IMAP" }
    )
  )
)

/** `--imap-poll <seconds>` / `SLUICE_IMAP_POLL`, default 30 (`sluice serve --imap`). */
export const imapPoll = Setting.number(
  "imap-poll",
  { integer: false, above: 0 },
  {
    env: "SLUICE_IMAP_POLL",
    default: 30,
    description: "Seconds between searches of --imap for new unseen mail (the server's announcements also wake it)"
  }
)

/** `--inbox-run <id>` / `SLUICE_INBOX_RUN`, default `inbox` (`sluice serve --imap`). */
export const inboxRun = Options.text("inbox-run").pipe(
  Options.withFallbackConfig(Config.string("SLUICE_INBOX_RUN")),
  Options.withDefault("inbox"),
  Options.withDescription(
    Setting.describe(
      "The run the mails of --imap go into; its settings are --processor, --model, --prompt, --max-tokens",
      { default: "inbox", env: "SLUICE_INBOX_RUN" }
    )
  )
)

/**
 * `IMAP_PASSWORD` (environment only: a flag would show in `ps`): the password of the `--imap` user.
 */
export const imapPassword = Config.redacted("IMAP_PASSWORD").pipe(
  Config.withDescription("Password of the --imap user"),
  Config.option
)

/**
 * What `--base-url`, `--attempt-timeout`, `--rpm`, `--tpm`, `--input-tpm`, `--output-tpm`, `--no-cache` and `--budget` mean to
 * the upstream, for every command that calls one.
 */
export const upstreamOf = (
  o: {
    readonly baseUrl: string
    readonly attemptTimeout: number
    readonly rpm: number
    readonly tpm: number
    readonly inputTpm?: number
    readonly outputTpm?: number
    readonly noCache: boolean
    readonly budget?: Option.Option<number>
  },
  prices?: unknown
): Upstream => ({
  baseUrl: o.baseUrl,
  timeoutMs: o.attemptTimeout * 1000,
  rpm: o.rpm,
  tpm: o.tpm,
  inputTpm: o.inputTpm ?? 0,
  outputTpm: o.outputTpm ?? 0,
  cache: !o.noCache,
  budgetUsd: o.budget === undefined ? undefined : Option.getOrUndefined(o.budget),
  prices
})

/** What `--max-attempts` and `--attempt-timeout` mean to the retry policy. */
export const attemptOf = (o: { readonly maxAttempts: number; readonly attemptTimeout: number }): AttemptOptions => ({
  ...defaultAttemptOptions,
  maxAttempts: o.maxAttempts,
  attemptTimeout: `${o.attemptTimeout} seconds`
})
