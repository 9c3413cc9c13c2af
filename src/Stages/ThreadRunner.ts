/**
 * The thread pool's worker side: the module a thread loads calls `serve(fn)` at its top level, and
 * each call runs `fn` in that thread, timed there, its throw described for the host.
 *
 * @since 0.3.0
 */
import type { WorkerError } from "@effect/platform/WorkerError"
import * as WorkerRunner from "@effect/platform/WorkerRunner"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeWorkerRunner from "@effect/platform-node/NodeWorkerRunner"
import { Effect, Layer } from "effect"
import { performance } from "node:perf_hooks"
import * as WorkerThreads from "node:worker_threads"
import { Call, describe, ThreadFailure } from "./ThreadCall.js"

// ---- the worker side ----------------------------------------------------------------------------

/** Wall-clock milliseconds, sub-millisecond, comparable across threads. */
const now = (): number => performance.timeOrigin + performance.now()

const isThenable = (u: unknown): u is PromiseLike<unknown> =>
  typeof u === "object" && u !== null && typeof (u as { then?: unknown }).then === "function"

const callIn = (fn: (input: any) => unknown) => (request: Call) =>
  Effect.suspend(() => {
    const threadId = WorkerThreads.threadId
    const startedAt = now()
    const failure = (thrown: unknown) =>
      new ThreadFailure({ ...describe(thrown), threadId, startedAt, finishedAt: now() })
    let output: unknown
    try {
      output = fn(request.input)
    } catch (thrown) {
      return Effect.fail(failure(thrown))
    }
    if (!isThenable(output)) return Effect.succeed({ output, threadId, startedAt, finishedAt: now() })
    const pending = output
    return Effect.tryPromise({ try: () => Promise.resolve(pending), catch: failure }).pipe(
      Effect.map((output) => ({ output, threadId, startedAt, finishedAt: now() }))
    )
  })

/**
 * The runner of a worker thread as a layer, for a worker module that composes its own runtime.
 * Most modules call `serve` instead.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerRunner = (fn: (input: any) => unknown): Layer.Layer<never, WorkerError> =>
  WorkerRunner.layerSerialized(Call, { Call: callIn(fn) }).pipe(Layer.provide(NodeWorkerRunner.layer))

/**
 * Serves `fn` from this worker thread: call it at the top level of the worker module. `fn` gets the
 * item's input (its payload unless the pool says otherwise) and returns a structured-cloneable result
 * (or a promise of one); it may block as long as it likes — only this thread waits.
 *
 * @since 0.1.0
 */
export const serve = (fn: (input: any) => unknown): void => {
  if (WorkerThreads.isMainThread) {
    throw new Error("ThreadPool.serve runs in a worker thread; on the main thread, import the function itself")
  }
  NodeRuntime.runMain(WorkerRunner.launch(layerRunner(fn)))
}
