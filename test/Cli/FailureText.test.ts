/**
 * A failure that ends the CLI is one line that carries its underlying cause (D10 of the bad-input
 * sweep: a worker died with `SqlError: Failed to execute statement`, SQLite's own message dropped).
 */
import { SqlError } from "@effect/sql/SqlError"
import { describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { failureText } from "../../src/Domain/FailureText.js"
import * as SqliteStore from "../../src/Store/SqliteStore.js"
import { runCli } from "../support/Cli.js"
import { tempDir } from "../support/Temp.js"
import { recs } from "../Store/Fixtures.js"

/** What better-sqlite3 throws, for real: a statement on a table that does not exist. */
const sqliteError = (): Error => {
  const db = new Database(":memory:")
  try {
    db.prepare("SELECT * FROM nowhere")
    throw new Error("expected SQLite to refuse")
  } catch (error) {
    return error as Error
  } finally {
    db.close()
  }
}

describe("failureText", () => {
  it("follows a SqlError to SQLite's own message and code, on one line", () => {
    const error = new SqlError({ cause: sqliteError(), message: "Failed to execute statement" })
    expect(failureText(error)).toBe("Failed to execute statement: no such table: nowhere (SQLITE_ERROR)")
    expect(failureText(error, { named: true })).toBe(
      "SqlError: Failed to execute statement: no such table: nowhere (SQLITE_ERROR)"
    )
  })

  it("keeps only the first line of each message, and drops a cause that repeats its wrapper", () => {
    const inner = new Error("disk I/O error\n    at somewhere")
    const outer = new Error("cannot write to a.db: disk I/O error", { cause: inner })
    expect(failureText(outer)).toBe("cannot write to a.db: disk I/O error")
    expect(failureText("plain\ntext")).toBe("plain")
  })
})

describe("the CLI's fatal errors (real processes)", () => {
  it.scopedLive("a damaged database: exit 1 with one line naming the file and SQLite's own words", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const db = path.join(dir, "damaged.db")
      yield* Effect.scoped(
        Effect.flatMap(SqliteStore.make({ filename: db }), (store) =>
          Effect.zipRight(store.openRun("r", {}), store.record("r", recs(50)))
        )
      )
      // Cut after two pages: the schema now points at pages that are gone.
      fs.truncateSync(db, 8192)
      const result = yield* Effect.promise(() => runCli(["status", "--db", db]))
      expect(result.code).toBe(1)
      const lines = result.stderr.trim().split("\n")
      expect(lines).toHaveLength(1)
      expect(lines[0]).toContain(db)
      expect(lines[0]).toContain("database disk image is malformed")
    })
  )
})
