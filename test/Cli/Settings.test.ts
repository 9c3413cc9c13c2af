/**
 * Every setting of every command, as `--help` shows it and as the command line is parsed: the README's
 * settings table is checked row by row against each command's `--help`, and every number flag refuses
 * nonsense in one line that names it.
 *
 * The commands are parsed in this process (the same `@effect/cli` app the executable runs, its
 * console captured): a refused value never reaches the command. `test/Cli/Truth.test.ts` drives the
 * built executable for the exit codes.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { describe, expect, it } from "@effect/vitest"
import { Console, Effect, Either } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Color from "../../src/Cli/Color.js"
import * as Main from "../../src/Cli/Main.js"

const COMMANDS = ["run", "demo", "simulate", "status", "retry", "export", "worker", "serve"] as const

/** Parses (and, if the arguments are valid, runs) `sluice …` in this process; returns what it printed. */
const sluice = (args: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const base = yield* Console.consoleWith(Effect.succeed)
    const out: Array<string> = []
    const err: Array<string> = []
    const capture: Console.Console = {
      ...base,
      log: (...a) => Effect.sync(() => void out.push(a.map(String).join(" "))),
      error: (...a) => Effect.sync(() => void err.push(a.map(String).join(" ")))
    }
    const result = yield* Main.run(["node", "sluice", ...args]).pipe(
      Effect.withConsole(capture),
      Effect.either,
      // A value that should have been refused but was not would start the command: fail, not hang.
      Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error(`sluice ${args.join(" ")} ran`) }),
      Effect.orDie
    )
    return { result, stdout: Color.strip(out.join("\n")), stderr: Color.strip(err.join("\n")) }
  }).pipe(Effect.provide(NodeContext.layer))

/** The `--help` block of each flag of a command: `--name …` up to the next flag. */
const helpBlocks = (help: string): Map<string, string> => {
  const blocks = new Map<string, string>()
  const options = help.slice(help.indexOf("OPTIONS"))
  for (const block of options.split(/\n(?=--|\(-)/)) {
    // `--name type`, or `(-w, --name)` for a flag with an alias.
    const m = /^(?:\(-\w, )?(--[\w-]+)/.exec(block.trim())
    if (m !== null) blocks.set(m[1]!, block)
  }
  return blocks
}

interface Row {
  readonly flags: ReadonlyArray<string>
  readonly envs: ReadonlyArray<string>
  readonly defaults: string
  readonly commands: ReadonlyArray<string>
}

/** The README's settings table. */
const readmeRows = (): Array<Row> => {
  const readme = fs.readFileSync(path.resolve(import.meta.dirname, "../../README.md"), "utf8")
  const table = readme.slice(readme.indexOf("## Settings"))
  const rows: Array<Row> = []
  for (const line of table.split("\n").slice(1)) {
    if (line.startsWith("## ")) break
    if (!line.startsWith("| ") || line.startsWith("| flag") || line.startsWith("| ---")) continue
    const cells = line
      .replace(/\\\|/g, "¦")
      .split("|")
      .slice(1, -1)
      .map((c) => c.trim())
    const ticks = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!.split(" ")[0]!)
    const commands =
      cells[3] === "all but simulate, demo"
        ? COMMANDS.filter((c) => c !== "simulate" && c !== "demo")
        : cells[3] === "all"
          ? [...COMMANDS]
          : cells[3]!.split(", ")
    rows.push({
      flags: ticks(cells[0]!).filter((f) => f.startsWith("--")),
      envs: ticks(cells[1]!),
      defaults: cells[2]!.replace(/`/g, ""),
      commands
    })
  }
  return rows
}

/** The default the README gives a flag of a row, for one command. */
const defaultFor = (row: Row, index: number, command: string): string | undefined => {
  // "from the input path (run); every run (worker, status, retry)": a default per command.
  if (row.defaults.includes("; ") || /\((\w+(, )?)+\)$/.test(row.defaults)) {
    for (const part of row.defaults.split("; ")) {
      const m = /^(.*) \(([\w, ]+)\)$/.exec(part)
      if (m !== null && m[2]!.split(", ").includes(command)) return m[1]
    }
    return undefined
  }
  const parts = row.flags.length > 1 ? row.defaults.split(", ") : [row.defaults]
  return parts.length === row.flags.length ? parts[index] : row.defaults
}

/** Flags that a command requires: they have no default there. */
const REQUIRED = new Set(["export --run", "export --out"])

describe("settings: the README's table, --help and the parser agree", () => {
  it.effect(
    "every row of the README's settings table is true of each command's --help: flag, default, variable",
    () =>
      Effect.gen(function* () {
        const helps = new Map<string, Map<string, string>>()
        for (const command of COMMANDS) {
          const r = yield* sluice([command, "--help"])
          expect(Either.isRight(r.result)).toBe(true)
          helps.set(command, helpBlocks(r.stdout))
        }
        const rows = readmeRows()
        expect(rows.length).toBeGreaterThan(30)
        let checked = 0
        for (const row of rows) {
          row.flags.forEach((flag, i) => {
            for (const command of row.commands) {
              const block = helps.get(command)?.get(flag)
              expect({ command, flag, inHelp: block !== undefined }).toEqual({ command, flag, inHelp: true })
              const env = row.envs.length === row.flags.length ? row.envs[i] : row.envs[0]
              if (env !== undefined)
                expect({ command, flag, block }).toEqual({
                  command,
                  flag,
                  block: expect.stringContaining(`[env: ${env}]`)
                })
              else expect({ command, flag, env: block!.includes("[env:") }).toEqual({ command, flag, env: false })
              const fallback = REQUIRED.has(`${command} ${flag}`) ? undefined : defaultFor(row, i, command)
              if (fallback !== undefined && fallback !== "")
                expect({ command, flag, block }).toEqual({
                  command,
                  flag,
                  block: expect.stringContaining(`[default: ${fallback}]`)
                })
              checked++
            }
          })
        }
        expect(checked).toBeGreaterThanOrEqual(78)
        // And the other way: every flag in any command's --help is in the table.
        const documented = new Set(rows.flatMap((r) => r.flags))
        for (const [command, blocks] of helps) {
          for (const flag of blocks.keys()) {
            if (["--help", "--wizard", "--version", "--completions", "--log-level"].includes(flag)) continue
            expect({ command, flag, documented: documented.has(flag) }).toEqual({ command, flag, documented: true })
          }
        }
      }),
    { timeout: 120_000 }
  )

  it.effect("run --help and demo --help explain the progress line's symbols", () =>
    Effect.gen(function* () {
      for (const command of ["run", "demo"]) {
        const help = (yield* sluice([command, "--help"])).stdout
        for (const legend of ["✓ completed", "↷ skipped", "✗ failed", "⟳ in the stages", "↻ retries"]) {
          expect({ command, legend, shown: help.includes(legend) }).toEqual({ command, legend, shown: true })
        }
      }
    })
  )

  /** Every number flag of every command, with values it must refuse. */
  const NUMBERS: ReadonlyArray<readonly [command: string, flag: string, bad: ReadonlyArray<string>]> = [
    ...["run", "worker", "serve"].flatMap((c) => [
      [c, "--concurrency", ["0", "-1", "2.5", "NaN", "abc"]] as const,
      [c, "--rpm", ["-5", "1.5", "NaN", "Infinity"]] as const,
      [c, "--tpm", ["-1", "0.5", "x"]] as const,
      [c, "--max-attempts", ["0", "-2", "1.5"]] as const,
      [c, "--attempt-timeout", ["0", "-1", "2.5"]] as const,
      [c, "--lease", ["0", "1.5", "-30"]] as const,
      [c, "--drain-timeout", ["-1", "0.5", "ten"]] as const
    ]),
    ...["run", "serve"].flatMap((c) => [
      [c, "--max-tokens", ["0", "-512", "1.5"]] as const,
      [c, "--budget", ["0", "-1", "NaN", "1e999"]] as const
    ]),
    ["serve", "--port", ["-1", "65536", "80.5", "http"]],
    ["serve", "--poll-interval", ["0", "-2", "NaN"]],
    ["serve", "--settle", ["-1", "NaN"]],
    ["serve", "--imap-poll", ["0", "-1", "Infinity"]],
    ["simulate", "--port", ["-1", "70000", "1.5"]],
    ["simulate", "--rpm", ["-5", "2.5"]],
    ["simulate", "--tpm", ["-5", "x"]],
    ["simulate", "--latency-ms", ["-1", "1.5"]],
    ["simulate", "--latency-sigma", ["-0.1", "NaN"]],
    ["simulate", "--error-rate", ["-0.1", "1.5", "NaN"]],
    ["simulate", "--seed", ["1.5", "seed"]],
    ["demo", "--items", ["0", "-10", "2.5"]]
  ]

  it.effect(
    "every number flag of every command refuses nonsense in one line naming the flag, before the command runs",
    () =>
      Effect.gen(function* () {
        const positional: Record<string, ReadonlyArray<string>> = { run: ["items.jsonl"] }
        let refused = 0
        for (const [command, flag, values] of NUMBERS) {
          for (const value of values) {
            const r = yield* sluice([command, ...(positional[command] ?? []), `${flag}=${value}`])
            const lines = r.stderr.split("\n").filter((l) => l.trim() !== "")
            expect({ command, flag, value, refused: Either.isLeft(r.result), lines }).toEqual({
              command,
              flag,
              value,
              refused: true,
              lines: [
                expect.stringMatching(
                  new RegExp(`^sluice: ${flag} must be .*\\(got "${value.replace(/[.*+]/g, "\\$&")}"\\)$`)
                )
              ]
            })
            refused++
          }
        }
        expect(refused).toBeGreaterThan(90)
      }),
    { timeout: 300_000 }
  )

  it.effect("a number from the environment is checked the same way, naming the variable", () =>
    Effect.gen(function* () {
      for (const [name, value] of [
        ["SLUICE_CONCURRENCY", "0"],
        ["SLUICE_RPM", "-5"],
        ["SLUICE_LEASE", "abc"],
        ["SLUICE_PORT", "99999"]
      ] as const) {
        const before = process.env[name]
        process.env[name] = value
        const r = yield* sluice(name === "SLUICE_PORT" ? ["simulate"] : ["worker"]).pipe(
          Effect.ensuring(
            Effect.sync(() => (before === undefined ? delete process.env[name] : (process.env[name] = before)))
          )
        )
        expect({ name, refused: Either.isLeft(r.result), stderr: r.stderr.trim() }).toEqual({
          name,
          refused: true,
          stderr: expect.stringMatching(new RegExp(`^sluice: ${name} must be .*\\(got "${value}"\\)$`))
        })
      }
    })
  )

  it.effect("no command has a number flag outside the one parser (its --help would say integer or float)", () =>
    Effect.gen(function* () {
      for (const command of COMMANDS) {
        const help = (yield* sluice([command, "--help"])).stdout
        const usage = help.slice(help.indexOf("USAGE"), help.indexOf("DESCRIPTION"))
        expect({ command, raw: usage.match(/--[\w-]+ (integer|float)/g) ?? [] }).toEqual({ command, raw: [] })
      }
    })
  )
})
