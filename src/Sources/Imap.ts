/**
 * A mailbox as a source, on imapflow: one record per unseen message, acknowledged by setting `\Seen`.
 *
 * Reading never marks a message: its source is fetched with `BODY.PEEK[]`. Only `ack` sets `\Seen`, and
 * the engine calls it after the item's outcome is stored, so a mail is marked read once it was
 * processed; failed and skipped mails stay unseen for a person to look at.
 *
 * One connection, opened when the layer is built (a wrong password fails the layer at once) and logged
 * out when its scope closes. Commands take turns on it; a connection that drops is reopened by the next
 * command. The password is unwrapped only to log in, imapflow's logger is off, and every error message
 * is scrubbed of it.
 *
 * @since 0.1.0
 */
import {
  Config,
  type ConfigError,
  Duration,
  Effect,
  Layer,
  Option,
  Queue,
  Redacted,
  Ref,
  Schedule,
  Schema,
  type Scope,
  Stream
} from "effect"
import { ImapFlow, type ImapFlowOptions } from "imapflow"
import type { ConnectionOptions } from "node:tls"
import { Invalid, type StageError, Transient } from "../Domain/Errors.js"
import { type Item, SourceRecord } from "../Domain/Item.js"
import { Fetcher } from "../Stages/Fetcher.js"
import { toError } from "./ImapError.js"
import { keyOf, Mail, parse } from "./ImapMail.js"

export {
  /** @since 0.1.0 */
  Address,
  /** @since 0.1.0 */
  keyOf,
  /** @since 0.1.0 */
  Mail
} from "./ImapMail.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface ImapOptions {
  readonly host: string
  /** Default 993 when `secure`, else 143. */
  readonly port?: number | undefined
  /** Implicit TLS (IMAPS). Default: true on port 993 or when no port is given. */
  readonly secure?: boolean | undefined
  /**
   * STARTTLS on a plain connection: true requires the upgrade, false never upgrades, absent upgrades
   * when the server offers it (imapflow's default).
   */
  readonly startTls?: boolean | undefined
  /** Extra TLS settings (a private CA, `servername`, `rejectUnauthorized: false` for a self-signed test server). */
  readonly tls?: ConnectionOptions | undefined
  readonly user: string
  /** Unwrapped only to log in; it never reaches a log, a span or an error message. */
  readonly password: Redacted.Redacted<string>
  /** Default "INBOX". */
  readonly mailbox?: string | undefined
  /**
   * Absent: read the mails unseen at start once, then the source ends (a batch). Present: keep looking
   * for new unseen mails at this interval, and at once when the server announces one (a service).
   */
  readonly poll?: Duration.DurationInput | undefined
  /** Connect, TLS and greeting, in all. Default 10 seconds. */
  readonly connectTimeout?: Duration.DurationInput | undefined
  /** One command (a search, a fetch of one batch, a flag update). Default 60 seconds. */
  readonly commandTimeout?: Duration.DurationInput | undefined
  /** Messages per FETCH. Default 50. */
  readonly fetchBatch?: number | undefined
}

/** @since 0.1.0 */
export type ImapError = Transient | Invalid

interface Session {
  readonly client: ImapFlow
  readonly uidValidity: string
}

const DEFAULT_CONNECT_TIMEOUT = Duration.seconds(10)
const DEFAULT_COMMAND_TIMEOUT = Duration.seconds(60)
const DEFAULT_FETCH_BATCH = 50

/** A dropped connection is reopened and the command repeated: every command here is safe to repeat. */
const reconnect = Schedule.exponential("200 millis", 2).pipe(Schedule.jittered, Schedule.intersect(Schedule.recurs(2)))

const decodeMail = Schema.decodeUnknownOption(Mail)

/**
 * The Fetcher service on one mailbox. Fails at once, typed, when the server cannot be reached
 * (`Transient`) or refuses the login or the mailbox (`Invalid`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: ImapOptions): Effect.Effect<Fetcher["Type"], ImapError, Scope.Scope> =>
  Effect.gen(function* () {
    const secure = options.secure ?? (options.port === undefined || options.port === 993)
    const port = options.port ?? (secure ? 993 : 143)
    const mailbox = options.mailbox ?? "INBOX"
    const where = `${options.user}@${options.host}:${port}/${mailbox}`
    const connectMs = Duration.toMillis(options.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT)
    const commandTimeout = Duration.decode(options.commandTimeout ?? DEFAULT_COMMAND_TIMEOUT)
    const batchSize = Math.max(1, Math.floor(options.fetchBatch ?? DEFAULT_FETCH_BATCH))
    const secret = Redacted.value(options.password)
    const scrub = (text: string) => (secret.length > 0 ? text.replaceAll(secret, "<redacted>") : text)
    const errorOf = (action: string) => toError(where, action, scrub)

    /** Offered when the server announces new mail, so a polling source looks at once. */
    const announced = yield* Queue.sliding<void>(1)

    const open: Effect.Effect<Session, ImapError> = Effect.tryPromise({
      try: async (signal) => {
        const settings: ImapFlowOptions = {
          host: options.host,
          port,
          secure,
          ...(options.startTls !== undefined ? { doSTARTTLS: options.startTls } : {}),
          ...(options.tls !== undefined ? { tls: options.tls } : {}),
          auth: { user: options.user, pass: secret },
          logger: false,
          connectionTimeout: connectMs,
          greetingTimeout: connectMs
        }
        const client = new ImapFlow(settings)
        // A dropped connection also fails the command in flight, and the next command reconnects;
        // without a listener, Node would crash the process on the 'error' event.
        client.on("error", () => {})
        client.on("exists", () => void announced.unsafeOffer(undefined))
        const abort = () => client.close()
        signal.addEventListener("abort", abort, { once: true })
        try {
          await client.connect()
          const opened = await client.mailboxOpen(mailbox)
          return { client, uidValidity: String(opened.uidValidity) }
        } catch (e) {
          client.close()
          throw e
        } finally {
          signal.removeEventListener("abort", abort)
        }
      },
      catch: errorOf("connect")
    })

    const close = (session: Session) =>
      Effect.promise(() => session.client.logout().catch(() => undefined)).pipe(
        Effect.timeout("2 seconds"),
        Effect.ignore,
        Effect.ensuring(Effect.sync(() => session.client.close()))
      )

    // Touched only while holding `turn`: imapflow allows one command at a time per connection.
    const turn = yield* Effect.makeSemaphore(1)
    const current = yield* Ref.make(Option.none<Session>())
    const drop = (session: Session) => Effect.zipRight(Ref.set(current, Option.none()), close(session))
    const acquire: Effect.Effect<Session, ImapError> = Effect.flatMap(
      Ref.get(current),
      Option.match({
        onSome: (s) =>
          s.client.usable
            ? Effect.succeed(s)
            : Effect.zipRight(
                drop(s),
                Effect.suspend(() => acquire)
              ),
        onNone: () => Effect.tap(open, (s) => Ref.set(current, Option.some(s)))
      })
    )

    /** One command on the connection, reconnecting and repeating it when the connection failed. */
    const command = <A>(action: string, f: (session: Session) => Promise<A>): Effect.Effect<[A, Session], ImapError> =>
      turn
        .withPermits(1)(
          Effect.flatMap(acquire, (session) =>
            Effect.tryPromise({ try: () => f(session), catch: errorOf(action) }).pipe(
              Effect.timeoutFail({
                duration: commandTimeout,
                onTimeout: () =>
                  new Transient({
                    reason: "Timeout",
                    message: `IMAP ${where}: ${action}: no answer in ${Duration.format(commandTimeout)}`
                  })
              }),
              Effect.map((a): [A, Session] => [a, session]),
              Effect.tapError((e) => (e._tag === "Transient" ? drop(session) : Effect.void))
            )
          )
        )
        .pipe(Effect.retry({ schedule: reconnect, while: (e) => e._tag === "Transient" }))

    yield* Effect.addFinalizer(() =>
      turn.withPermits(1)(Effect.flatMap(Ref.get(current), Option.match({ onNone: () => Effect.void, onSome: drop })))
    )
    // Connect now: a wrong password or host fails the layer, not the first item.
    yield* command("connect", async () => undefined)

    const unseen = Effect.map(
      command("search unseen", (s) => s.client.search({ seen: false }, { uid: true })),
      ([uids, session]) => ({ uids: [...(uids || [])].sort((a, b) => a - b), uidValidity: session.uidValidity })
    )

    const fetchBatch = (uids: ReadonlyArray<number>, uidValidity: string) =>
      Effect.gen(function* () {
        const [messages, session] = yield* command("fetch", (s) =>
          s.client.fetchAll([...uids], { uid: true, source: true }, { uid: true })
        )
        if (session.uidValidity !== uidValidity) {
          return yield* new Transient({
            reason: "Connection",
            message: `IMAP ${where}: the mailbox was recreated while it was read (UIDVALIDITY ${uidValidity} → ${session.uidValidity})`
          })
        }
        // Only the answers for the mails asked for: when another session changes a flag meanwhile, the
        // server pushes a flags-only FETCH (no UID, no body) that imapflow returns among them.
        const asked = new Set(uids)
        // FETCH answers in mailbox order, which is UID order, but nothing promises it.
        const sorted = messages
          .filter((m) => typeof m.uid === "number" && asked.has(m.uid))
          .sort((a, b) => a.uid - b.uid)
        return yield* Effect.forEach(sorted, (m) => parse(m, uidValidity))
      }).pipe(Effect.withSpan("Imap.fetch", { attributes: { "imap.messages": uids.length } }))

    /** The unseen mails, minus those this session already yielded (when it keeps a set of them). */
    const readUnseen = (yielded: Set<string> | undefined): Stream.Stream<SourceRecord, ImapError> =>
      Stream.unwrap(
        Effect.map(unseen, ({ uids, uidValidity }) => {
          let fresh: ReadonlyArray<number> = uids
          if (yielded !== undefined) {
            // Forget mails that are no longer unseen (acknowledged, or deleted): the set stays small.
            const now = new Set(uids.map((u) => `${uidValidity}:${u}`))
            for (const k of yielded) if (!now.has(k)) yielded.delete(k)
            fresh = uids.filter((u) => !yielded.has(`${uidValidity}:${u}`))
          }
          const batches: Array<ReadonlyArray<number>> = []
          for (let i = 0; i < fresh.length; i += batchSize) batches.push(fresh.slice(i, i + batchSize))
          return Stream.fromIterable(batches).pipe(
            Stream.mapEffect((batch) =>
              Effect.tap(fetchBatch(batch, uidValidity), () =>
                Effect.sync(() => batch.forEach((u) => yielded?.add(`${uidValidity}:${u}`)))
              )
            ),
            Stream.flattenIterables
          )
        })
      )

    const poll = options.poll
    const records: Stream.Stream<SourceRecord, StageError> =
      poll === undefined
        ? readUnseen(undefined)
        : Stream.suspend(() => {
            // Mails yielded this session and still unseen (in the stages, or failed or skipped): not again.
            const yielded = new Set<string>()
            const round = readUnseen(yielded).pipe(
              // A service outlives a server restart; only a refused login or mailbox stops the source.
              Stream.catchAll((e) =>
                e._tag === "Transient"
                  ? Stream.drain(
                      Stream.fromEffect(Effect.logWarning(`${e.message}; trying again in ${Duration.format(poll)}`))
                    )
                  : Stream.fail(e)
              )
            )
            const wait = Stream.drain(Stream.fromEffect(Effect.raceFirst(Queue.take(announced), Effect.sleep(poll))))
            return Stream.forever(Stream.concat(round, wait))
          })

    const ack = Effect.fn("Imap.ack")(function* (items: ReadonlyArray<Item>) {
      const mails: Array<Mail> = []
      const unreadable: Array<string> = []
      for (const item of items) {
        const m = decodeMail(item.payload)
        if (Option.isSome(m)) mails.push(m.value)
        else unreadable.push(item.key)
      }
      if (mails.length > 0) {
        const [lost] = yield* command("mark seen", async (s) => {
          const uids = mails.filter((m) => m.uidValidity === s.uidValidity).map((m) => m.uid)
          const lost: Array<string> = []
          // The mailbox was recreated since these were read: their UIDs now name other mails.
          for (const m of mails.filter((m) => m.uidValidity !== s.uidValidity)) {
            const found =
              m.messageId === null
                ? false
                : await s.client.search({ header: { "message-id": m.messageId } }, { uid: true })
            if (found && found.length > 0) uids.push(...found)
            else lost.push(keyOf(m))
          }
          if (uids.length > 0) await s.client.messageFlagsAdd(uids, ["\\Seen"], { uid: true })
          return lost
        })
        if (lost.length > 0)
          yield* Effect.logWarning(`IMAP ${where}: not found any more, not marked seen: ${lost.join(", ")}`)
      }
      if (unreadable.length > 0) {
        return yield* new Invalid({
          reason: "Input",
          message: `IMAP ${where}: ${unreadable.length} item(s) are not mails from this source: ${unreadable.slice(0, 5).join(", ")}`
        })
      }
    })

    return Fetcher.of({ records, ack, live: true })
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: ImapOptions): Layer.Layer<Fetcher, ImapError> => Layer.scoped(Fetcher, make(options))

/**
 * Reads `IMAP_HOST`, `IMAP_PORT`, `IMAP_SECURE`, `IMAP_STARTTLS`, `IMAP_USER`, `IMAP_PASSWORD`,
 * `IMAP_MAILBOX` and `IMAP_POLL` (a duration, e.g. "30 seconds"; absent: read once).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: Layer.Layer<Fetcher, ImapError | ConfigError.ConfigError> = Layer.scoped(
  Fetcher,
  Effect.flatMap(
    Config.all({
      host: Config.string("IMAP_HOST").pipe(Config.withDescription("The IMAP server's host name")),
      port: Config.integer("IMAP_PORT").pipe(Config.option, Config.withDescription("Default 993 with TLS, else 143")),
      secure: Config.boolean("IMAP_SECURE").pipe(
        Config.option,
        Config.withDescription("Implicit TLS; default: on port 993")
      ),
      startTls: Config.boolean("IMAP_STARTTLS").pipe(
        Config.option,
        Config.withDescription("true requires STARTTLS, false never upgrades; default: when offered")
      ),
      user: Config.string("IMAP_USER"),
      password: Config.redacted("IMAP_PASSWORD"),
      mailbox: Config.string("IMAP_MAILBOX").pipe(Config.withDefault("INBOX")),
      poll: Config.duration("IMAP_POLL").pipe(
        Config.option,
        Config.withDescription("Look for new mail at this interval; absent: read the unseen mails once")
      )
    }),
    (c) =>
      make({
        host: c.host,
        port: Option.getOrUndefined(c.port),
        secure: Option.getOrUndefined(c.secure),
        startTls: Option.getOrUndefined(c.startTls),
        user: c.user,
        password: c.password,
        mailbox: c.mailbox,
        poll: Option.getOrUndefined(c.poll)
      })
  )
)
