/**
 * What a worker is asked to do, and what it reports when it stops.
 *
 * @since 0.1.0
 */
import type { Duration, Effect, Queue } from "effect"
import type { StopReason } from "../../Domain/Run.js"
import type { StoreError } from "../../Store/Store.js"
import type { AttemptOptions } from "../Attempt.js"

/**
 * @since 0.1.0
 */
export interface WorkerOptions {
  /** This worker's lease owner id; unique per process. */
  readonly owner: string
  /** At most this many items in the stages at once. 1 is strictly sequential. */
  readonly concurrency: number
  /** Claim only from this run; every run when absent. */
  readonly run?: string | undefined
  /**
   * Claim only from the runs this lists (asked again at every claim that finds nothing), when `run`
   * is absent: a generic worker serves only runs whose stages it can rebuild.
   */
  readonly runs?: Effect.Effect<ReadonlyArray<string>, StoreError> | undefined
  /** How long a claim holds an item without a heartbeat. */
  readonly leaseMs?: number | undefined
  /** How often an idle worker looks for new items. */
  readonly pollMs?: number | undefined
  /** "idle": return once nothing is left to do; "forever": keep polling (a service). */
  readonly until: "idle" | "forever"
  /** With `until: "idle"`, the worker does not call the run finished before this says the source is fully recorded. */
  readonly sourceDone?: Effect.Effect<boolean> | undefined
  /** Wakes an idle claimer at once when new items were recorded. */
  readonly wake?: Queue.Queue<void> | undefined
  readonly attempt?: AttemptOptions | undefined
  /** On shutdown, how long items already in the stages may take to finish before they are handed back. */
  readonly drainTimeout?: Duration.DurationInput | undefined
}

/**
 * @since 0.1.0
 */
export interface WorkerResult {
  readonly stoppedBy: StopReason
  /** Items this worker brought to an outcome. */
  readonly finished: number
  /** Why the upstream cannot be used, when `stoppedBy` is "upstream". */
  readonly stopMessage?: string | undefined
}
