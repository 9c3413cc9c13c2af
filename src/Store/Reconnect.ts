/**
 * The store over a network that can fail: a database restart, a cut cable, a host that stops answering.
 * Every call that finds the database out of reach (`Unavailable`, or no answer within `timeout`) is
 * tried again with jittered exponential backoff until it is back, so a worker neither exits nor loses
 * what it has finished: its claimer stops claiming (the claim waits), its finished outcomes wait for
 * the committer, and its heartbeat resumes. It says so once when the database goes and once when it
 * returns, however many calls noticed.
 *
 * Only the statements whose repetition is harmless are timed out: claim, complete, release and the
 * heartbeat are fenced by the lease token, record skips what it already has, and reads change nothing.
 * `addMetrics` adds to counters and `fleetUpdate` takes budget, so a timed-out one that did land would
 * count twice: they only wait.
 *
 * @since 0.1.0
 */
import { Clock, Context, Duration, Effect, Layer, Ref, Schedule } from "effect"
import { Store, StoreError } from "./Store.js"

/**
 * @since 0.1.0
 */
export interface ReconnectOptions {
  /** How long one call may go unanswered before the database counts as out of reach. Default 10 s. */
  readonly timeout?: Duration.DurationInput | undefined
  /** The pause between attempts: default 200 ms doubling, jittered, at most 5 s apart. */
  readonly backoff?: Schedule.Schedule<unknown, StoreError> | undefined
}

/**
 * What the reconnecting store knows about the link, for the worker that uses it.
 *
 * @since 0.1.0
 * @category tags
 */
export class StoreLink extends Context.Tag("sluice/Store/StoreLink")<
  StoreLink,
  {
    /** True while the database is out of reach. */
    readonly lost: Effect.Effect<boolean>
    /**
     * From now on, a call that cannot reach the database gives up after `within` instead of waiting
     * for it: a worker that is shutting down does not wait forever for a database that is gone.
     */
    readonly giveUpWithin: (within: Duration.DurationInput) => Effect.Effect<void>
  }
>() {}

/**
 * The default backoff: 200 ms, 400 ms, … jittered, never more than 5 s apart, for as long as it takes.
 *
 * @since 0.1.0
 */
export const defaultBackoff: Schedule.Schedule<unknown, StoreError> = Schedule.exponential("200 millis", 2).pipe(
  Schedule.jittered,
  Schedule.union(Schedule.spaced("5 seconds"))
)

const seconds = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`

/**
 * Wraps `store`; returns the wrapped store and its link.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (store: Store["Type"], options: ReconnectOptions = {}) =>
  Effect.gen(function* () {
    const timeout = Duration.decode(options.timeout ?? "10 seconds")
    const backoff = options.backoff ?? defaultBackoff
    const lostSince = yield* Ref.make<number | undefined>(undefined)
    const giveUpAt = yield* Ref.make<number | undefined>(undefined)
    const where = store.location

    const markLost = (error: StoreError) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Ref.modify(lostSince, (since) => [since === undefined, since ?? now])
      ).pipe(
        Effect.flatMap((first) =>
          first
            ? Effect.logWarning(
                `lost the database ${where} (${error.message}); not claiming until it is back, retrying with backoff`
              )
            : Effect.void
        )
      )

    const markUp = Effect.flatMap(Ref.getAndSet(lostSince, undefined), (since) =>
      since === undefined
        ? Effect.void
        : Effect.flatMap(Clock.currentTimeMillis, (now) =>
            Effect.logWarning(`the database ${where} is back after ${seconds(now - since)}; claiming again`)
          )
    )

    const keepTrying = (error: StoreError) =>
      error.reason !== "Unavailable"
        ? Effect.succeed(false)
        : Effect.zipWith(Ref.get(giveUpAt), Clock.currentTimeMillis, (at, now) => at === undefined || now < at)

    const noAnswer = () =>
      new StoreError({
        reason: "Unavailable",
        location: where,
        message: `no answer from ${where} within ${seconds(Duration.toMillis(timeout))}`
      })

    /** One call, retried while the database is out of reach. */
    const call = <A>(effect: Effect.Effect<A, StoreError>, timed = true): Effect.Effect<A, StoreError> => {
      // Disconnected: a call that times out is abandoned at once, its cancellation finishing behind it
      // (a cancel needs the database too).
      const once = timed
        ? effect.pipe(Effect.disconnect, Effect.timeoutFail({ duration: timeout, onTimeout: noAnswer }))
        : effect
      return once.pipe(
        Effect.tapBoth({
          onFailure: (e) => (e.reason === "Unavailable" ? markLost(e) : Effect.void),
          onSuccess: () => markUp
        }),
        Effect.retry({ schedule: backoff, while: keepTrying })
      )
    }

    const wrapped = Store.of({
      ...store,
      openRun: (id, config) => call(store.openRun(id, config)),
      getRun: (id) => call(store.getRun(id)),
      listRuns: call(store.listRuns),
      markFetched: (run) => call(store.markFetched(run)),
      record: (run, records) => call(store.record(run, records)),
      claim: (o) => call(store.claim(o)),
      heartbeat: (owner, leaseMs, held) => call(store.heartbeat(owner, leaseMs, held)),
      complete: (completions) => call(store.complete(completions)),
      release: (releases) => call(store.release(releases)),
      releaseOwner: (owner) => call(store.releaseOwner(owner)),
      counts: (run) => call(store.counts(run)),
      results: (run, o) => call(store.results(run, o)),
      lastErrors: (run, limit) => call(store.lastErrors(run, limit)),
      retryFailed: (run) => call(store.retryFailed(run)),
      addMetrics: (run, delta) => call(store.addMetrics(run, delta), false),
      metrics: (run) => call(store.metrics(run)),
      announce: (beat) => call(store.announce(beat)),
      retire: (owner) => call(store.retire(owner)),
      workers: call(store.workers),
      // A fleet update takes a slice of the shared budget: repeated after a timeout that did land, it
      // would take two. It only waits.
      fleetUpdate: (upstream, step) => call(store.fleetUpdate(upstream, step), false),
      fleetRead: call(store.fleetRead)
    })

    const link = StoreLink.of({
      lost: Effect.map(Ref.get(lostSince), (since) => since !== undefined),
      giveUpWithin: (within) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Ref.update(giveUpAt, (at) => Math.min(at ?? Infinity, now + Duration.toMillis(within)))
        )
    })
    return { store: wrapped, link }
  })

/**
 * Replaces the `Store` in context with its reconnecting self, and provides its `StoreLink`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: ReconnectOptions = {}): Layer.Layer<Store | StoreLink, never, Store> =>
  Layer.effectContext(
    Effect.gen(function* () {
      const { link, store } = yield* make(yield* Store, options)
      return Context.make(Store, store).pipe(Context.add(StoreLink, link))
    })
  )
