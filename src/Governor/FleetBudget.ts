/**
 * One budget for the fleet: every process on one database (SQLite file or Postgres) draws on one set
 * of buckets per upstream, held in that database, so a `run` and any number of `worker`s together stay
 * under the upstream's limits. No extra server: the rows live beside the queue (`Store.fleetUpdate`).
 *
 * The process's Admission keeps its own buckets, FIFO and settling; only their refill changes
 * (`Admission.Supply`): when the head of its line lacks budget, this asks the shared row for a slice,
 * what the head lacks plus `sliceMs` of the rate, and deposits it. So the database is touched about
 * once per slice per busy process (at 3,000 RPM, some twenty times a second for the whole fleet), and
 * not at all by an idle one beyond a heartbeat. The rule itself (slices that expire, the smallest
 * limit, a shared pause) is `FleetLedger.ts`.
 *
 * An upstream is its base URL, the model, and a hash of the API key: the key itself never reaches the
 * database. sluice's Admission governs one base URL and key as one budget, whatever the model, so the
 * CLI keys the row with model `*`; a host program that runs one Admission per model can name it.
 *
 * @since 0.1.0
 */
import { Clock, Effect, Queue, Redacted, type Scope } from "effect"
import { createHash } from "node:crypto"
import type { Supply, Tap } from "./Admission.js"
import * as Ledger from "./FleetLedger.js"
import type { FleetSnapshot } from "../Store/Fleet.js"
import { Store } from "../Store/Store.js"
import type * as Prometheus from "../Telemetry/Prometheus.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface FleetOptions {
  readonly baseUrl: string
  /** The model the budget is for; default `*`, every model behind this base URL and key. */
  readonly model?: string | undefined
  /** Hashed into the upstream's name; never stored. */
  readonly apiKey?: Redacted.Redacted<string> | undefined
  /** This process's name among the holders. */
  readonly holder: string
  /** Milliseconds of the rate asked for on top of what the head lacks. Default 50. */
  readonly sliceMs?: number | undefined
  /** How long a slice may be spent, and counts against the others, before it expires. Default 500. */
  readonly sliceTtlMs?: number | undefined
  /** How long a holder counts as alive after its last contact; a heartbeat renews it. Default 10,000. */
  readonly seenTtlMs?: number | undefined
}

/**
 * The first 16 hex digits of the key's SHA-256: enough to tell keys apart, useless to spend.
 *
 * @since 0.1.0
 */
export const keyHash = (apiKey: Redacted.Redacted<string> | undefined): string =>
  apiKey === undefined ? "none" : createHash("sha256").update(Redacted.value(apiKey)).digest("hex").slice(0, 16)

/**
 * The upstream's name in the database: `base URL|model|key hash`, the base URL without a trailing
 * slash, query or credentials.
 *
 * @since 0.1.0
 */
export const upstreamKey = (options: Pick<FleetOptions, "baseUrl" | "model" | "apiKey">): string => {
  let base = options.baseUrl
  try {
    const url = new URL(options.baseUrl)
    url.username = ""
    url.password = ""
    url.search = ""
    url.hash = ""
    base = url.href
  } catch {
    // Not a URL: kept as given.
  }
  return `${base.replace(/\/+$/, "")}|${options.model ?? "*"}|${keyHash(options.apiKey)}`
}

/** When the database cannot be reached, the next try waits this long (and the warning is said once). */
const RETRY_MS = 250
/** A take that found the row short waits at most this long before it looks again. */
const MAX_WAIT_MS = 250

/**
 * The fleet budget as an Admission `Supply`, over the `Store` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const supply = (options: FleetOptions): Effect.Effect<Supply, never, Store> =>
  Effect.gen(function* () {
    const store = yield* Store
    const upstream = upstreamKey(options)
    const holder = options.holder
    const sliceMs = options.sliceMs ?? 50
    const sliceTtlMs = options.sliceTtlMs ?? 500
    const seenTtlMs = options.seenTtlMs ?? 10_000
    const pauses = yield* Queue.unbounded<number>()
    let warned = false

    const orWarn = <A>(effect: Effect.Effect<A, unknown>, fallback: A) =>
      effect.pipe(
        Effect.tap(() => Effect.sync(() => (warned = false))),
        Effect.catchAll((e) =>
          Effect.zipRight(
            warned
              ? Effect.void
              : Effect.zipRight(
                  Effect.sync(() => (warned = true)),
                  Effect.logWarning(
                    `fleet budget: cannot reach ${store.location}: ${(e as { message?: string }).message ?? String(e)}`
                  )
                ),
            Effect.as(Effect.sleep(RETRY_MS), fallback)
          )
        )
      )

    const run = (tap: Tap): Effect.Effect<void, never, Scope.Scope> =>
      Effect.gen(function* () {
        let sliceUntil = 0
        const granted = yield* Queue.sliding<void>(1)
        /**
         * The database's round trip, smoothed. A slow database (a loaded machine, a distant server)
         * gets larger and longer slices, so the line is not left waiting on each round trip: a slice
         * covers at least two of them, and lives at least four.
         */
        let roundTripMs = 0

        const contact = (need: { readonly requests: number; readonly tokens: number }) =>
          Effect.gen(function* () {
            const n = yield* tap.need
            const now = yield* Clock.currentTimeMillis
            // Real time, not the Clock: this measures the database, which a test clock does not slow.
            const sent = performance.now()
            const result = yield* store.fleetUpdate(
              upstream,
              Ledger.take({
                holder,
                now,
                vote: { rpm: n.rpm, tpm: n.tpm, windowMs: n.windowMs },
                need,
                sliceMs: Math.max(sliceMs, 2 * roundTripMs),
                sliceTtlMs: Math.max(sliceTtlMs, 4 * roundTripMs),
                seenTtlMs,
                holding: { requests: n.heldRequests, tokens: n.heldTokens }
              })
            )
            const took = performance.now() - sent
            roundTripMs = roundTripMs === 0 ? took : roundTripMs * 0.8 + took * 0.2
            if (result.pausedUntil > now) yield* tap.pauseUntil(result.pausedUntil)
            if (result.requests > 0 || result.tokens > 0) {
              yield* tap.deposit(result.requests, result.tokens)
              sliceUntil = result.sliceUntil
              yield* Queue.offer(granted, undefined)
            }
            return result
          })

        // What is left of the slices is dropped when they expire: past then it counts for nobody.
        const expiry = Effect.gen(function* () {
          yield* Queue.take(granted)
          while (true) {
            const now = yield* Clock.currentTimeMillis
            if (now >= sliceUntil) break
            yield* Effect.sleep(sliceUntil - now)
          }
          yield* tap.expire
        }).pipe(Effect.forever)

        // Feeds the head of the line whenever it lacks budget.
        const feed = Effect.gen(function* () {
          yield* tap.hungry
          while (true) {
            const n = yield* tap.need
            if (n.requests <= 0 && n.tokens <= 0) break
            const result = yield* orWarn(contact({ requests: n.requests, tokens: n.tokens }), undefined)
            if (result === undefined || result.requests > 0 || result.tokens > 0) continue
            yield* Effect.sleep(Math.max(1, Math.min(result.waitMs, MAX_WAIT_MS)))
          }
        }).pipe(Effect.forever)

        // Keeps this holder alive and its vote counted while idle, and hears of pauses from the others.
        const heartbeat = Effect.zipRight(
          Effect.sleep(seenTtlMs / 3),
          orWarn(contact({ requests: 0, tokens: 0 }), undefined)
        ).pipe(Effect.forever)

        // A 429 here: the others hear of it at their next contact.
        const tell = Effect.gen(function* () {
          const until = yield* Queue.take(pauses)
          const now = yield* Clock.currentTimeMillis
          yield* orWarn(store.fleetUpdate(upstream, Ledger.pause(now, until)), 0)
        }).pipe(Effect.forever)

        yield* orWarn(contact({ requests: 0, tokens: 0 }), undefined)
        yield* Effect.addFinalizer(() =>
          Effect.gen(function* () {
            const n = yield* tap.need
            const now = yield* Clock.currentTimeMillis
            yield* Effect.ignore(
              store.fleetUpdate(upstream, Ledger.leave(holder, now, { requests: n.heldRequests, tokens: n.heldTokens }))
            )
          })
        )
        yield* Effect.all([feed, expiry, heartbeat, tell], { concurrency: "unbounded", discard: true })
      })

    return { run, paused: (untilMs: number) => Queue.offer(pauses, untilMs) }
  })

// ---- what status and /metrics show --------------------------------------------------------------

/**
 * One upstream's use by the fleet.
 *
 * @since 0.1.0
 */
export interface FleetUse {
  readonly upstream: string
  readonly rpm: number | undefined
  readonly tpm: number | undefined
  /** Handed out over the last minute. */
  readonly requestsPerMinute: number
  readonly tokensPerMinute: number
  readonly holdersAlive: number
  readonly pausedForMs: number
  readonly rateLimitHits: number
}

/**
 * What each upstream's row says at `now`.
 *
 * @since 0.1.0
 */
export const usage = (snapshots: ReadonlyArray<FleetSnapshot>, now: number): ReadonlyArray<FleetUse> =>
  snapshots.map(({ holders, row }) => {
    const used = Ledger.usedPerMinute(row, now)
    return {
      upstream: row.upstream,
      rpm: row.rpm ?? undefined,
      tpm: row.tpm ?? undefined,
      requestsPerMinute: used.requests,
      tokensPerMinute: used.tokens,
      holdersAlive: holders.filter((h) => h.seenUntil > now).length,
      pausedForMs: Math.max(0, row.pausedUntil - now),
      rateLimitHits: row.rateLimitHits
    }
  })

const fmt = (n: number) => (n >= 10_000 ? `${Math.round(n / 1000)}k` : `${Math.round(n)}`)

/**
 * Lines for `sluice status`: one per upstream, e.g.
 * `http://127.0.0.1:8080/v1 (model *, key 3f2a…): RPM 2,950/3,000, TPM 0/–, 3 holders alive`.
 *
 * @since 0.1.0
 */
export const describe = (u: FleetUse): string => {
  const [base, model, key] = u.upstream.split("|")
  const of = (used: number, limit: number | undefined) => `${fmt(used)}/${limit === undefined ? "–" : fmt(limit)}`
  return (
    `${base} (model ${model}, key ${key?.slice(0, 8)}…): RPM ${of(u.requestsPerMinute, u.rpm)}, TPM ${of(u.tokensPerMinute, u.tpm)}, ` +
    `${u.holdersAlive} holder${u.holdersAlive === 1 ? "" : "s"} alive` +
    (u.rateLimitHits > 0 ? `, ${u.rateLimitHits} 429s` : "") +
    (u.pausedForMs > 0 ? `, paused ${(u.pausedForMs / 1000).toFixed(1)} s` : "")
  )
}

/**
 * `/metrics` families for the fleet's use of each limit.
 *
 * @since 0.1.0
 */
export const families = (usages: ReadonlyArray<FleetUse>): ReadonlyArray<Prometheus.Family> => {
  const labels = (u: FleetUse, limit?: "rpm" | "tpm") => {
    const [base, model, key] = u.upstream.split("|")
    const upstream = { base_url: base ?? "", model: model ?? "", key_hash: key ?? "" }
    return limit === undefined ? upstream : { ...upstream, limit }
  }
  return [
    {
      name: "sluice_fleet_used_per_minute",
      help: "What every process on this database took from the upstream's shared budget over the last minute",
      type: "gauge",
      samples: usages.flatMap((u) => [
        { labels: labels(u, "rpm"), value: u.requestsPerMinute },
        { labels: labels(u, "tpm"), value: u.tokensPerMinute }
      ])
    },
    {
      name: "sluice_fleet_limit_per_minute",
      help: "The limit the fleet shares (the smallest any live process was given)",
      type: "gauge",
      samples: usages.flatMap((u) => [
        ...(u.rpm === undefined ? [] : [{ labels: labels(u, "rpm"), value: u.rpm }]),
        ...(u.tpm === undefined ? [] : [{ labels: labels(u, "tpm"), value: u.tpm }])
      ])
    },
    {
      name: "sluice_fleet_holders_alive",
      help: "Processes drawing on the upstream's shared budget",
      type: "gauge",
      samples: usages.map((u) => ({ labels: labels(u), value: u.holdersAlive }))
    },
    {
      name: "sluice_fleet_rate_limited_total",
      help: "429s any process reported against the upstream's shared budget",
      type: "counter",
      samples: usages.map((u) => ({ labels: labels(u), value: u.rateLimitHits }))
    }
  ]
}
