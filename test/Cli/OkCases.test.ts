/**
 * Cases of the bad-input sweep that were already right, kept right: the CLI is the subject here, so
 * these run the real binary (about a second each).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { runCli } from "../support/Cli.js"
import { tempDir } from "../support/Temp.js"

const cli = (args: ReadonlyArray<string>) => Effect.promise(() => runCli(args, { timeoutMs: 30_000 }))

describe("bad-input sweep, OK cases on the command line (real processes)", () => {
  it.scopedLive("a directory as the input exits 2 with one line saying so, and creates no database", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      fs.mkdirSync(path.join(dir, "items"))
      const r = yield* cli(["run", path.join(dir, "items"), "--db", path.join(dir, "s.db"), "--processor", "echo"])
      expect(r.code).toBe(2)
      expect(r.stderr.trim().split("\n")).toEqual([
        `sluice: cannot read input ${path.join(dir, "items")}: it is a directory`
      ])
      expect(fs.readdirSync(dir)).toEqual(["items"])
    })
  )

  it.scopedLive("an empty input finishes at once with 0 of 0 and an empty results file, exit 0", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const input = path.join(dir, "empty.jsonl")
      fs.writeFileSync(input, "")
      const r = yield* cli(["run", input, "--db", path.join(dir, "s.db"), "--processor", "echo"])
      expect(r.code).toBe(0)
      expect(r.stderr).toContain("0 completed, 0 skipped, 0 failed of 0")
      expect(fs.readFileSync(path.join(dir, "empty.results.jsonl"), "utf8")).toBe("")
    })
  )
})
