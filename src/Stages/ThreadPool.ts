/**
 * A processor that runs a blocking function — synchronous CPU work, synchronous I/O, a legacy
 * function nobody may change — on a pool of worker threads, so the event loop stays free for timers,
 * the store, progress and HTTP while the function blocks.
 *
 * One module, two halves:
 * - the worker module (a file of its own) calls `serve(fn)` at its top level;
 * - the host provides `layer({ module, size })` as its `Processor`. The threads start with the layer
 *   (it waits until every thread has loaded the module) and are shut down when its scope closes.
 *
 * Built on `@effect/platform`'s `Worker.makePoolSerialized` over `@effect/platform-node`'s
 * `NodeWorker` / `NodeWorkerRunner`: the request, its result and its failure are Schemas, decoded at
 * the thread boundary. Each thread runs one call at a time (pool `concurrency: 1`): a call is handed
 * only to an idle thread, so nothing queues behind a slow call (no head-of-line blocking), and a
 * blocked thread cannot starve calls it was never given. More items in flight than threads wait for
 * the next idle thread.
 *
 * Failures:
 * - the function throws → the item fails with a typed error: `Transient` (retried by the engine's
 *   policy) when the thrown error says so — `transient: true` on it, or a Node network code such as
 *   `ECONNRESET` / `ETIMEDOUT` — and `Invalid` (no retry, kept for inspection) otherwise: a legacy
 *   function that throws on its own input will throw again. The message is `Name: message`.
 * - the thread dies mid-call (a crash, `process.exit`) → `Transient` ("Connection"); the platform
 *   starts a new thread for that slot.
 * - the input cannot be sent (not structured-cloneable) → `Invalid` ("Input"); the result cannot be
 *   sent back or decoded → `Invalid` ("Output").
 * - the engine gives up on a call (attempt timeout, shutdown) → the thread is replaced, since a
 *   blocking call cannot be interrupted; the next item must not queue behind an abandoned one.
 *
 * TypeScript worker modules: a worker thread does not inherit a TypeScript loader. Under `tsx` the
 * hooks are registered per thread, and tsx (4.x, on Node < 22.22) registers itself only on the main
 * thread, so neither inheriting `process.execArgv` nor `execArgv: ["--import", "tsx"]` makes a `.ts`
 * worker load on Node 20 (both fail with "Unknown file extension .ts"). So for a `.ts` / `.mts`
 * module the thread starts from a tiny JavaScript bootstrap that registers tsx's ESM hooks through
 * its API (`tsx/esm/api` `register()`, resolved from this package's own `tsx`) and then imports the
 * module; tsx's own entries are dropped from the inherited `execArgv` so that newer Node versions do
 * not register it twice. That works the same under `tsx`, under vitest and from compiled JavaScript
 * (where a `.js` module is loaded directly and tsx is never needed). A `.ts` module needs `tsx`
 * installed beside sluice; without it the layer fails to start with a `ThreadPoolError`.
 *
 * Start-up: every thread loads Effect and the platform itself (isolates share no modules): about
 * 0.4 s of CPU per thread, plus about 0.2 s for tsx with a `.ts` module. The layer pays it once,
 * before the first item; a run's makespan does not include it.
 *
 * @since 0.1.0
 */
import * as Worker from "@effect/platform/Worker"
import { WorkerError } from "@effect/platform/WorkerError"
import * as NodeWorker from "@effect/platform-node/NodeWorker"
import { Deferred, Duration, Effect, Exit, Layer, type ParseResult, type Scope } from "effect"
import * as WorkerThreads from "node:worker_threads"
import { Invalid, Transient } from "../Domain/Errors.js"
import type { Item } from "../Domain/Item.js"
import { Processor } from "./Processor.js"
import { Call, ThreadPoolError, toStageError } from "./ThreadCall.js"
import { spawnThread } from "./ThreadSpawn.js"

export * from "./ThreadCall.js"
export * from "./ThreadRunner.js"

// ---- the host side ------------------------------------------------------------------------------

/**
 * Where and when one call ran, measured inside its thread.
 *
 * @since 0.1.0
 * @category models
 */
export interface CallRecord {
  readonly item: Item
  readonly threadId: number
  /** Wall-clock milliseconds (`performance.timeOrigin + performance.now()` in the thread). */
  readonly startedAt: number
  readonly finishedAt: number
  /** The function threw. */
  readonly failed: boolean
}

/**
 * @since 0.1.0
 */
export interface ThreadPoolOptions {
  /**
   * The worker module: a file whose top level calls `ThreadPool.serve(fn)`, usually
   * `new URL("./worker.ts", import.meta.url)`. `.ts` / `.mts` modules are loaded through tsx.
   */
  readonly module: URL
  /** Threads in the pool; each runs one call at a time. Match it to the pipeline's `concurrency`. */
  readonly size: number
  /** The function's argument for an item (structured-cloneable). Default: the item's payload. */
  readonly input?: ((item: Item) => unknown) | undefined
  /** Told where and when each call ran (a span attribute carries the thread id too). */
  readonly onCall?: ((call: CallRecord) => Effect.Effect<void>) | undefined
  /** Node options for the threads. Default: the host's own, minus tsx's entries for a `.ts` module. */
  readonly execArgv?: ReadonlyArray<string> | undefined
  /** How long the threads may take to load the module. Default 30 seconds. */
  readonly startTimeout?: Duration.DurationInput | undefined
}

const messageOf = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

const workerErrorMessage = (e: WorkerError): string =>
  typeof e.cause === "object" && e.cause !== null && "message" in e.cause ? String(e.cause.message) : e.message

const defectMessage = (defect: unknown): string => {
  if (typeof defect === "object" && defect !== null && "message" in defect) {
    const d = defect as { name?: unknown; message?: unknown }
    return `${typeof d.name === "string" ? `${d.name}: ` : ""}${String(d.message)}`
  }
  return String(defect)
}

/**
 * Starts `size` threads running `module` and returns the processor that calls them. The threads
 * are shut down when the scope closes (a thread still inside a call finishes it first, for at most
 * five seconds, then it is terminated).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: ThreadPoolOptions): Effect.Effect<Processor["Type"], ThreadPoolError, Scope.Scope> =>
  Effect.gen(function* () {
    const size = Math.max(1, Math.floor(options.size))
    const module = options.module.href
    const input = options.input ?? ((item: Item) => item.payload)
    const onCall = options.onCall

    // A thread that fails to load its module would be restarted by the platform every second,
    // forever, with the pool waiting for it to say it is ready: fail the layer instead.
    let started = false
    const startFailed = yield* Deferred.make<never, ThreadPoolError>()
    const failStart = (message: string) =>
      Deferred.unsafeDone(startFailed, Exit.fail(new ThreadPoolError({ reason: "Start", module, message })))
    const spawn = (id: number) => {
      let worker: WorkerThreads.Worker
      try {
        worker = spawnThread(options.module, options.execArgv)
      } catch (cause) {
        if (!started) failStart(`thread ${id} could not be created for ${module}: ${messageOf(cause)}`)
        throw cause
      }
      worker.once("error", (cause) => {
        if (!started) failStart(`thread ${id} could not load ${module}: ${messageOf(cause)}`)
      })
      worker.once("exit", (code) => {
        if (!started)
          failStart(`thread ${id} exited (code ${code}) before it was ready: does ${module} call ThreadPool.serve?`)
      })
      return worker
    }

    const pool = yield* Worker.makePoolSerialized<Call>({ size, concurrency: 1 }).pipe(
      // Every thread loaded and ready before the first item, so the pool's start-up is not part of
      // the run, and a module that cannot load fails here, not on the first item.
      Effect.tap((pool) =>
        Effect.scoped(
          Effect.forEach(Array.from({ length: size }), () => pool.backing.get, { concurrency: size, discard: true })
        )
      ),
      Effect.provide(NodeWorker.layer(spawn)),
      Effect.mapError((e) => new ThreadPoolError({ reason: "Start", module, message: e.message })),
      // The pool waits for a thread uninterruptibly, and the platform restarts a thread that failed
      // to load every second, forever: do not wait for that wait to end. The layer's scope closing
      // shuts the pool down and interrupts the restarts.
      Effect.disconnect,
      Effect.raceFirst(Deferred.await(startFailed)),
      Effect.timeoutFail({
        duration: options.startTimeout ?? "30 seconds",
        onTimeout: () =>
          new ThreadPoolError({
            reason: "Timeout",
            module,
            message: `the threads did not load ${module} within ${Duration.format(Duration.decode(options.startTimeout ?? "30 seconds"))}`
          })
      })
    )
    started = true

    const report = (item: Item, r: { threadId: number; startedAt: number; finishedAt: number }, failed: boolean) =>
      Effect.zipRight(
        Effect.annotateCurrentSpan({ "sluice.thread": r.threadId, "sluice.thread.ms": r.finishedAt - r.startedAt }),
        onCall === undefined
          ? Effect.void
          : onCall({ item, threadId: r.threadId, startedAt: r.startedAt, finishedAt: r.finishedAt, failed })
      )

    const call = (item: Item) =>
      Effect.scoped(
        Effect.flatMap(pool.backing.get, (worker) =>
          worker
            .executeEffect(new Call({ input: input(item) }))
            // The call cannot be stopped inside the thread: give the thread up, so the next item
            // gets a fresh one instead of queueing behind a result nobody will read.
            .pipe(Effect.onInterrupt(() => pool.backing.invalidate(worker)))
        )
      )

    return Processor.of({
      process: (item) =>
        call(item).pipe(
          Effect.tap((r) => report(item, r, false)),
          Effect.map((r) => ({ output: r.output })),
          Effect.catchTags({
            ThreadFailure: (f) => Effect.zipRight(report(item, f, true), Effect.fail(toStageError(f))),
            WorkerError: (e) =>
              Effect.fail(
                e.reason === "send" || e.reason === "encode"
                  ? new Invalid({
                      reason: "Input",
                      message: `the input could not be sent to a thread: ${workerErrorMessage(e)}`
                    })
                  : e.reason === "decode"
                    ? new Invalid({
                        reason: "Output",
                        message: `the thread's answer could not be read: ${workerErrorMessage(e)}`
                      })
                    : // the thread died in the call (a crash, an exit): the platform starts another
                      new Transient({
                        reason: "Connection",
                        message: `the worker thread failed: ${workerErrorMessage(e)}`
                      })
              ),
            ParseError: (e: ParseResult.ParseError) =>
              Effect.fail(
                new Invalid({ reason: "Output", message: `the thread's answer did not decode: ${e.message}` })
              )
          }),
          Effect.catchAllDefect((defect) =>
            Effect.fail(
              new Invalid({
                reason: "Output",
                message: `the call failed outside the function: ${defectMessage(defect)}`
              })
            )
          )
        )
    })
  })

/**
 * The `Processor` as a scoped layer: threads start with it and stop with it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: ThreadPoolOptions): Layer.Layer<Processor, ThreadPoolError> =>
  Layer.scoped(Processor, make(options))
