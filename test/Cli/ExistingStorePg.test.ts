/**
 * `status`, `export` and `retry` on a `postgres://` `--db` that holds no sluice database: exit 2 naming
 * it, and nothing created in it (no schema, no tables). A throwaway PostgreSQL server on loopback.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as path from "node:path"
import { runCli } from "../support/Cli.js"
import * as Postgres from "../support/Postgres.js"
import { tempDir, writeJsonl } from "../support/Temp.js"

let server: Postgres.Postgres | undefined

beforeAll(async () => {
  server = await Postgres.start()
  await server.createDatabase("sluice_existing_empty")
  await server.createDatabase("sluice_existing_used")
}, 60_000)

afterAll(async () => {
  await server?.stop()
})

const pg = () => {
  if (server === undefined) throw new Error("PostgreSQL did not start (see the error of the first test)")
  return server
}

const cli = (args: ReadonlyArray<string>) => Effect.promise(() => runCli(args, { timeoutMs: 90_000 }))
const lines = (text: string) => text.split("\n").filter((l) => l.trim().length > 0)

describe("read-only commands on PostgreSQL (real server)", () => {
  it.scopedLive(
    "a database that does not exist, or one without sluice's schema: exit 2 naming it, nothing created; a sluice database is read (real processes)",
    () =>
      Effect.gen(function* () {
        const missing = pg().url("sluice_no_such_database")
        const empty = pg().url("sluice_existing_empty")
        for (const db of [missing, empty]) {
          for (const args of [
            ["status", "--db", db],
            ["export", "--db", db, "--run", "r", "--out", "/dev/null"],
            ["retry", "--db", db, "--failed"]
          ]) {
            const r = yield* cli(args)
            const shown = db.replace(/:[^:@/]+@/, "@")
            expect({ args: args[0], code: r.code, stderr: lines(r.stderr) }).toEqual({
              args: args[0],
              code: 2,
              stderr: [expect.stringContaining(shown.slice(0, shown.lastIndexOf("/")))]
            })
            expect(r.stderr).toContain(db === missing ? "sluice_no_such_database" : "sluice_existing_empty")
            // The password never reaches the message.
            expect(r.stderr).not.toContain(pg().password)
          }
        }
        const schemas = yield* Effect.promise(() =>
          pg().psql("sluice_existing_empty", "SELECT count(*) FROM pg_namespace WHERE nspname = 'sluice'")
        )
        expect(schemas.trim()).toBe("0")
        const databases = yield* Effect.promise(() =>
          pg().psql("postgres", "SELECT count(*) FROM pg_database WHERE datname = 'sluice_no_such_database'")
        )
        expect(databases.trim()).toBe("0")

        // Once `sluice run` has made it a sluice database, status reads it.
        const dir = yield* tempDir()
        const input = path.join(dir, "items.jsonl")
        yield* writeJsonl(input, [{ id: "a" }, { id: "b" }])
        const used = pg().url("sluice_existing_used")
        expect((yield* cli(["run", input, "--db", used, "--processor", "echo"])).code).toBe(0)
        const status = yield* cli(["status", "--db", used])
        expect(status.code).toBe(0)
        expect(status.stdout).toContain("items.jsonl")
      }),
    { timeout: 180_000 }
  )
})
