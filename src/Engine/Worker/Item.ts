/**
 * One item through classify → process → persist: the only place the stage chain is written. It runs
 * two ways, differing only in how a stage call is made (`Runner`):
 * - under the policy (`attempt`): timeouts, retries with backoff, the pause gate, a span per stage;
 * - directly, for a wholly synchronous pipeline (echo): no fibers, queues, timeouts or spans per item;
 *   the first failure sends that item through the policy path instead, so it gets the whole policy.
 *
 * @since 0.1.0
 */
import { Clock, Effect, Exit, Ref } from "effect"
import type { CircuitOpen, OverBudget, StageError, UpstreamUnusable } from "../../Domain/Errors.js"
import type { Item } from "../../Domain/Item.js"
import * as Outcome from "../../Domain/Outcome.js"
import * as Usage from "../../Domain/Usage.js"
import type { Classifier } from "../../Stages/Classifier.js"
import type { Persister } from "../../Stages/Persister.js"
import type { Processor } from "../../Stages/Processor.js"
import { isSynchronous } from "../../Stages/Synchronous.js"
import * as Tracing from "../../Telemetry/Tracing.js"
import { attempt, emptyStats, type Attempted, type AttemptStats } from "../Attempt.js"
import { completed, hold, released, type Finished } from "./Finished.js"
import type { Session } from "./Session.js"

/** @since 0.1.0 */
export interface Stages {
  readonly classifier: Classifier["Type"]
  readonly processor: Processor["Type"]
  readonly persister: Persister["Type"]
}

/** A stage call's result, or "Fallback": the direct runner met a failure the policy must handle. */
type Ran<A> = Attempted<A> | { readonly _tag: "Fallback" }

type Runner = <A>(
  service: object,
  name: string,
  call: Effect.Effect<A, StageError>,
  attributes?: Record<string, unknown>
) => Effect.Effect<Ran<A>>

type Decision =
  | {
      readonly _tag: "Outcome"
      readonly outcome: Outcome.Outcome
      readonly attempts: number
      readonly route: string | undefined
      readonly usage: Usage.Usage | undefined
    }
  | { readonly _tag: "Held"; readonly error: CircuitOpen | OverBudget | UpstreamUnusable; readonly attempts: number }
  | { readonly _tag: "Fallback" }

const decided = (
  outcome: Outcome.Outcome,
  attempts: number,
  route: string | undefined,
  usage: Usage.Usage | undefined
): Decision => ({ _tag: "Outcome", outcome, attempts, route, usage })

const failed = (item: Item, e: StageError, attempts: number, prefix = "") =>
  Outcome.failed(e._tag, `${prefix}${e.message}`, item.attempts + attempts)

/**
 * The chain. `attempts` everywhere: the tries of the stage that decided the outcome (the failure
 * message counts them summed over deliveries).
 */
const chain = Effect.fnUntraced(function* (stages: Stages, item: Item, run: Runner) {
  const { classifier, persister, processor } = stages
  const routed = yield* run(classifier, "sluice.classify", classifier.classify(item))
  if (routed._tag !== "Ok")
    return routed._tag === "Failed"
      ? decided(failed(item, routed.error, routed.attempts), routed.attempts, undefined, undefined)
      : routed
  const route = routed.value
  if (route._tag === "Skip") return decided(Outcome.skipped(route.reason), routed.attempts, undefined, route.usage)

  const processed = yield* run(processor, "sluice.process", processor.process(item, route), {
    "sluice.route": route.label
  })
  if (processed._tag === "Failed")
    return decided(failed(item, processed.error, processed.attempts), processed.attempts, route.label, route.usage)
  if (processed._tag !== "Ok") return processed
  const { output } = processed.value
  const usage = Usage.combine(route.usage, processed.value.usage)
  const persisted = yield* run(persister, "sluice.persist", persister.persist(item, output))
  if (persisted._tag === "Failed")
    return decided(
      failed(item, persisted.error, persisted.attempts, "persist: "),
      persisted.attempts,
      route.label,
      usage
    )
  if (persisted._tag === "Held") return { ...persisted, attempts: processed.attempts }
  if (persisted._tag === "Fallback") return persisted
  return decided(Outcome.completed(output), processed.attempts, route.label, usage)
})

const okOnce = <A>(value: A): Ran<A> => ({ _tag: "Ok", value, attempts: 1 })
const fallback: Ran<never> = { _tag: "Fallback" }

/** An effect that is already an Exit (it has finished), as that Exit; else undefined. */
const ready = <A, E>(effect: Effect.Effect<A, E>): Exit.Exit<A, E> | undefined =>
  Exit.isExit(effect) ? (effect as Exit.Exit<A, E>) : undefined

/** The direct runner: an answer already in hand (an Exit, as `Effect.succeed` is) is read without a fiber step. */
const direct: Runner = (_service, _name, call) => {
  const exit = ready(call)
  return exit !== undefined && Exit.isSuccess(exit)
    ? Exit.succeed(okOnce(exit.value))
    : Effect.matchEffect(call, { onSuccess: (a) => Exit.succeed(okOnce(a)), onFailure: () => Exit.succeed(fallback) })
}

/** @since 0.1.0 */
export const make = (session: Session, stages: Stages) => {
  const { owner, attempt: options, gate } = session

  /** Under the policy; a synchronous stage gets no timeout and no span of its own. */
  const policy =
    (stats: AttemptStats): Runner =>
    (service, name, call, attributes) =>
      isSynchronous(service)
        ? attempt(call, options, gate, stats, false)
        : attempt(
            Effect.withSpan(call, name, { attributes: attributes ?? {}, captureStackTrace: false }),
            options,
            gate,
            stats
          )

  /** One item under the whole policy, in a span of its own. */
  const processOne = (item: Item): Effect.Effect<Finished> =>
    Effect.gen(function* () {
      if ((yield* Ref.get(session.stopping)) !== undefined)
        return released(owner, item, 0, 0, true, { retries: 0, rateLimitHits: 0, pausedMs: 0, ms: 0 })
      const startedAt = yield* Clock.currentTimeMillis
      const stats = emptyStats()
      const d = yield* chain(stages, item, policy(stats))
      // The policy runner never falls back; the branch only narrows the type.
      if (d._tag === "Fallback") return yield* Effect.dieMessage("the policy runner fell back")
      if (d._tag === "Held") return yield* hold(session, item, d.error, d.attempts, stats)
      return completed(owner, item, d, startedAt, yield* Clock.currentTimeMillis, stats)
    }).pipe(
      Effect.tap((f) =>
        f._tag === "Done"
          ? Tracing.annotateItem(item, f.completion.outcome, f.completion.attempts)
          : Tracing.annotateItem(item, undefined, f.release.attempts)
      ),
      Effect.withSpan("sluice.item", {
        attributes: {
          "sluice.run": item.run,
          "sluice.key": item.key,
          "sluice.seq": item.seq,
          "sluice.delivery": item.deliveries
        },
        captureStackTrace: false
      })
    )

  /**
   * A claimed batch of a wholly synchronous pipeline, one item after another in the calling fiber:
   * it has nothing to overlap. The batch shares one start time and no per-item stats.
   */
  const processBatch = (items: ReadonlyArray<Item>): Effect.Effect<Array<Finished>> =>
    Effect.gen(function* () {
      const startedAt = yield* Clock.currentTimeMillis
      const stats = emptyStats()
      const out: Array<Finished> = []
      for (const item of items) {
        const d = yield* chain(stages, item, direct)
        if (d._tag === "Outcome") out.push(completed(owner, item, { ...d, attempts: 1 }, startedAt, startedAt, stats))
        else out.push(yield* processOne(item))
      }
      return out
    })

  return { processOne, processBatch }
}
