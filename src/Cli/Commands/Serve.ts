/**
 * `sluice serve [--db f] [--host h] [--port n] [--watch-dir d] [--imap url] …`: the HTTP API, the
 * workers over every run in the database, the drop directory and the mailbox, until SIGINT/SIGTERM;
 * then it drains and exits 0.
 *
 * @since 0.1.0
 */
import { Command } from "@effect/cli"
import { Context, Effect, Either, Layer, Option, Redacted } from "effect"
import type * as ImapLoop from "../../Service/Inbox.js"
import * as ImapUrl from "../../Http/ImapUrl.js"
import { isLoopback } from "../../Http/Loopback.js"
import { failure, interruption, usage } from "../CliError.js"
import * as Compose from "../Compose.js"
import * as Flags from "../Flags.js"
import * as UpstreamUrl from "../../Llm/UpstreamUrl.js"
import * as Tracing from "../../Telemetry/Tracing.js"
import { readPrices, readPrompt } from "./Run.js"

const UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3
}

/**
 * `16MiB` → 16777216; a bare number is bytes. Undefined when it is not a size.
 *
 * @since 0.1.0
 */
export const parseSize = (text: string): number | undefined => {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text)
  const unit = m === null ? undefined : UNITS[m[2]!.toLowerCase()]
  if (m === null || unit === undefined) return undefined
  const bytes = Math.floor(Number(m[1]) * unit)
  return bytes > 0 ? bytes : undefined
}

/** The shortest SLUICE_TOKEN accepted. */
const MIN_TOKEN = 16

const say = (line: string) => Effect.sync(() => void process.stderr.write(`sluice serve: ${line}\n`))

/** @since 0.1.0 */
export const command = Command.make(
  "serve",
  {
    db: Flags.db,
    host: Flags.host,
    port: Flags.port,
    concurrency: Flags.concurrency,
    baseUrl: Flags.baseUrl,
    model: Flags.model,
    prompt: Flags.prompt,
    processor: Flags.processor,
    maxTokens: Flags.maxTokens,
    rpm: Flags.rpm,
    tpm: Flags.tpm,
    inputTpm: Flags.inputTpm,
    outputTpm: Flags.outputTpm,
    maxAttempts: Flags.maxAttempts,
    attemptTimeout: Flags.attemptTimeout,
    noCache: Flags.noCache,
    budget: Flags.budget,
    drainTimeout: Flags.drainTimeout,
    maxBody: Flags.maxBody,
    watchDir: Flags.watchDir,
    pollInterval: Flags.pollInterval,
    settle: Flags.settle,
    prices: Flags.prices,
    lease: Flags.lease,
    imap: Flags.imap,
    imapPoll: Flags.imapPoll,
    inboxRun: Flags.inboxRun,
    traceContent: Flags.traceContent
  },
  (o) =>
    Effect.gen(function* () {
      const badUrl = UpstreamUrl.problem(o.baseUrl)
      if (badUrl !== undefined) return yield* usage(`sluice: ${badUrl}`)
      const maxBodyBytes = parseSize(o.maxBody)
      if (maxBodyBytes === undefined) return yield* usage(`sluice: --max-body ${o.maxBody} is not a size (e.g. 16MiB)`)
      // An empty SLUICE_TOKEN is no token.
      const token = Option.getOrUndefined(
        Option.filter(yield* Effect.orDie(Flags.token), (t) => Redacted.value(t).length > 0)
      )
      // Checked before the database is opened, so a refused start leaves nothing behind.
      // A short token can be guessed; 16 characters is the least a random one (`openssl rand -hex 16`) has.
      if (token !== undefined && Redacted.value(token).length < MIN_TOKEN) {
        return yield* usage(
          `sluice: SLUICE_TOKEN is too short (${Redacted.value(token).length} characters): use at least ${MIN_TOKEN}, e.g. from openssl rand -hex 16`
        )
      }
      if (!isLoopback(o.host) && token === undefined) {
        return yield* usage(
          `sluice: refusing to listen on ${o.host} without a token: anyone who can reach it could submit work. Set SLUICE_TOKEN (clients send "Authorization: Bearer <token>"), or use --host 127.0.0.1`
        )
      }
      if (o.inboxRun.trim() === "") return yield* usage("sluice: --inbox-run must not be empty")
      let imap: ImapLoop.InboxOptions["imap"] | undefined
      if (Option.isSome(o.imap)) {
        const password = yield* Effect.orDie(Flags.imapPassword)
        if (Option.isNone(password)) return yield* usage("sluice: --imap needs the password in IMAP_PASSWORD")
        const parsed = ImapUrl.parseUrl(o.imap.value, password.value)
        if (Either.isLeft(parsed)) return yield* usage(`sluice: ${parsed.left}`)
        imap = parsed.right
      }
      const system = yield* readPrompt(o.prompt)
      const prices = yield* readPrices(o.prices)
      const watch = Option.getOrUndefined(o.watchDir)
      const upstream = Flags.upstreamOf(o, prices)
      // Loaded here, not at start: the HTTP API and the IMAP client cost the other commands ~30 MB and 0.3 s.
      const Service = yield* Effect.promise(() => import("../../Service/Service.js"))
      const service = Service.layer({
        host: o.host,
        port: o.port,
        token,
        concurrency: o.concurrency,
        maxBodyBytes,
        drainTimeout: `${o.drainTimeout} seconds`,
        defaults: {
          processor: o.processor,
          model: o.model,
          ...(Option.isSome(o.maxTokens) ? { maxTokens: o.maxTokens.value } : {}),
          ...(system === undefined ? {} : { system })
        },
        attempt: Flags.attemptOf(o),
        leaseMs: o.lease * 1000,
        watch:
          watch === undefined
            ? undefined
            : { dir: watch, pollInterval: `${o.pollInterval} seconds`, settle: `${o.settle} seconds` },
        inbox: imap === undefined ? undefined : { imap, run: o.inboxRun, pollInterval: `${o.imapPoll} seconds` }
      }).pipe(Layer.provide(Compose.llm(upstream, { db: o.db })), Layer.provide(Compose.workStore(o.db)))

      // SIGTERM is how a service is told to stop: a drained stop is a success (exit 0).
      yield* Effect.sync(() => {
        interruption.isSuccess = true
      })
      yield* Effect.scoped(
        Effect.gen(function* () {
          const running = Context.get(yield* Layer.build(service), Service.Service)
          yield* say(
            `listening on ${running.url} (dashboard ${running.url}/, docs ${running.url}/docs); db ${Compose.describeDb(o.db)}, concurrency ${o.concurrency}, token ${token === undefined ? "not set" : "required"}${watch === undefined ? "" : `, watching ${watch}`}${imap === undefined ? "" : `, polling ${ImapUrl.describe(imap)} into run ${o.inboxRun}`}`
          )
          return yield* Effect.never.pipe(
            Effect.onInterrupt(() =>
              say(
                `stopping: no new claims; items in the stages get up to ${o.drainTimeout} s to finish, the rest go back to pending`
              )
            )
          )
        })
      ).pipe(
        Effect.onInterrupt(() => say("stopped")),
        Effect.catchTags({
          StoreError: (e) => Effect.fail(failure(`sluice: ${e.message}`)),
          ServiceError: (e) =>
            Effect.fail(e.reason === "Insecure" ? usage(`sluice: ${e.message}`) : failure(`sluice: ${e.message}`))
        }),
        Tracing.withTraceContent(o.traceContent)
      )
    })
).pipe(
  Command.withDescription(
    "Run the HTTP API, the workers over every run in the database, an optional drop directory and an optional mailbox, until SIGTERM"
  )
)
