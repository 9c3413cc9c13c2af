/**
 * Starts `sim.ts` in a child process and drives it over its control routes.
 */
import { spawn, type ChildProcess } from "node:child_process"
import * as path from "node:path"
import { createInterface } from "node:readline"
import type { SimulatorOptions } from "../../src/Simulator/Options.js"
import type { LogEntry, Stats } from "../../src/Simulator/Stats.js"

const SIM = path.resolve(import.meta.dirname, "sim.ts")

export interface SimProcess {
  readonly url: string
  readonly reset: () => Promise<void>
  readonly stats: () => Promise<Stats>
  /** Admitted requests since the last reset. */
  readonly log: () => Promise<ReadonlyArray<LogEntry>>
  readonly stop: () => Promise<void>
}

export const startSimulator = (options: SimulatorOptions): Promise<SimProcess> =>
  new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", SIM, JSON.stringify(options)], {
      stdio: ["ignore", "pipe", "inherit"]
    })
    const failed = (e: Error) => reject(e)
    child.once("error", failed)
    child.once("exit", (code) => reject(new Error(`simulator exited early (${code})`)))
    const lines = createInterface({ input: child.stdout! })
    lines.once("line", (url) => {
      child.off("error", failed)
      child.removeAllListeners("exit")
      const control = (route: string, method: string) =>
        fetch(`${url}/_sim/${route}`, { method }).then((r) => {
          if (!r.ok) throw new Error(`simulator ${route}: ${r.status}`)
          return r.json() as Promise<unknown>
        })
      resolve({
        url,
        reset: () => control("reset", "POST").then(() => undefined),
        stats: () => control("stats", "GET") as Promise<Stats>,
        log: () => control("log", "GET") as Promise<ReadonlyArray<LogEntry>>,
        stop: () =>
          new Promise((done) => {
            child.once("exit", () => done())
            child.kill("SIGTERM")
          })
      })
    })
  })
