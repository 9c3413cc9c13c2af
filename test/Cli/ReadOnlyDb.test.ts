/**
 * A user who may only read a database (`sluice status` or `export` on a colleague's file) leaves no
 * `-wal`/`-shm` behind: files owned by the reader would stop the owner's next write. As root the
 * reader is `nobody`; otherwise the database is made read-only to this user.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as SqliteStore from "../../src/Store/SqliteStore.js"
import { BIN, childEnv } from "../support/Cli.js"
import { tempDir } from "../support/Temp.js"
import { recs } from "../Store/Fixtures.js"

const root = process.getuid?.() === 0

describe("a database opened by a user who cannot write it (real processes)", () => {
  it.scoped("status and export leave no -wal or -shm behind, and the owner still writes it", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      fs.chmodSync(dir, 0o777)
      const db = path.join(dir, "s.db")
      const write = (n: number, from: number) =>
        Effect.scoped(
          Effect.flatMap(SqliteStore.make({ filename: db }), (store) =>
            Effect.zipRight(store.openRun("r", {}), store.record("r", recs(n, "k", from)))
          )
        )
      yield* write(3, 0)
      expect(fs.readdirSync(dir)).toEqual(["s.db"])
      if (!root) fs.chmodSync(db, 0o444)
      const reader = root ? { uid: 65534, gid: 65534 } : {}
      for (const args of [
        ["status", "--db", db],
        ["export", "--db", db, "--run", "r", "--out", path.join(dir, "out.jsonl")]
      ]) {
        const r = spawnSync(process.execPath, [BIN, ...args], {
          ...reader,
          cwd: dir,
          env: childEnv(),
          encoding: "utf8",
          timeout: 20_000
        })
        expect({ args, code: r.status, stderr: r.stderr }).toMatchObject({ code: 0 })
        expect(fs.readdirSync(dir).filter((f) => f.startsWith("s.db"))).toEqual(["s.db"])
      }
      expect(fs.existsSync(path.join(dir, "out.jsonl"))).toBe(true)
      if (!root) fs.chmodSync(db, 0o644)
      const more = yield* write(2, 3)
      expect(more.inserted).toBe(2)
    })
  )
})
