/**
 * The other contenders, each using the openai SDK as its users typically would: the SDK's default
 * retries (2, honouring `retry-after-ms`, else `retry-after`) under the limiter its docs advise.
 */
import Bottleneck from "bottleneck"
import { setMaxListeners } from "node:events"
import { OpenAI } from "openai"
import pLimit from "p-limit"
import PQueue from "p-queue"
import { CONCURRENCY, MAX_TOKENS, MODEL, messagesFor } from "./workload.js"

export interface Context {
  readonly url: string
  readonly items: ReadonlyArray<string>
  readonly rpm: number
  readonly tpm: number
  /**
   * The output limit where the upstream limits input and output apart (Anthropic); `tpm` is then its
   * input limit. sluice is told both as `--input-tpm` / `--output-tpm`; the peers have no such setting.
   */
  readonly otpm?: number | undefined
  /** Hard timeout: whatever is not finished by then is counted as unfinished. */
  readonly timeoutMs: number
}

export interface Result {
  readonly completed: number
  /** Items that ended in an error (the SDK gave up); the rest of N are unfinished. */
  readonly failed: number
  readonly makespanMs: number
  /** `Date.now()` when the contender started, to place the simulator's log on its timeline. */
  readonly startedAtEpochMs: number
  readonly timedOut: boolean
  readonly note?: string | undefined
}

/** Runs `schedule`, which must start every item through `call`, and stops it at the timeout. */
const harness = async (
  ctx: Context,
  schedule: (call: (i: number) => Promise<void>) => Promise<unknown>,
  stop: () => void
): Promise<Result> => {
  const client = new OpenAI({ baseURL: ctx.url, apiKey: "sk-bench", logLevel: "off" })
  const abort = new AbortController()
  // One signal for every call: its listeners are the calls in flight, not a leak.
  setMaxListeners(0, abort.signal)
  let completed = 0
  let failed = 0
  const call = async (i: number): Promise<void> => {
    try {
      await client.chat.completions.create(
        { model: MODEL, messages: messagesFor(ctx.items[i]!), max_tokens: MAX_TOKENS },
        { signal: abort.signal }
      )
      completed++
    } catch {
      if (!abort.signal.aborted) failed++
    }
  }
  const startedAtEpochMs = Date.now()
  const started = performance.now()
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), ctx.timeoutMs)
  })
  // A limiter stopped at the timeout rejects what it still held: that is not an error of the run.
  const all = schedule(call).then(
    () => "done" as const,
    () => "done" as const
  )
  const end = await Promise.race([all, timeout])
  const makespanMs = performance.now() - started
  clearTimeout(timer)
  if (end === "timeout") {
    stop()
    abort.abort()
  }
  return { completed, failed, makespanMs, startedAtEpochMs, timedOut: end === "timeout" }
}

const indices = (n: number) => Array.from({ length: n }, (_, i) => i)

/** Every item at once: what the first attempts did. */
export const promiseAll = (ctx: Context): Promise<Result> =>
  harness(
    ctx,
    (call) => Promise.all(indices(ctx.items.length).map(call)),
    () => {}
  )

/** p-limit with the concurrency bound and nothing else. */
export const pLimitRun = (ctx: Context): Promise<Result> => {
  const limit = pLimit(CONCURRENCY)
  return harness(
    ctx,
    (call) => Promise.all(indices(ctx.items.length).map((i) => limit(() => call(i)))),
    () => limit.clearQueue()
  )
}

/** p-queue as its README advises for a rate limit: `intervalCap` per `interval`. */
export const pQueueRun = (ctx: Context): Promise<Result> => {
  const queue = new PQueue({
    concurrency: CONCURRENCY,
    intervalCap: Math.max(1, Math.floor(ctx.rpm / 60)),
    interval: 1000
  })
  return harness(
    ctx,
    (call) => Promise.all(indices(ctx.items.length).map((i) => queue.add(() => call(i)))),
    () => queue.clear()
  )
}

/** Bottleneck as its README advises: `minTime` spacing from the rate, and a per-minute reservoir. */
export const bottleneckRun = (ctx: Context): Promise<Result> => {
  const limiter = new Bottleneck({
    maxConcurrent: CONCURRENCY,
    minTime: 60_000 / ctx.rpm,
    reservoir: ctx.rpm,
    reservoirRefreshAmount: ctx.rpm,
    reservoirRefreshInterval: 60_000
  })
  return harness(
    ctx,
    (call) => Promise.all(indices(ctx.items.length).map((i) => limiter.schedule(() => call(i)))),
    () => void limiter.stop({ dropWaitingJobs: true }).catch(() => {})
  )
}
