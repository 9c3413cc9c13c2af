/**
 * `sluice serve` stops promptly on SIGTERM or SIGINT while clients hold connections open, as a browser
 * with the dashboard open does: Chromium keeps a spare connection on which no request has started and
 * polls the page's live URL over keep-alive connections. Node's `server.close()` waited for the spare
 * one (until its 60 s header timeout), so the service did not exit (`src/Http/ClosingServer.ts`).
 *
 * Real processes and real HTTP on 127.0.0.1, no browser: a raw socket stands for the spare connection,
 * a keep-alive agent polls. Every wait is bounded; a child still running at the end is killed.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as http from "node:http"
import * as net from "node:net"
import * as path from "node:path"
import { awaitExit, spawnScoped } from "../support/Cli.js"
import { tempDir } from "../support/Temp.js"

/** Signal to exit, with the workers idle: the bound a user can rely on (the HTTP grace is 2 s). */
const BOUND_MS = 5_000

const listening = (p: { output: () => { stderr: string } }, ms: number) =>
  Effect.gen(function* () {
    const deadline = Date.now() + ms
    while (true) {
      const url = /listening on (http:\/\/\S+)/.exec(p.output().stderr)?.[1]
      if (url !== undefined) return url
      if (Date.now() > deadline) return yield* Effect.die(new Error(`serve did not start: ${p.output().stderr}`))
      yield* Effect.sleep("50 millis")
    }
  })

/** A connection that is open and has sent nothing, like a browser's preconnected socket. */
const spareConnection = (url: string) =>
  Effect.acquireRelease(
    Effect.async<{ readonly socket: net.Socket; readonly closed: Promise<void> }>((resume) => {
      const u = new URL(url)
      const socket = net.connect(Number(u.port), u.hostname, () => resume(Effect.succeed({ socket, closed })))
      const closed = new Promise<void>((r) => socket.once("close", () => r()))
      socket.on("error", () => undefined)
      // Read (nothing is expected), so that the server's end of it is seen.
      socket.resume()
    }),
    ({ socket }) => Effect.sync(() => socket.destroy())
  )

/** Polls `path` over keep-alive connections until stopped; each poll ends answered or refused, never hangs. */
const poller = (url: string, paths: ReadonlyArray<string>) => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 3 })
  let stopped = false
  const statuses: Array<number | "error"> = []
  const once = (p: string) =>
    new Promise<void>((resolve) => {
      const req = http.get(`${url}${p}`, { agent }, (res) => {
        res.resume()
        res.on("end", () => {
          statuses.push(res.statusCode ?? 0)
          resolve()
        })
        res.on("error", () => {
          statuses.push("error")
          resolve()
        })
      })
      req.on("error", () => {
        statuses.push("error")
        resolve()
      })
    })
  const loops = paths.map(async (p) => {
    while (!stopped) {
      await once(p)
      await new Promise((r) => setTimeout(r, 25))
    }
  })
  return {
    statuses,
    answered: () => statuses.filter((s) => s === 200).length,
    stop: async () => {
      stopped = true
      await Promise.all(loops)
      agent.destroy()
    }
  }
}

const stopsPromptly = (signal: "SIGTERM" | "SIGINT") =>
  Effect.gen(function* () {
    const dir = yield* tempDir()
    const serve = yield* spawnScoped([
      "serve",
      "--db",
      path.join(dir, "serve.db"),
      "--port",
      "0",
      "--processor",
      "echo"
    ])
    const url = yield* listening(serve, 30_000)
    const spare = yield* spareConnection(url)
    const polls = poller(url, ["/runs.live", "/runs.live", "/healthz"])
    yield* Effect.addFinalizer(() => Effect.promise(() => polls.stop()))
    // The pollers are answered over their kept connections before the signal comes.
    const deadline = Date.now() + 30_000
    while (polls.answered() < 6 && Date.now() < deadline) yield* Effect.sleep("25 millis")
    expect(polls.answered()).toBeGreaterThanOrEqual(6)

    const sentAt = Date.now()
    serve.child.kill(signal)
    const stopped = yield* awaitExit(serve, BOUND_MS, `sluice serve after ${signal} with clients connected`)
    const stopMs = Date.now() - sentAt
    console.log(`sluice serve: ${signal} to exit ${stopMs} ms with a spare connection and 3 keep-alive pollers`)
    expect(stopped.code).toBe(0)
    expect(stopped.signal).toBeNull()
    expect(stopped.stderr).toContain("stopped")
    // The spare connection was closed by the server's side, not left open.
    yield* Effect.promise(() => spare.closed).pipe(Effect.timeout("5 seconds"), Effect.orDie)
    // Every poll ended (answered, or refused once the server was gone): none hung on the stopped service.
    yield* Effect.promise(() => polls.stop()).pipe(Effect.timeout("5 seconds"), Effect.orDie)
    expect(polls.statuses.every((s) => s === 200 || s === 503 || s === "error")).toBe(true)
  })

describe("sluice serve stops with clients connected (real processes, real HTTP on 127.0.0.1)", () => {
  it.scopedLive(
    `SIGTERM with a spare connection and keep-alive pollers: exit 0 within ${BOUND_MS} ms (real process, real HTTP on 127.0.0.1)`,
    () => stopsPromptly("SIGTERM"),
    60_000
  )
  it.scopedLive(
    `SIGINT with a spare connection and keep-alive pollers: exit 0 within ${BOUND_MS} ms (real process, real HTTP on 127.0.0.1)`,
    () => stopsPromptly("SIGINT"),
    60_000
  )
})
