/**
 * Builds `dist/` once before the tests, so the tests that spawn the `sluice` executable run the code
 * under test and not a stale build.
 */
import { execFileSync } from "node:child_process"
import * as path from "node:path"

export default function setup() {
  const root = path.resolve(import.meta.dirname, "..")
  execFileSync(process.execPath, [path.join(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json"], {
    cwd: root,
    stdio: "inherit"
  })
}
