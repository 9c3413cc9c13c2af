/**
 * Temporary directories for tests, removed with the scope.
 */
import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

/** A fresh directory under the OS temp dir, removed when the scope closes. */
export const tempDir = (prefix = "sluice-test-") =>
  Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), prefix))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )

/** Writes items as JSONL. */
export const writeJsonl = (file: string, items: ReadonlyArray<unknown>) =>
  Effect.sync(() =>
    fs.writeFileSync(file, items.map((i) => JSON.stringify(i)).join("\n") + (items.length > 0 ? "\n" : ""))
  )

/** Reads a JSONL file's lines as parsed JSON. */
export const readJsonl = (file: string): Array<any> =>
  fs
    .readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l))
