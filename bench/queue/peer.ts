/**
 * The seeds' way, for scale beside `sluice run --processor echo`: read the JSONL file line by line,
 * send each item through a limiter (p-limit, p-queue or Bottleneck, 64 at once) to a no-op async
 * step, keep the results in memory and write them in input order at the end. Nothing is durable: a
 * crash loses everything, so this is what the queue's durability is measured against, not a rival.
 *
 * Usage: tsx bench/queue/peer.ts <p-limit|p-queue|bottleneck> <input.jsonl> <out.jsonl>
 * Prints one JSON line: { items, ms }.
 */
import Bottleneck from "bottleneck"
import * as fs from "node:fs"
import * as readline from "node:readline"
import pLimit from "p-limit"
import PQueue from "p-queue"

const CONCURRENCY = 64

const [lib, input, out] = process.argv.slice(2)
if (lib === undefined || input === undefined || out === undefined) {
  console.error("usage: peer.ts <p-limit|p-queue|bottleneck> <input.jsonl> <out.jsonl>")
  process.exit(2)
}

const schedule: (task: () => Promise<unknown>) => Promise<unknown> =
  lib === "p-limit"
    ? (() => {
        const limit = pLimit(CONCURRENCY)
        return (task) => limit(task)
      })()
    : lib === "p-queue"
      ? (() => {
          const queue = new PQueue({ concurrency: CONCURRENCY })
          return (task) => queue.add(task)
        })()
      : (() => {
          const limiter = new Bottleneck({ maxConcurrent: CONCURRENCY })
          return (task) => limiter.schedule(task)
        })()

const main = async () => {
  const started = performance.now()
  const results: Array<string> = []
  const pending: Array<Promise<unknown>> = []
  let n = 0
  for await (const line of readline.createInterface({ input: fs.createReadStream(input), crlfDelay: Infinity })) {
    if (line.trim() === "") continue
    const i = n++
    // The no-op step: the item is its own output, as with `--processor echo`.
    pending.push(schedule(async () => (results[i] = JSON.stringify({ key: i, output: JSON.parse(line) }))))
  }
  await Promise.all(pending)
  const fd = fs.openSync(out, "w")
  let buf = ""
  for (const r of results) {
    buf += r + "\n"
    if (buf.length > 1 << 20) {
      fs.writeSync(fd, buf)
      buf = ""
    }
  }
  fs.writeSync(fd, buf)
  fs.closeSync(fd)
  console.log(JSON.stringify({ items: n, ms: performance.now() - started }))
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
