/**
 * `npm run bench`: every benchmark in one go, each as its own process so that one's memory and JIT
 * state do not colour the next. Takes about 20 minutes; run it on a quiet machine.
 *
 *   admission: sluice vs p-limit, p-queue, Bottleneck and Promise.all on the simulator (issue 4)
 *   queue:     echo throughput and peak memory through the SQLite queue, beside a bare loop (issue 3)
 *   loans:     the loan-ingest case's speed-up from its worker-thread pool (issue 6)
 *   fleet:     sluice run + 2 workers on one SQLite file and one PostgreSQL database, one shared budget (issue 10)
 *
 * Pass names to run some: `npm run bench -- queue loans`.
 */
import { spawnSync } from "node:child_process"
import * as path from "node:path"

const all = ["admission", "queue", "loans", "fleet"]
const chosen = process.argv.slice(2).filter((a) => all.includes(a))
for (const name of chosen.length > 0 ? chosen : all) {
  console.log(`\n=== ${name} (${new Date().toISOString()})`)
  const r = spawnSync(process.execPath, ["--import", "tsx", path.join(import.meta.dirname, `${name}.ts`)], {
    stdio: "inherit"
  })
  if (r.status !== 0) process.exit(r.status ?? 1)
}
