/**
 * The durable queue port. SQLite is the default implementation (`SqliteStore.ts`); every
 * implementation passes the one conformance suite in `test/Store/StoreSuite.ts`.
 *
 * Items move `pending → processing → completed | skipped | failed`. A claim leases items to an owner
 * until an expiry; a heartbeat renews the leases; an expired lease makes the item claimable again.
 *
 * @since 0.1.0
 */
import { Context, Schema, type Effect, type Option } from "effect"
import type { Item, SourceRecord } from "../Domain/Item.js"
import type { Outcome } from "../Domain/Outcome.js"
import type { RunCounts, RunMetrics } from "../Domain/Run.js"
import type { FleetChange, FleetSnapshot } from "./Fleet.js"

/**
 * The store could not do its job. `NotSluice` and `TooNew` are found before anything is written.
 *
 * @since 0.1.0
 */
export class StoreError extends Schema.TaggedError<StoreError>()("StoreError", {
  reason: Schema.Literal("NotSluice", "TooNew", "Unavailable", "Write", "Read"),
  location: Schema.String,
  message: Schema.String
}) {}

/** @since 0.1.0 */
export interface RunInfo {
  readonly id: string
  /** The pipeline settings the run was created with (JSON), so a worker or a service can rebuild it. */
  readonly config: unknown
  readonly createdAt: number
  /** Set once the run's source has been read to its end; a resumed run then skips fetching. */
  readonly fetchedAt: number | null
}

/** @since 0.1.0 */
export interface RecordResult {
  /** Items that were new to the store. */
  readonly inserted: number
  /** Records that were already in the store and have completed: their source may need acking again. */
  readonly alreadyCompleted: ReadonlyArray<Item>
  /**
   * Lines recorded earlier as unreadable (failed at ingest, nothing to process) that now read as
   * records, at the same position: stored in their place as pending. Absent means none.
   */
  readonly revived?: number | undefined
}

/** @since 0.1.0 */
export interface ClaimOptions {
  readonly owner: string
  readonly limit: number
  readonly leaseMs: number
  /** Claim only from this run. */
  readonly run?: string | undefined
  /** Claim only from these runs (when `run` is absent); all runs when both are absent. */
  readonly runs?: ReadonlyArray<string> | undefined
}

/**
 * The end of one delivery of an item.
 *
 * @since 0.1.0
 */
export interface Completion {
  readonly run: string
  readonly seq: number
  readonly owner: string
  readonly outcome: Outcome
  /** Upstream attempts spent in this delivery. */
  readonly attempts: number
  readonly route?: string | undefined
  readonly startedAt: number
  readonly finishedAt: number
  /**
   * The lease token: the item's `deliveries` as this owner's claim returned it. When given, the
   * completion is refused once the item has been claimed again since, by anyone (this owner too):
   * a worker cut off from the database past its lease cannot overwrite the delivery that replaced it.
   */
  readonly lease?: number | undefined
}

/**
 * An item handed back to pending without an outcome (circuit open, budget reached, shutdown).
 *
 * @since 0.1.0
 */
export interface Release {
  readonly run: string
  readonly seq: number
  readonly owner: string
  readonly notBefore: number
  readonly attempts: number
  /** The lease token, as on `Completion`. */
  readonly lease?: number | undefined
}

/**
 * A lease a worker knows it holds: the item, and its `deliveries` when claimed (the lease token).
 *
 * @since 0.1.0
 */
export interface Lease {
  readonly run: string
  readonly seq: number
  readonly lease: number
}

/**
 * What a worker says about itself at every heartbeat, so `sluice status` can list the workers alive.
 *
 * @since 0.1.0
 */
export interface WorkerBeat {
  /** The lease owner id. */
  readonly owner: string
  readonly host: string
  readonly pid: number
  readonly concurrency: number
  /** Its lease length: a worker not heard from for this long is gone (its leases have expired). */
  readonly leaseMs: number
  readonly startedAt: number
}

/**
 * A worker as the store last heard from it.
 *
 * @since 0.1.0
 */
export interface WorkerRow extends WorkerBeat {
  /** Its last heartbeat. */
  readonly seenAt: number
  /** Items it holds leases on now. */
  readonly holding: number
}

/**
 * One line of a run's ordered results.
 *
 * @since 0.1.0
 */
export interface ResultRow {
  readonly seq: number
  readonly key: string
  readonly status: "pending" | "processing" | "completed" | "skipped" | "failed"
  /** The output as JSON text (completed items), or null. */
  readonly outputJson: string | null
  readonly errorTag: string | null
  readonly errorMessage: string | null
  readonly attempts: number
}

/** @since 0.1.0 */
export interface ErrorRow {
  readonly run: string
  readonly seq: number
  readonly key: string
  readonly errorTag: string
  readonly errorMessage: string
  readonly attempts: number
  readonly finishedAt: number | null
}

/**
 * One failed item, as the dashboard lists it.
 *
 * @since 0.1.0
 */
export interface FailureRow {
  readonly seq: number
  readonly key: string
  /** The item's line in its source file, when it came from one. */
  readonly line: number | null
  readonly errorTag: string
  readonly errorMessage: string
  readonly attempts: number
  readonly finishedAt: number | null
  /** False for a line that could not be read: it has nothing to process again, so retrying leaves it failed. */
  readonly retryable: boolean
}

/**
 * Failed items of a run with one error tag.
 *
 * @since 0.1.0
 */
export interface FailureTag {
  readonly tag: string
  readonly count: number
  readonly retryable: number
}

/**
 * Items of a run that finished within one time bucket.
 *
 * @since 0.1.0
 */
export interface FinishedBucket {
  /** The bucket's start (epoch milliseconds, a multiple of the bucket size). */
  readonly atMs: number
  readonly finished: number
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Store extends Context.Tag("sluice/Store/Store")<
  Store,
  {
    /** Where the store lives, for messages (a file path, a database name). */
    readonly location: string
    /** Creates the run if it is new; returns it as stored either way. */
    readonly openRun: (id: string, config: unknown) => Effect.Effect<RunInfo, StoreError>
    readonly getRun: (id: string) => Effect.Effect<Option.Option<RunInfo>, StoreError>
    readonly listRuns: Effect.Effect<ReadonlyArray<RunInfo>, StoreError>
    readonly markFetched: (run: string) => Effect.Effect<void, StoreError>
    /**
     * Records source records before any stage touches them, in one transaction. A key already in the
     * run is left as it is. Records with an `ordinal` take it as their `seq`; others are numbered after
     * the run's highest seq. `Malformed` records are stored already failed (`Invalid`, with their line).
     * A record at the position of a line that failed as unreadable (a broken line fixed since, a line
     * cut off mid-write now whole) takes its place, pending, under its own key.
     */
    readonly record: (run: string, records: ReadonlyArray<SourceRecord>) => Effect.Effect<RecordResult, StoreError>
    /** Leases up to `limit` claimable items in one atomic statement, lowest seq first. */
    readonly claim: (options: ClaimOptions) => Effect.Effect<ReadonlyArray<Item>, StoreError>
    /**
     * Extends the owner's leases; returns how many. Given `held`, only those leases, and only while
     * their token still matches: a lease the owner does not know it holds (a claim whose answer was
     * lost with the connection) is left to expire.
     */
    readonly heartbeat: (
      owner: string,
      leaseMs: number,
      held?: ReadonlyArray<Lease>
    ) => Effect.Effect<number, StoreError>
    /**
     * Writes outcomes and statuses in one transaction (group commit). An item whose lease this owner
     * no longer holds is left alone; the result says, per completion, whether it was written.
     */
    readonly complete: (completions: ReadonlyArray<Completion>) => Effect.Effect<ReadonlyArray<boolean>, StoreError>
    readonly release: (releases: ReadonlyArray<Release>) => Effect.Effect<void, StoreError>
    /** Hands every lease of an owner back to pending (graceful shutdown); returns how many. */
    readonly releaseOwner: (owner: string) => Effect.Effect<number, StoreError>
    readonly counts: (run?: string) => Effect.Effect<RunCounts, StoreError>
    /** Items of a run in seq order, from `afterSeq` (exclusive), at most `limit`. */
    readonly results: (
      run: string,
      options: { readonly afterSeq: number; readonly limit: number }
    ) => Effect.Effect<ReadonlyArray<ResultRow>, StoreError>
    readonly lastErrors: (run: string | undefined, limit: number) => Effect.Effect<ReadonlyArray<ErrorRow>, StoreError>
    /** Sends failed items back to pending (only those with error tag `tag`, when given); returns how many. */
    readonly retryFailed: (run?: string, tag?: string) => Effect.Effect<number, StoreError>
    /** A page of a run's failed items in seq order after `afterSeq` (exclusive), only tag `tag` when given. */
    readonly failures: (
      run: string,
      options: { readonly tag?: string | undefined; readonly afterSeq: number; readonly limit: number }
    ) => Effect.Effect<ReadonlyArray<FailureRow>, StoreError>
    /** A run's failed items per error tag, most frequent first. */
    readonly failureTags: (run: string) => Effect.Effect<ReadonlyArray<FailureTag>, StoreError>
    /** How many of a run's items finished in each `bucketMs`-long bucket, oldest first, empty buckets left out. */
    readonly finishedOverTime: (
      run: string,
      bucketMs: number
    ) => Effect.Effect<ReadonlyArray<FinishedBucket>, StoreError>
    readonly addMetrics: (run: string, delta: Partial<RunMetrics>) => Effect.Effect<void, StoreError>
    readonly metrics: (run: string) => Effect.Effect<RunMetrics, StoreError>
    /** Records a worker's heartbeat (its row is created on the first). */
    readonly announce: (beat: WorkerBeat) => Effect.Effect<void, StoreError>
    /** Removes a worker that stopped cleanly. */
    readonly retire: (owner: string) => Effect.Effect<void, StoreError>
    /** The workers alive: heard from within their lease length, oldest first. */
    readonly workers: Effect.Effect<ReadonlyArray<WorkerRow>, StoreError>
    /**
     * The fleet budget (`Governor/FleetBudget.ts`): reads an upstream's row (created empty when new) and
     * its holders under a lock, and writes back what `step` decides, in one transaction.
     */
    readonly fleetUpdate: <A>(
      upstream: string,
      step: (snapshot: FleetSnapshot) => FleetChange<A>
    ) => Effect.Effect<A, StoreError>
    /** Every upstream's fleet row and holders, for status and metrics. */
    readonly fleetRead: Effect.Effect<ReadonlyArray<FleetSnapshot>, StoreError>
    /** True when the store answers (readiness). */
    readonly ping: Effect.Effect<boolean>
  }
>() {}
