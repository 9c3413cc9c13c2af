/**
 * The CLI tells the truth: the built executable, driven as a script or a person would drive it.
 *
 * Real processes and real time (`it.scopedLive`), every child bounded by a timeout. Terminal cases
 * run the executable under `script(1)`, which gives it a pseudo-terminal.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import { awaitExit, BIN, childEnv, type CliResult, runCli, spawnScoped } from "../support/Cli.js"
import { getJson } from "../support/Http.js"
import { freePort } from "../support/Net.js"
import { tempDir, writeJsonl } from "../support/Temp.js"
import { waitFor, waitUntil } from "../support/Wait.js"

const cli = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.promise(() => runCli(args, { timeoutMs: 90_000, env }))

const lines = (text: string) => text.split("\n").filter((l) => l.trim().length > 0)

const ESC = "\x1b["

/** Runs `sluice …` on a pseudo-terminal (`script -qec`); returns what the terminal showed. */
const onTerminal = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.async<string>((resume) => {
    const command = [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(" ")
    execFile(
      "script",
      ["-qec", command, "/dev/null"],
      { env: childEnv(env), timeout: 90_000, maxBuffer: 16 * 1024 * 1024 },
      (_error, stdout) => resume(Effect.succeed(stdout))
    )
  })

/** The URL of a `sluice simulate` child's listening line, once it is printed. */
const listening = (p: { output: () => { stdout: string } }) =>
  Effect.map(
    waitFor(
      Effect.sync(() => /listening on (\S+)\n/.exec(p.output().stdout)?.[1]),
      (url) => url !== undefined,
      60_000,
      "the simulator's listening line"
    ),
    (url) => url!
  )

describe("sluice tells the truth (real processes)", () => {
  it.scopedLive(
    "simulate --port 0 prints `listening on http://127.0.0.1:PORT/v1` on stdout once, and that URL answers; SLUICE_PORT picks its port (real processes)",
    () =>
      Effect.gen(function* () {
        const sim = yield* spawnScoped(["simulate", "--port", "0"])
        const line = yield* listening(sim)
        expect(line).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/)
        const stats = yield* getJson(`${line}/_sim/stats`)
        expect(stats.accepted).toBe(0)
        // Once: nothing else reaches stdout while it serves.
        expect(lines(sim.output().stdout)).toEqual([`listening on ${line}`])
        sim.child.kill("SIGTERM")
        const stopped = yield* awaitExit(sim, 30_000, "sluice simulate")
        expect(lines(stopped.stdout)).toEqual([`listening on ${line}`])
        expect(stopped.code).toBe(0)

        const port = yield* freePort
        const byEnv = yield* spawnScoped(["simulate"], { env: { SLUICE_PORT: String(port) } })
        const url = yield* listening(byEnv)
        expect(url).toBe(`http://127.0.0.1:${port}/v1`)
        expect((yield* getJson(`${url}/_sim/stats`)).accepted).toBe(0)
      }),
    { timeout: 150_000 }
  )

  it.scopedLive(
    "status, export and retry on a --db that does not exist: exit 2, one line naming it, and no database created (real processes)",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const typo = path.join(dir, "slucie.db")
        for (const args of [
          ["status", "--db", typo],
          ["status", "--db", typo, "--watch"],
          ["export", "--db", typo, "--run", "r", "--out", path.join(dir, "out.jsonl")],
          ["retry", "--db", typo, "--failed"]
        ]) {
          const r = yield* cli(args)
          expect({ args, code: r.code, stderr: lines(r.stderr) }).toEqual({
            args,
            code: 2,
            stderr: [expect.stringContaining(`no database at ${typo}`)]
          })
        }
        // The default database, in a directory that has none.
        const here = yield* Effect.promise(() => runCli(["status"], { cwd: dir, timeoutMs: 90_000 }))
        expect(here.code).toBe(2)
        expect(here.stderr).toContain("./sluice.db")
        expect(fs.readdirSync(dir)).toEqual([])

        // A database that exists is read as before.
        const input = path.join(dir, "items.jsonl")
        yield* writeJsonl(input, [{ id: "a" }])
        const db = path.join(dir, "sluice.db")
        expect((yield* cli(["run", input, "--db", db, "--processor", "echo"])).code).toBe(0)
        const status = yield* cli(["status", "--db", db])
        expect(status.code).toBe(0)
        expect(status.stdout).toContain("items.jsonl")
      }),
    { timeout: 150_000 }
  )

  it.scopedLive(
    "a nonsensical number exits 2 with one line naming the flag or variable, and nothing is created (real processes)",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const input = path.join(dir, "items.jsonl")
        yield* writeJsonl(input, [{ id: "a" }])
        const db = path.join(dir, "sluice.db")
        const cases: ReadonlyArray<readonly [ReadonlyArray<string>, Record<string, string>, string]> = [
          [["run", input, "--db", db, "--rpm", "-5"], {}, "--rpm"],
          [["run", input, "--db", db, "--concurrency", "0"], {}, "--concurrency"],
          [["worker", "--db", db], { SLUICE_LEASE: "1.5" }, "SLUICE_LEASE"],
          [["simulate", "--error-rate", "NaN"], {}, "--error-rate"]
        ]
        for (const [args, env, named] of cases) {
          const r: CliResult = yield* cli(args, env)
          expect({ args, code: r.code, stderr: lines(r.stderr) }).toEqual({
            args,
            code: 2,
            stderr: [expect.stringMatching(new RegExp(`^sluice: ${named} must be `))]
          })
        }
        expect(fs.readdirSync(dir)).toEqual(["items.jsonl"])
      }),
    { timeout: 150_000 }
  )

  it.scopedLive(
    "no colour codes in a pipe, nor on a terminal with NO_COLOR; a terminal without it gets them (real processes)",
    () =>
      Effect.gen(function* () {
        const piped = yield* cli(["run", "--help"])
        expect(piped.stdout).toContain("--concurrency")
        expect(piped.stdout).not.toContain(ESC)
        const wrong = yield* cli(["run", "--bogus-flag"])
        expect(wrong.code).toBe(2)
        expect(wrong.stderr.length).toBeGreaterThan(0)
        expect(wrong.stderr).not.toContain(ESC)
        // Logs (stderr) in a pipe, while stdout is a pipe too.
        const logged = yield* cli(["status", "--db", "/nonexistent/x.db"], { SLUICE_LOG_LEVEL: "debug" })
        expect(logged.stderr).not.toContain(ESC)

        const terminal = yield* onTerminal(["run", "--help"])
        expect(terminal).toContain("--concurrency")
        expect(terminal).toContain(ESC)
        const noColor = yield* onTerminal(["run", "--help"], { NO_COLOR: "1" })
        expect(noColor).toContain("--concurrency")
        expect(noColor).not.toContain(ESC)
        const forced = yield* cli(["run", "--help"], { FORCE_COLOR: "1" })
        expect(forced.stdout).toContain(ESC)
      }),
    { timeout: 150_000 }
  )

  it.scopedLive(
    "an OTLP collector that never answers delays the exit by about 1 s, not 10, and is reported once on stderr (real processes)",
    () =>
      Effect.gen(function* () {
        // Accepts connections and never answers: a collector that is down behind a live port.
        const sockets: Array<net.Socket> = []
        const server = net.createServer((s) => void sockets.push(s))
        yield* Effect.acquireRelease(
          Effect.async<void>((resume) => void server.listen(0, "127.0.0.1", () => resume(Effect.void))),
          () =>
            Effect.sync(() => {
              sockets.forEach((s) => s.destroy())
              server.close()
            })
        )
        const port = (server.address() as net.AddressInfo).port
        const dir = yield* tempDir()
        const input = path.join(dir, "items.jsonl")
        yield* writeJsonl(
          input,
          Array.from({ length: 20 }, (_, i) => ({ id: `i${i}` }))
        )
        const p = yield* spawnScoped(["run", input, "--db", path.join(dir, "sluice.db"), "--processor", "echo"], {
          env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` }
        })
        // From the run's summary (the command's work is done) to the process's exit.
        yield* waitUntil(() => p.output().stderr.includes("results:"), 90_000, "the run's summary")
        const summarisedAt = Date.now()
        const r = yield* awaitExit(p, 60_000, "sluice run")
        const tail = Date.now() - summarisedAt
        expect(r.code).toBe(0)
        // 1 s of bounded flush, plus the teardown on a busy machine; the unbounded exporter took ~10 s.
        expect(tail).toBeLessThan(5_000)
        const said = lines(r.stderr).filter((l) => l.includes("traces"))
        expect(said).toEqual([
          expect.stringMatching(/^sluice: traces: .*127\.0\.0\.1:\d+ did not answer within 1 s; \d+ span\(s\) dropped$/)
        ])
      }),
    { timeout: 150_000 }
  )
})
