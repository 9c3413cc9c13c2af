/**
 * The package as a host project gets it: `npm pack`, a fresh project outside the repository (in the
 * system's temp directory) with its own `effect`, the tarball installed next to it. The host then
 * - resolves one copy of `effect` (the host's; sluice's `@effect/*` peers are installed beside it);
 * - typechecks its own typed pipeline (`host/src/pipeline.ts`) against the published `.d.ts` files;
 * - runs its own test (`host/src/pipeline.spec.ts`: `it.effect`, TestClock, `layerMemory`, mock stages);
 * - runs the `sluice` command from the tarball.
 *
 * The install prefers npm's cache (`--prefer-offline`): the repository's own install filled it with the
 * same versions, so only package metadata may come from the registry. Install scripts are skipped
 * (nothing here needs a native build); the one native module the CLI run needs, better-sqlite3, takes
 * the repository's build of the same version.
 *
 * Real processes and a real npm, so real time: bounded by the test's timeout.
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const run = promisify(execFile)
const ROOT = path.resolve(import.meta.dirname, "../..")
const FIXTURE = path.join(import.meta.dirname, "host")
const repoVersion = (name: string): string =>
  JSON.parse(fs.readFileSync(path.join(ROOT, "node_modules", name, "package.json"), "utf8")).version

/**
 * The host's effect: the lowest version sluice's peer range allows, not the one the repository pins,
 * so that the test shows sluice brings no effect of its own and that the range's floor really builds.
 */
const HOST_EFFECT = (
  JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).peerDependencies.effect as string
).replace(/^\^/, "")

let host = ""
let pack = ""
const timings: Array<string> = []

const step = async (label: string, file: string, args: ReadonlyArray<string>, cwd: string) => {
  const started = performance.now()
  try {
    const out = await run(file, args, { cwd, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, NO_COLOR: "1" } })
    timings.push(`${label} ${((performance.now() - started) / 1000).toFixed(1)} s`)
    return out.stdout
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string }
    throw new Error(`${label} failed: ${e.message}\n${e.stdout ?? ""}\n${e.stderr ?? ""}`)
  }
}
const npm = (label: string, args: ReadonlyArray<string>, cwd: string) =>
  step(label, process.platform === "win32" ? "npm.cmd" : "npm", args, cwd)

beforeAll(async () => {
  host = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-host-"))
  pack = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-pack-"))
  // dist/ is fresh: the test run's globalSetup built it, so `prepare` need not build it again.
  const packed = await npm("npm pack", ["pack", "--ignore-scripts", "--silent", "--pack-destination", pack], ROOT)
  const tarball = path.join(pack, packed.trim().split("\n").pop()!)

  fs.cpSync(path.join(FIXTURE, "src"), path.join(host, "src"), { recursive: true })
  fs.copyFileSync(path.join(FIXTURE, "tsconfig.json"), path.join(host, "tsconfig.json"))
  const manifest = {
    name: "sluice-host",
    private: true,
    type: "module",
    // The host's own effect, and nothing else of Effect's: sluice's peers come with it.
    dependencies: {
      effect: HOST_EFFECT,
      sluice: `file:${tarball}`,
      // Pinned to the repository's version so that its native build can be reused (see above).
      "better-sqlite3": repoVersion("better-sqlite3")
    },
    devDependencies: { "@effect/vitest": repoVersion("@effect/vitest"), vitest: repoVersion("vitest") }
  }
  fs.writeFileSync(path.join(host, "package.json"), JSON.stringify(manifest, null, 2))
  await npm(
    "npm install",
    ["install", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
    host
  )
  const build = path.join("node_modules", "better-sqlite3", "build")
  fs.cpSync(path.join(ROOT, build), path.join(host, build), { recursive: true })
}, 300_000)

afterAll(() => {
  // Said once, so a slow host install shows in the test log.
  process.stdout.write(`host project: ${timings.join(", ")}\n`)
  for (const dir of [host, pack]) if (dir !== "") fs.rmSync(dir, { recursive: true, force: true })
})

describe("the packed package in a host project", () => {
  it("installs with one copy of effect, the host's", async () => {
    const copies: Array<string> = []
    const walk = (dir: string) => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        if (!entry.isDirectory()) continue
        const full = path.join(dir, entry.name)
        if (entry.name === "effect" && path.basename(dir) === "node_modules") copies.push(path.relative(host, full))
        walk(full)
      }
    }
    walk(path.join(host, "node_modules"))
    expect(copies).toEqual([path.join("node_modules", "effect")])
    // npm agrees: every dependent resolves that copy, and no peer range is unmet.
    const tree = await npm("npm ls", ["ls", "effect", "--all", "--parseable"], host)
    expect(new Set(tree.trim().split("\n"))).toEqual(new Set([path.join(host, "node_modules", "effect")]))
    const sluicePeers = JSON.parse(
      fs.readFileSync(path.join(host, "node_modules", "sluice", "package.json"), "utf8")
    ).peerDependencies
    expect(sluicePeers.effect).toMatch(/^\^3\./)
    const installed = JSON.parse(fs.readFileSync(path.join(host, "node_modules", "effect", "package.json"), "utf8"))
    expect(installed.version).toBe(HOST_EFFECT)
    expect(fs.existsSync(path.join(host, "node_modules", "@effect", "platform"))).toBe(true)
  })

  it("typechecks the host's typed pipeline against the published types", async () => {
    await step("tsc", process.execPath, [path.join(ROOT, "node_modules/typescript/bin/tsc"), "-p", "."], host)
  })

  it("runs the host's own test: it.effect, TestClock, layerMemory, mock stages", async () => {
    const out = await step(
      "vitest",
      process.execPath,
      [path.join(host, "node_modules/vitest/vitest.mjs"), "run", "--reporter=verbose"],
      host
    )
    expect(out).toContain("1 passed")
  })

  it("the root entry loads no database driver, mail or LLM client", async () => {
    // A resolve hook (it runs in the loader's thread) writes every module the import resolves to stderr.
    fs.writeFileSync(
      path.join(host, "hook.mjs"),
      'export async function resolve(s, c, next) { const r = await next(s, c); process.stderr.write(r.url + "\\n"); return r }'
    )
    fs.writeFileSync(
      path.join(host, "register.mjs"),
      'import { register } from "node:module"; register(new URL("./hook.mjs", import.meta.url))'
    )
    const { stderr } = await run(process.execPath, ["--import", "./register.mjs", "-e", 'import("sluice")'], {
      cwd: host
    })
    const packages = new Set(
      stderr
        .split("\n")
        .map((url) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1])
        .filter((name) => name !== undefined)
    )
    expect(packages.has("effect")).toBe(true)
    for (const pkg of ["better-sqlite3", "pg", "openai", "imapflow", "mailparser", "@effect/sql", "@effect/platform"]) {
      expect(packages.has(pkg), pkg).toBe(false)
    }
  })

  it("runs the sluice command from the tarball", async () => {
    fs.writeFileSync(path.join(host, "items.jsonl"), '{"id":"a","text":"x"}\n{"id":"b","text":"y"}\n')
    const bin = path.join(host, "node_modules", ".bin", "sluice")
    await step("sluice run", bin, ["run", "items.jsonl", "--processor", "echo", "--db", "host.db"], host)
    const lines = fs
      .readFileSync(path.join(host, "items.results.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l))
    expect(lines.map((l: { key: string; status: string }) => [l.key, l.status])).toEqual([
      ["a", "completed"],
      ["b", "completed"]
    ])
  })
})
