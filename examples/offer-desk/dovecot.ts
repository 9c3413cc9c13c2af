/**
 * A throwaway Dovecot IMAP server on 127.0.0.1, for the offer-desk example and its test: a standalone
 * config in a temp folder (never `/etc/dovecot`), one user, a maildir, a free port. It stops with the
 * scope (SIGTERM, then waits for the exit) and its folder is removed.
 *
 * Facts behind the config are in `shared/notes/dovecot-for-tests.md`: the folder must be 0755 for
 * Dovecot's unprivileged processes, the mail user cannot be uid 0, readiness is the `* OK` greeting.
 */
import { spawn, type ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { Duration, Effect, Redacted, Schedule, Schema, type Scope } from "effect"
import { ImapFlow } from "imapflow"

/** The line that installs Dovecot on Debian (as root). */
export const INSTALL = "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y dovecot-imapd"

export class DovecotError extends Schema.TaggedError<DovecotError>()("DovecotError", {
  reason: Schema.Literal("NotInstalled", "Start", "Seed", "Read"),
  message: Schema.String
}) {}

export interface DovecotOptions {
  /** Default "testuser". */
  readonly user?: string | undefined
  /** Default "secret". */
  readonly password?: string | undefined
  /** Until the greeting. Default 15 seconds. */
  readonly startTimeout?: Duration.DurationInput | undefined
}

/** A message as the server holds it, for checks. */
export interface StoredMessage {
  readonly uid: number
  readonly messageId: string | null
  readonly subject: string
  readonly seen: boolean
}

export interface Dovecot {
  readonly host: string
  readonly port: number
  readonly user: string
  readonly password: Redacted.Redacted<string>
  /** The settings an imapflow-based client needs (plain IMAP on loopback). */
  readonly imap: {
    readonly host: string
    readonly port: number
    readonly secure: false
    readonly startTls: false
    readonly user: string
    readonly password: Redacted.Redacted<string>
  }
  /** Milliseconds from spawning Dovecot to its `* OK` greeting. */
  readonly startedInMs: number
  /** Appends raw RFC 822 messages to INBOX, unseen, in order (so their UIDs follow the order). */
  readonly append: (messages: ReadonlyArray<string>) => Effect.Effect<void, DovecotError>
  /** Every message in INBOX with its `\Seen` flag, read without marking anything. */
  readonly messages: Effect.Effect<ReadonlyArray<StoredMessage>, DovecotError>
  /** Dovecot's own log, for diagnosing a failure. */
  readonly log: Effect.Effect<string>
}

/** Where Debian and others put daemons, often not on a user's PATH. */
export const SEARCH_DIRS = ["/usr/sbin", "/usr/local/sbin", "/sbin"]

const findDovecot = Effect.suspend(() => {
  const dirs = [...(process.env["PATH"] ?? "").split(path.delimiter), ...SEARCH_DIRS].filter((d) => d.length > 0)
  for (const dir of dirs) {
    const candidate = path.join(dir, "dovecot")
    try {
      fs.accessSync(candidate, fs.constants.X_OK)
      return Effect.succeed(candidate)
    } catch {
      // not here
    }
  }
  return Effect.fail(
    new DovecotError({
      reason: "NotInstalled",
      message: `dovecot is not installed (looked in PATH and ${SEARCH_DIRS.join(", ")}); install it with: ${INSTALL}`
    })
  )
})

const freePort = Effect.async<number, DovecotError>((resume) => {
  const server = net.createServer()
  server.once("error", (e) =>
    resume(Effect.fail(new DovecotError({ reason: "Start", message: `no free port: ${e.message}` })))
  )
  server.listen(0, "127.0.0.1", () => {
    const port = (server.address() as net.AddressInfo).port
    server.close(() => resume(Effect.succeed(port)))
  })
})

const groupName = (gid: number): string => {
  try {
    const line = fs
      .readFileSync("/etc/group", "utf8")
      .split("\n")
      .find((l) => l.split(":")[2] === String(gid))
    return line?.split(":")[0] ?? String(gid)
  } catch {
    return String(gid)
  }
}

const config = (dir: string, port: number, root: boolean): string => {
  // Not root: Dovecot cannot switch users or chroot, so every process runs as us.
  const me = os.userInfo()
  const unprivileged = root
    ? ""
    : `default_internal_user = ${me.username}
default_internal_group = ${groupName(me.gid)}
default_login_user = ${me.username}
service anvil {
  chroot =
}
`
  return `instance_name = sluice-test
base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${dir}/log/dovecot.log
info_log_path = ${dir}/log/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:${dir}/mail/%u
${unprivileged}passdb {
  driver = passwd-file
  args = scheme=PLAIN ${dir}/users
}
userdb {
  driver = passwd-file
  args = ${dir}/users
}
service imap-login {
${root ? "" : "  chroot =\n"}  inet_listener imap {
    address = 127.0.0.1
    port = ${port}
  }
  inet_listener imaps {
    port = 0
  }
}
`
}

/** Resolves once the server sends its `* OK` greeting; a refused connection is tried again. */
const greeting = (port: number, child: ChildProcess, output: () => string, timeout: Duration.DurationInput) => {
  const once = Effect.async<"ok", "retry" | DovecotError>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resume(
        Effect.fail(
          new DovecotError({
            reason: "Start",
            message: `dovecot exited at start (${child.exitCode ?? child.signalCode}): ${output()}`
          })
        )
      )
      return
    }
    let buffer = ""
    let done = false
    const finish = (ok: boolean) => {
      if (done) return
      done = true
      socket.destroy()
      resume(ok ? Effect.succeed("ok" as const) : Effect.fail("retry" as const))
    }
    const socket = net.connect({ host: "127.0.0.1", port })
    socket.setEncoding("latin1")
    socket.on("data", (d: string) => {
      buffer += d
      if (buffer.includes("\n")) finish(buffer.startsWith("* OK"))
    })
    socket.on("error", () => finish(false))
    socket.on("close", () => finish(false))
    return Effect.sync(() => socket.destroy())
  })
  return once.pipe(
    Effect.retry({ schedule: Schedule.spaced("10 millis"), while: (e) => e === "retry" }),
    Effect.catchIf(
      (e): e is "retry" => e === "retry",
      () => Effect.fail(new DovecotError({ reason: "Start", message: "no greeting" }))
    ),
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () =>
        new DovecotError({
          reason: "Start",
          message: `no "* OK" greeting on port ${port} within ${Duration.format(Duration.decode(timeout))}: ${output()}`
        })
    })
  )
}

const stop = (child: ChildProcess) =>
  Effect.async<void>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
    // SIGKILL would leave Dovecot's children running; SIGTERM takes about a second (a fixed sleep).
    const kill = setTimeout(() => {
      try {
        process.kill(-child.pid!, "SIGKILL")
      } catch {
        // already gone
      }
    }, 10_000)
    child.once("exit", () => {
      clearTimeout(kill)
      resume(Effect.void)
    })
    child.kill("SIGTERM")
  })

const client = (port: number, user: string, password: string) =>
  new ImapFlow({
    host: "127.0.0.1",
    port,
    secure: false,
    doSTARTTLS: false,
    auth: { user, pass: password },
    logger: false
  })

/** Runs `f` on a fresh logged-in connection, logging out afterwards. */
const withClient = <A>(
  port: number,
  user: string,
  password: string,
  reason: "Seed" | "Read",
  f: (c: ImapFlow) => Promise<A>
) =>
  Effect.tryPromise({
    try: async () => {
      const c = client(port, user, password)
      c.on("error", () => {})
      await c.connect()
      try {
        return await f(c)
      } finally {
        await c.logout().catch(() => c.close())
      }
    },
    catch: (e) =>
      new DovecotError({
        reason,
        message: `IMAP ${reason.toLowerCase()}: ${e instanceof Error ? e.message : String(e)}`
      })
  })

const startOnce = (options: DovecotOptions): Effect.Effect<Dovecot, DovecotError, Scope.Scope> =>
  Effect.gen(function* () {
    const bin = yield* findDovecot
    const user = options.user ?? "testuser"
    const password = options.password ?? "secret"
    const root = process.getuid?.() === 0
    const uid = root ? 65534 : process.getuid!()
    const gid = root ? 65534 : process.getgid!()

    // Short: socket paths under base_dir are limited to about 108 characters.
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "dc-"))),
      (d) => Effect.sync(() => fs.rmSync(d, { recursive: true, force: true }))
    )
    const port = yield* freePort
    yield* Effect.sync(() => {
      // mkdtemp makes 0700, which Dovecot's auth and mail processes cannot enter.
      fs.chmodSync(dir, 0o755)
      for (const sub of ["run", "state", "log", "mail", "home"]) fs.mkdirSync(path.join(dir, sub), { mode: 0o755 })
      fs.mkdirSync(path.join(dir, "home", user))
      fs.writeFileSync(path.join(dir, "users"), `${user}:{PLAIN}${password}:${uid}:${gid}::${dir}/home/${user}\n`, {
        mode: 0o644
      })
      fs.writeFileSync(path.join(dir, "dovecot.conf"), config(dir, port, root))
      if (root) {
        for (const sub of ["mail", "home", `home/${user}`]) fs.chownSync(path.join(dir, sub), uid, gid)
      }
    })
    const logFile = path.join(dir, "log", "dovecot.log")
    const readLog = Effect.sync(() => {
      try {
        return fs.readFileSync(logFile, "utf8")
      } catch {
        return ""
      }
    })

    let output = ""
    const spawnedAt = Date.now()
    const child = yield* Effect.acquireRelease(
      Effect.async<ChildProcess, DovecotError>((resume) => {
        const c = spawn(bin, ["-F", "-c", path.join(dir, "dovecot.conf")], {
          stdio: ["ignore", "pipe", "pipe"],
          // Its own process group, so a last-resort kill reaches its children too.
          detached: true
        })
        c.stdout!.on("data", (d) => (output += d))
        c.stderr!.on("data", (d) => (output += d))
        c.once("error", (e) =>
          resume(
            Effect.fail(
              new DovecotError({
                reason: (e as NodeJS.ErrnoException).code === "ENOENT" ? "NotInstalled" : "Start",
                message: `cannot run ${bin}: ${e.message}; install it with: ${INSTALL}`
              })
            )
          )
        )
        c.once("spawn", () => resume(Effect.succeed(c)))
      }),
      stop
    )
    const tail = () => `${output}${Effect.runSync(readLog)}`.trim().split("\n").slice(-8).join(" | ")
    yield* greeting(port, child, tail, options.startTimeout ?? "15 seconds")
    const startedInMs = Date.now() - spawnedAt

    const secret = Redacted.make(password)
    return {
      host: "127.0.0.1",
      port,
      user,
      password: secret,
      imap: { host: "127.0.0.1", port, secure: false, startTls: false, user, password: secret },
      startedInMs,
      append: (messages) =>
        withClient(port, user, password, "Seed", async (c) => {
          for (const m of messages) await c.append("INBOX", m, [])
        }),
      messages: withClient(port, user, password, "Read", async (c) => {
        await c.mailboxOpen("INBOX", { readOnly: true })
        const all = await c.fetchAll("1:*", { uid: true, flags: true, envelope: true }, { uid: true })
        return all
          .map((m) => ({
            uid: m.uid,
            messageId: m.envelope?.messageId ?? null,
            subject: m.envelope?.subject ?? "",
            seen: m.flags?.has("\\Seen") ?? false
          }))
          .sort((a, b) => a.uid - b.uid)
      }),
      log: readLog
    } satisfies Dovecot
  })

/**
 * Starts a throwaway Dovecot that stops with the scope. A port taken between choosing it and binding
 * it is tried again with another one.
 */
export const start = (options: DovecotOptions = {}): Effect.Effect<Dovecot, DovecotError, Scope.Scope> =>
  startOnce(options).pipe(
    Effect.retry({
      times: 2,
      while: (e) => e.reason === "Start" && /in use|bind\(/i.test(e.message)
    })
  )
