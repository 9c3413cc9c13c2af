/**
 * The inbox service as an operator runs it: `sluice serve --imap …` processes, several of them on one
 * SQLite file, each polling the same mailbox and working the same queue. This file drives them as
 * child processes of the built CLI (`dist/bin.js`) and reads what they report: the run over HTTP,
 * `sluice status`, `/metrics`. The example and its test share it.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { Duration, Effect, Schema, type Scope } from "effect"

export const ROOT = path.resolve(import.meta.dirname, "../..")
export const BIN = path.join(ROOT, "dist", "bin.js")

export class InboxError extends Schema.TaggedError<InboxError>()("InboxError", {
  reason: Schema.Literal("Build", "Start", "Timeout", "Status"),
  message: Schema.String
}) {}

/** Builds `dist/` when it is missing (the instances run the built CLI, as an operator would). */
export const ensureBuilt = Effect.suspend(() =>
  fs.existsSync(BIN)
    ? Effect.void
    : Effect.try({
        try: () => {
          process.stderr.write("building dist/ (tsc -p tsconfig.build.json) …\n")
          execFileSync(
            process.execPath,
            [path.join(ROOT, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json"],
            {
              cwd: ROOT,
              stdio: "inherit"
            }
          )
        },
        catch: (e) => new InboxError({ reason: "Build", message: `cannot build dist/: ${String(e)}` })
      })
)

export interface InstanceOptions {
  /** A name for messages ("A", "B"). */
  readonly name: string
  readonly db: string
  /** `imap://user@host:port/INBOX`; the password goes in `password`, passed as IMAP_PASSWORD. */
  readonly imap: string
  readonly password: string
  readonly baseUrl: string
  /** A file with the system prompt. */
  readonly prompt: string
  readonly concurrency: number
  /** Seconds. */
  readonly lease: number
  /** Seconds between mailbox searches. */
  readonly imapPoll: number
  readonly run?: string | undefined
  readonly model?: string | undefined
  readonly extraArgs?: ReadonlyArray<string> | undefined
}

export interface Instance {
  readonly name: string
  readonly url: string
  readonly child: ChildProcess
  readonly stderr: () => string
  readonly exited: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
}

/** The environment of a child: no inherited OpenAI or sluice settings. */
const childEnv = (extra: Record<string, string>): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env }
  for (const k of Object.keys(env))
    if (k.startsWith("OPENAI_") || k.startsWith("SLUICE_") || k.startsWith("IMAP_")) delete env[k]
  return { ...env, ...extra }
}

export const serveArgs = (o: InstanceOptions): Array<string> => [
  "serve",
  "--db",
  o.db,
  "--port",
  "0",
  "--imap",
  o.imap,
  "--imap-poll",
  String(o.imapPoll),
  "--inbox-run",
  o.run ?? "inbox",
  "--base-url",
  o.baseUrl,
  // The simulator has no limit: say so, rather than have admission discover it from 60 RPM up.
  "--rpm",
  "60000",
  "--model",
  o.model ?? "sim-mail-sorter",
  "--prompt",
  o.prompt,
  "--max-tokens",
  "200",
  "--concurrency",
  String(o.concurrency),
  "--lease",
  String(o.lease),
  // Every answer comes from the upstream, so its log shows each mail's real processing, once.
  "--no-cache",
  ...(o.extraArgs ?? [])
]

/**
 * Starts `sluice serve` and waits until it listens. It is killed (SIGKILL) when the scope closes if it
 * is still running: stop it with `stop` first for a drained shutdown.
 */
export const start = (o: InstanceOptions): Effect.Effect<Instance, InboxError, Scope.Scope> =>
  Effect.gen(function* () {
    const spawned = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const child = spawn(process.execPath, [BIN, ...serveArgs(o)], {
          cwd: ROOT,
          env: childEnv({ IMAP_PASSWORD: o.password, OPENAI_API_KEY: "sk-simulator", SLUICE_LOG_LEVEL: "warning" }),
          stdio: ["ignore", "ignore", "pipe"]
        })
        let stderr = ""
        child.stderr!.on("data", (d) => (stderr += d))
        const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
          child.on("exit", (code, signal) => resolve({ code, signal }))
        )
        return { child, exited, stderr: () => stderr }
      }),
      (p) =>
        p.child.exitCode !== null || p.child.signalCode !== null
          ? Effect.void
          : Effect.promise(() => {
              p.child.kill("SIGKILL")
              return p.exited
            })
    )
    const deadline = Date.now() + 30_000
    while (true) {
      const url = /listening on (http:\/\/\S+)/.exec(spawned.stderr())?.[1]
      if (url !== undefined) return { name: o.name, url, ...spawned }
      if (spawned.child.exitCode !== null || Date.now() > deadline) {
        return yield* new InboxError({
          reason: "Start",
          message: `instance ${o.name} did not start: ${spawned.stderr().trim().slice(-800)}`
        })
      }
      yield* Effect.sleep("50 millis")
    }
  })

/** Sends `signal` and waits for the exit. */
export const stop = (
  instance: Instance,
  signal: NodeJS.Signals = "SIGTERM",
  within: Duration.DurationInput = "20 seconds"
) =>
  Effect.suspend(() => {
    if (instance.child.exitCode === null && instance.child.signalCode === null) instance.child.kill(signal)
    return Effect.promise(() => instance.exited)
  }).pipe(
    Effect.timeoutFail({
      duration: within,
      onTimeout: () =>
        new InboxError({ reason: "Timeout", message: `instance ${instance.name} did not exit after ${signal}` })
    })
  )

const getText = (url: string) =>
  Effect.tryPromise({
    try: (signal) =>
      fetch(url, { signal: AbortSignal.any([signal, AbortSignal.timeout(10_000)]) }).then((r) => r.text()),
    catch: (e) => new InboxError({ reason: "Status", message: `GET ${url}: ${String(e)}` })
  })

export interface RunView {
  readonly counts: { pending: number; processing: number; completed: number; skipped: number; failed: number }
  readonly total: number
  readonly done: boolean
}

/** `GET /v1/runs/<run>` of an instance. */
export const runView = (instance: Instance, run = "inbox") =>
  Effect.map(getText(`${instance.url}/v1/runs/${encodeURIComponent(run)}`), (t) => JSON.parse(t) as RunView)

/** Items this instance brought to each outcome, from its `/metrics`. */
export const outcomes = (instance: Instance) =>
  Effect.map(getText(`${instance.url}/metrics`), (text) => {
    const by: Record<string, number> = { completed: 0, skipped: 0, failed: 0 }
    for (const m of text.matchAll(/^sluice_items_total\{([^}]*)\}\s+(\S+)$/gm)) {
      const outcome = /outcome="([^"]+)"/.exec(m[1]!)?.[1]
      if (outcome !== undefined) by[outcome] = (by[outcome] ?? 0) + Number(m[2])
    }
    return by
  })

export interface Status {
  /** What `sluice status` printed. */
  readonly text: string
  readonly counts: { pending: number; processing: number; completed: number; skipped: number; failed: number }
}

/** Runs `sluice status --db <db> --run <run>` and reads the run's line. */
export const status = (db: string, run = "inbox") =>
  Effect.tryPromise({
    try: () =>
      new Promise<Status>((resolve, reject) => {
        const child = spawn(process.execPath, [BIN, "status", "--db", db, "--run", run], {
          cwd: ROOT,
          env: childEnv({}),
          stdio: ["ignore", "pipe", "pipe"]
        })
        let out = ""
        let err = ""
        child.stdout!.on("data", (d) => (out += d))
        child.stderr!.on("data", (d) => (err += d))
        const timer = setTimeout(() => child.kill("SIGKILL"), 30_000)
        child.on("exit", (code) => {
          clearTimeout(timer)
          const line = out.split("\n").find((l) => l.startsWith(`${run} `))
          const n = line?.slice(run.length).trim().split(/\s+/).slice(0, 5).map(Number)
          if (code !== 0 || n === undefined || n.length < 5 || n.some((x) => !Number.isInteger(x))) {
            return reject(new Error(`sluice status exited ${code}: ${out}${err}`))
          }
          const [pending, processing, completed, skipped, failed] = n as [number, number, number, number, number]
          resolve({ text: out.trimEnd(), counts: { pending, processing, completed, skipped, failed } })
        })
      }),
    catch: (e) => new InboxError({ reason: "Status", message: String(e) })
  })

/** Waits until `ok` holds, asking every 200 ms, at most `within`. */
export const waitUntil = <A, E, R>(
  get: Effect.Effect<A, E, R>,
  ok: (a: A) => boolean,
  within: Duration.DurationInput,
  what: string
) =>
  Effect.gen(function* () {
    const deadline = Date.now() + Duration.toMillis(within)
    while (true) {
      const a = yield* get
      if (ok(a)) return a
      if (Date.now() > deadline) {
        return yield* new InboxError({
          reason: "Timeout",
          message: `timed out after ${Duration.format(within)} waiting for ${what}`
        })
      }
      yield* Effect.sleep("200 millis")
    }
  })

/** How many times the upstream answered each content; contents answered more than once are duplicates. */
export const answersPerContent = (log: ReadonlyArray<{ readonly content: string; readonly status: number }>) => {
  const n = new Map<string, number>()
  for (const e of log) if (e.status === 200) n.set(e.content, (n.get(e.content) ?? 0) + 1)
  return n
}

/** Contents answered more than once, and how many extra answers they got. */
export const duplicates = (log: ReadonlyArray<{ readonly content: string; readonly status: number }>) => {
  let extra = 0
  let mails = 0
  for (const k of answersPerContent(log).values()) {
    if (k > 1) {
      mails++
      extra += k - 1
    }
  }
  return { mails, extra }
}
