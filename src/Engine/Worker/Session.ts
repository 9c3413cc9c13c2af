/**
 * The state one worker session shares between its parts: the claimer fills `inbox`, the stage fibers
 * (Item) put what they finished in `done`, the committer writes it and wakes the claimer through
 * `signal`. Each field has one writer, except `stopping`, which any part may set once.
 *
 * @since 0.1.0
 */
import { Effect, Queue, Ref } from "effect"
import type { Item } from "../../Domain/Item.js"
import type { StopReason } from "../../Domain/Run.js"
import { defaultAttemptOptions, makePauseGate, type AttemptOptions, type PauseGate } from "../Attempt.js"
import type { Finished } from "./Finished.js"
import * as Leases from "../Leases.js"
import type { WorkerOptions } from "./Options.js"

/** @since 0.1.0 */
export interface Session {
  readonly options: WorkerOptions
  readonly owner: string
  readonly concurrency: number
  readonly leaseMs: number
  readonly pollMs: number
  readonly attempt: AttemptOptions
  readonly gate: PauseGate
  readonly leases: Leases.Leases
  /** Claimed items waiting for a stage fiber. */
  readonly inbox: Queue.Queue<Item>
  /** Items out of the stages, waiting for the committer. */
  readonly done: Queue.Queue<Finished>
  /** Wakes an idle claimer. */
  readonly signal: Queue.Queue<void>
  /** Items leased by this worker and not yet committed or released. */
  readonly leased: Ref.Ref<number>
  readonly stopping: Ref.Ref<StopReason | undefined>
  /** Why the upstream cannot be used, when that stopped the session. */
  readonly stopMessage: Ref.Ref<string | undefined>
  /** No claims before this time (ms): the circuit is open. */
  readonly holdUntil: Ref.Ref<number>
  readonly finishedCount: Ref.Ref<number>
  /** Mean milliseconds an item spends in the stages, to size how far ahead we claim. */
  readonly meanItemMs: Ref.Ref<number | undefined>
}

const DEFAULT_LEASE_MS = 30_000

/** @since 0.1.0 */
export const make = (options: WorkerOptions): Effect.Effect<Session> =>
  Effect.gen(function* () {
    return {
      options,
      owner: options.owner,
      concurrency: Math.max(1, Math.floor(options.concurrency)),
      leaseMs: options.leaseMs ?? DEFAULT_LEASE_MS,
      pollMs: options.pollMs ?? 200,
      attempt: options.attempt ?? defaultAttemptOptions,
      gate: yield* makePauseGate,
      leases: Leases.make(),
      inbox: yield* Queue.unbounded<Item>(),
      done: yield* Queue.unbounded<Finished>(),
      signal: options.wake ?? (yield* Queue.sliding<void>(1)),
      leased: yield* Ref.make(0),
      stopping: yield* Ref.make<StopReason | undefined>(undefined),
      stopMessage: yield* Ref.make<string | undefined>(undefined),
      holdUntil: yield* Ref.make(0),
      finishedCount: yield* Ref.make(0),
      meanItemMs: yield* Ref.make<number | undefined>(undefined)
    }
  })
