/**
 * Runs the built `sluice` executable (see `test/globalSetup.ts`) as a child process, the way a user
 * or another tool drives it.
 */
import { Duration, Effect } from "effect"
import { spawn, type ChildProcess } from "node:child_process"
import * as path from "node:path"

export const BIN = path.resolve(import.meta.dirname, "../../dist/bin.js")

export interface CliResult {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

/** Environment for a child: no inherited OpenAI settings, logs quiet unless asked. */
export const childEnv = (env: Record<string, string> = {}): NodeJS.ProcessEnv => {
  const base: NodeJS.ProcessEnv = { ...process.env }
  for (const k of Object.keys(base)) if (k.startsWith("OPENAI_") || k.startsWith("SLUICE_")) delete base[k]
  return { ...base, ...env }
}

/** Starts `sluice …`; the caller waits on it with `exited`. */
export const spawnCli = (args: ReadonlyArray<string>, options: { cwd?: string; env?: Record<string, string> } = {}) => {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? process.cwd(),
    env: childEnv(options.env),
    stdio: ["ignore", "pipe", "pipe"]
  })
  let stdout = ""
  let stderr = ""
  child.stdout!.on("data", (d) => (stdout += d))
  child.stderr!.on("data", (d) => (stderr += d))
  const exited = new Promise<CliResult>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal, stdout, stderr }))
  )
  return { child: child as ChildProcess, exited, output: () => ({ stdout, stderr }) }
}

/** Runs `sluice …` to its end, killing it after `timeoutMs`. */
export const runCli = async (
  args: ReadonlyArray<string>,
  options: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {}
): Promise<CliResult> => {
  const p = spawnCli(args, options)
  const timer = setTimeout(() => p.child.kill("SIGKILL"), options.timeoutMs ?? 60_000)
  try {
    return await p.exited
  } finally {
    clearTimeout(timer)
  }
}

/** A `sluice` child that is killed (SIGKILL) when the scope closes, if it is still running. */
export const spawnScoped = (
  args: ReadonlyArray<string>,
  options: { cwd?: string; env?: Record<string, string> } = {}
) =>
  Effect.acquireRelease(
    Effect.sync(() => spawnCli(args, options)),
    (p) =>
      p.child.exitCode !== null || p.child.signalCode !== null
        ? Effect.void
        : Effect.promise(() => {
            p.child.kill("SIGKILL")
            return p.exited
          })
  )

/** Waits for a child to exit, failing the test (a defect) after `ms`. */
export const awaitExit = (p: { exited: Promise<CliResult> }, ms: number, what: string) =>
  Effect.promise(() => p.exited).pipe(
    Effect.timeoutFail({
      duration: Duration.millis(ms),
      onTimeout: () => new Error(`${what} did not exit within ${ms} ms`)
    }),
    Effect.orDie
  )
