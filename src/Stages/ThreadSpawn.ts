/**
 * Starting one pool thread. A `.js` module is loaded directly; a TypeScript one through a tiny
 * JavaScript bootstrap that registers tsx's ESM hooks in the thread (see `ThreadPool.ts` for why).
 *
 * @since 0.3.0
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import * as WorkerThreads from "node:worker_threads"

const TS_MODULE = /\.(?:ts|mts|cts|tsx)$/
const BOOT_KEY = "sluice/Stages/ThreadPool"

/**
 * Loads the packages the runner needs, then registers tsx's ESM hooks in this thread, then loads the
 * module; a failure is the thread's error. Under tsx every module a thread loads goes through the
 * hooks (a round trip to the hooks thread each): loading Effect and the platform before the hooks
 * exist halves a thread's start-up, and the hooks then see only the TypeScript files.
 */
const BOOT = `
const { workerData } = require("node:worker_threads");
const boot = workerData[${JSON.stringify(BOOT_KEY)}];
Promise.all(boot.preload.map((url) => import(url)))
  .then(() => import(boot.tsx))
  .then((tsx) => { tsx.register(); return import(boot.module); });
`

/** What a thread needs before the worker module: the runner's own dependencies. */
const PRELOAD = [
  "effect",
  "@effect/platform/Worker",
  "@effect/platform/WorkerRunner",
  "@effect/platform-node/NodeRuntime",
  "@effect/platform-node/NodeWorker",
  "@effect/platform-node/NodeWorkerRunner"
]

const TSX_FLAGS = new Set(["--import", "--require", "-r", "--loader", "--experimental-loader"])
const isTsxEntry = (value: string) => /(?:^|[\\/])tsx(?:[\\/]|$)/.test(value)

/** The host's `execArgv` without tsx's preflight and loader (the bootstrap registers tsx itself). */
const withoutTsx = (argv: ReadonlyArray<string>): Array<string> => {
  const out: Array<string> = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    const eq = arg.indexOf("=")
    if (eq > 0 && TSX_FLAGS.has(arg.slice(0, eq)) && isTsxEntry(arg.slice(eq + 1))) continue
    if (TSX_FLAGS.has(arg) && i + 1 < argv.length && isTsxEntry(argv[i + 1]!)) {
      i++
      continue
    }
    out.push(arg)
  }
  return out
}

const esmEntry = (entry: unknown): string | undefined => {
  if (typeof entry === "string") return entry
  if (typeof entry !== "object" || entry === null) return undefined
  const e = entry as { import?: unknown; default?: unknown }
  return esmEntry(e.import) ?? esmEntry(e.default)
}

/**
 * A package specifier's ESM URL as seen from this module. `import.meta.resolve` where the runtime
 * has it (Node, tsx); vitest's module runner has not, so there: the package found up the
 * `node_modules` chain, and the `import` entry of its `exports` (enough for the packages preloaded
 * here, which export every subpath explicitly).
 */
const resolveEsm = (specifier: string): string => {
  if (typeof import.meta.resolve === "function") return import.meta.resolve(specifier)
  const parts = specifier.split("/")
  const name = specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!
  const subpath = `.${specifier.slice(name.length)}`
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    const pkgDir = path.join(dir, "node_modules", name)
    const pkgJson = path.join(pkgDir, "package.json")
    if (fs.existsSync(pkgJson)) {
      const entry = esmEntry(
        (JSON.parse(fs.readFileSync(pkgJson, "utf8")) as { exports?: Record<string, unknown> }).exports?.[subpath]
      )
      if (entry === undefined) throw new Error(`cannot resolve ${specifier}: ${name} has no ESM export ${subpath}`)
      return pathToFileURL(path.join(pkgDir, entry)).href
    }
    if (path.dirname(dir) === dir) throw new Error(`cannot resolve ${specifier} from ${import.meta.url}`)
  }
}

let resolved: { readonly tsx: string; readonly preload: ReadonlyArray<string> } | undefined
/**
 * tsx's ESM API and the preloaded packages as this module resolves them — the same URLs the worker
 * module's own imports resolve to, so they are loaded once — and never relative to the working
 * directory.
 */
const bootUrls = () => (resolved ??= { tsx: resolveEsm("tsx/esm/api"), preload: PRELOAD.map(resolveEsm) })

/**
 * A thread running `module`, with `execArgv` (default: the host's, minus tsx's own entries).
 *
 * @since 0.3.0
 */
export const spawnThread = (module: URL, execArgv: ReadonlyArray<string> | undefined): WorkerThreads.Worker => {
  if (!TS_MODULE.test(module.pathname)) {
    return new WorkerThreads.Worker(module, execArgv === undefined ? {} : { execArgv: [...execArgv] })
  }
  return new WorkerThreads.Worker(BOOT, {
    eval: true,
    workerData: { [BOOT_KEY]: { ...bootUrls(), module: module.href } },
    execArgv: [...(execArgv ?? withoutTsx(process.execArgv))]
  })
}
