/**
 * The workers of `sluice serve`: one `Worker.run({ until: "forever" })` over every run in the store,
 * restarted with backoff if it stops, drained when its scope closes. Its state (the wake-up signal and
 * whether it runs) is a separate small service, built before the HTTP server so the handlers can wake
 * the workers and `/readyz` can report on them, while the loop itself is built after the server and so
 * is shut down, and drained, before the server closes.
 *
 * @since 0.1.0
 */
import { Cause, Context, Duration, Effect, Layer, Option, Queue, Ref, Schedule, Schema } from "effect"
import { Transient } from "../Domain/Errors.js"
import type { AttemptOptions } from "../Engine/Attempt.js"
import { defaultAttemptOptions } from "../Engine/Attempt.js"
import type { Events } from "../Engine/Events.js"
import * as Worker from "../Engine/Worker.js"
import type { ChatResponse, Llm } from "../Llm/Llm.js"
import * as Pricing from "../Governor/Pricing.js"
import type { Classifier } from "../Stages/Classifier.js"
import * as PerRun from "../Stages/PerRun.js"
import type { Persister } from "../Stages/Persister.js"
import { Processor } from "../Stages/Processor.js"
import { synchronous } from "../Stages/Synchronous.js"
import { Store } from "../Store/Store.js"

/** @since 0.1.0 */
export type WorkerStatus = "starting" | "running" | "restarting" | "draining"

/**
 * @since 0.1.0
 * @category tags
 */
export class Engine extends Context.Tag("sluice/Http/Engine")<
  Engine,
  {
    /** This process's lease owner id. */
    readonly owner: string
    /** Tells an idle worker that new items were recorded. */
    readonly wake: Effect.Effect<void>
    readonly status: Effect.Effect<WorkerStatus>
    /** @internal */
    readonly signal: Queue.Queue<void>
    /** @internal */
    readonly setStatus: (status: WorkerStatus) => Effect.Effect<void>
  }
>() {}

/**
 * @since 0.1.0
 * @category layers
 */
export const layerEngine = (owner: string): Layer.Layer<Engine> =>
  Layer.effect(
    Engine,
    Effect.gen(function* () {
      const signal = yield* Queue.sliding<void>(1)
      const status = yield* Ref.make<WorkerStatus>("starting")
      return Engine.of({
        owner,
        signal,
        wake: Effect.asVoid(Queue.offer(signal, undefined)),
        status: Ref.get(status),
        setStatus: (s) => Ref.set(status, s)
      })
    })
  )

/**
 * @since 0.1.0
 */
export interface WorkerLoopOptions {
  /** At most this many items in the stages at once, over all runs. */
  readonly concurrency: number
  readonly attempt?: AttemptOptions | undefined
  readonly leaseMs?: number | undefined
  readonly pollMs?: number | undefined
  /** On shutdown, how long items in the stages may take to finish before their leases are handed back. */
  readonly drainTimeout: Duration.DurationInput
}

/** A worker that stopped (a failed disk, a spent budget) is started again, at most every 30 seconds. */
const restartBackoff = Schedule.exponential("500 millis", 2).pipe(Schedule.union(Schedule.spaced("30 seconds")))

/**
 * The worker loop, forked into the layer's scope: closing the scope interrupts it, and the worker's
 * own interruption handling stops claiming, lets items in the stages finish within `drainTimeout`,
 * commits them and hands the leases of the rest back.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerLoop = (
  options: WorkerLoopOptions
): Layer.Layer<never, never, Engine | Store | Classifier | Processor | Persister | Events> =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const engine = yield* Engine
      const store = yield* Store
      // Only runs whose stages can be rebuilt from their settings: a run a host program started with
      // stages of its own, in the same database, is left to that program.
      const runs = Effect.provideService(PerRun.portableRuns, Store, store)
      // Finalizers run last-added first: "draining" is reported, then the loop is interrupted and
      // drains, then this one logs the end.
      yield* Effect.addFinalizer(() => Effect.logInfo("workers stopped; unfinished items were handed back"))
      const once = Effect.gen(function* () {
        yield* engine.setStatus("running")
        const result = yield* Worker.run({
          owner: engine.owner,
          concurrency: options.concurrency,
          until: "forever",
          runs,
          wake: engine.signal,
          attempt: options.attempt,
          leaseMs: options.leaseMs,
          pollMs: options.pollMs,
          drainTimeout: options.drainTimeout
        })
        yield* Effect.logWarning(`workers stopped (${result.stoppedBy}); starting them again`)
      }).pipe(
        Effect.catchAllCause((cause) =>
          Cause.isInterruptedOnly(cause)
            ? Effect.failCause(cause)
            : Effect.logError("workers failed; starting them again", Cause.squash(cause))
        ),
        Effect.zipRight(engine.setStatus("restarting"))
      )
      yield* Effect.forkScoped(Effect.repeat(once, restartBackoff))
      yield* Effect.addFinalizer(() =>
        engine
          .setStatus("draining")
          .pipe(
            Effect.zipRight(
              Effect.logInfo(`draining: items in the stages get up to ${Duration.format(options.drainTimeout)}`)
            )
          )
      )
    })
  )

const RunConcurrency = Schema.Struct({ concurrency: Schema.optional(Schema.Int.pipe(Schema.positive())) })
const decodeConcurrency = Schema.decodeUnknownOption(RunConcurrency)

/**
 * Wraps a process stage so that each run's own `concurrency` (from its stored settings) bounds its
 * items in that stage, under the service-wide bound.
 *
 * The wrapper times each call itself, once the run's slot is granted, and is marked synchronous so the
 * worker adds no timeout of its own: waiting for a slot must not count against the attempt timeout.
 * A run's items claimed while its slots are full wait in the worker's fibers, so a capped run slows
 * only the runs queued behind it, and never past the service's bound.
 *
 * @since 0.1.0
 */
export const limitRuns = (
  inner: Processor["Type"],
  store: Store["Type"],
  attempt: AttemptOptions = defaultAttemptOptions
): Processor["Type"] => {
  const limits = new Map<string, Effect.Semaphore | null>()
  const limitOf = (run: string): Effect.Effect<Effect.Semaphore | null> => {
    const known = limits.get(run)
    if (known !== undefined) return Effect.succeed(known)
    return store.getRun(run).pipe(
      Effect.map((info) => {
        const n = Option.flatMap(info, (i) => decodeConcurrency(i.config)).pipe(
          Option.flatMapNullable((c) => c.concurrency)
        )
        const semaphore = Option.isSome(n) ? Effect.unsafeMakeSemaphore(n.value) : null
        limits.set(run, semaphore)
        return semaphore
      }),
      // Unknown for now: uncapped this time, asked again next time.
      Effect.orElseSucceed(() => null)
    )
  }
  const timeout = attempt.attemptTimeout
  return synchronous(
    Processor.of({
      process: (item, route) => {
        const call = inner.process(item, route).pipe(
          Effect.withSpan("sluice.process", { attributes: { "sluice.route": route.label }, captureStackTrace: false }),
          Effect.timeoutFail({
            duration: timeout,
            onTimeout: () =>
              new Transient({ reason: "Timeout", message: `no answer within ${Duration.format(timeout)}` })
          })
        )
        return Effect.flatMap(limitOf(item.run), (semaphore) =>
          semaphore === null ? call : semaphore.withPermits(1)(call)
        )
      }
    })
  )
}

/**
 * The service's classify and process stages: rebuilt per run from its stored settings (`PerRun`),
 * with each run's concurrency applied to its process stage, and costs priced by the `Pricing` in
 * context when there is one.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerStages = (attempt?: AttemptOptions): Layer.Layer<Classifier | Processor, never, Store | Llm> =>
  Layer.scopedContext(
    Effect.gen(function* () {
      const store = yield* Store
      // Costs are counted when the host provides a price table (the CLI always does).
      const pricing = yield* Effect.serviceOption(Pricing.Pricing)
      const price = Option.map(pricing, (p) => (response: ChatResponse) => p.cost(response.model, response.usage))
      const stages = yield* Layer.build(PerRun.layer(Option.getOrUndefined(price)))
      return Context.add(stages, Processor, limitRuns(Context.get(stages, Processor), store, attempt))
    })
  )
