/**
 * The run metrics of one group commit, per run, and the process-wide figures they also carry: the
 * time spent waiting for admission and the circuit breaker's trips, read from the governors when the
 * stages run under them.
 *
 * @since 0.1.0
 */
import { Effect, Option } from "effect"
import type { RunMetrics } from "../../Domain/Run.js"
import { Admission } from "../../Governor/Admission.js"
import { CircuitBreaker } from "../../Governor/CircuitBreaker.js"
import type { CommittedItem } from "../Events.js"
import type { Finished } from "./Finished.js"

/** @since 0.1.0 */
export type Deltas = Map<string, Partial<Record<keyof RunMetrics, number>>>

const add = (m: Partial<Record<keyof RunMetrics, number>>, k: keyof RunMetrics, v: number) => {
  if (v !== 0) m[k] = (m[k] ?? 0) + v
}

/** Adds `from` into `into`, run by run. */
export const merge = (into: Deltas, from: Deltas): void => {
  for (const [run, m] of from) {
    const acc = into.get(run) ?? {}
    for (const [k, v] of Object.entries(m) as Array<[keyof RunMetrics, number]>) acc[k] = (acc[k] ?? 0) + v
    into.set(run, acc)
  }
}

/**
 * Per-run deltas of a commit's stored outcomes and releases. The process-wide figures go to the run
 * with most completed items here.
 */
export const perRun = (
  items: ReadonlyArray<CommittedItem>,
  releases: ReadonlyArray<Extract<Finished, { _tag: "Release" }>>,
  global: { readonly admissionWaitMs: number; readonly circuitTrips: number }
): Deltas => {
  const out: Deltas = new Map()
  const completed = new Map<string, number>()
  const entry = (run: string) => {
    let e = out.get(run)
    if (e === undefined) out.set(run, (e = {}))
    return e
  }
  for (const c of items) {
    const e = entry(c.item.run)
    if (!c.written) continue // our lease was lost; whoever holds it now will report it
    if (c.completion.outcome._tag === "Completed") completed.set(c.item.run, (completed.get(c.item.run) ?? 0) + 1)
    add(e, "itemMs", c.stats.ms)
    add(e, "itemsTimed", 1)
    add(e, "retries", c.stats.retries)
    add(e, "rateLimitHits", c.stats.rateLimitHits)
    add(e, "admissionWaitMs", c.stats.pausedMs)
    if (c.usage !== undefined) {
      add(e, "tokensIn", c.usage.tokensIn)
      add(e, "tokensOut", c.usage.tokensOut)
      add(e, "costUsd", c.usage.costUsd)
      add(e, "cacheHits", c.usage.cacheHits)
      add(e, "cacheMisses", c.usage.cacheMisses)
    }
  }
  for (const r of releases) {
    const e = entry(r.item.run)
    add(e, "retries", r.stats.retries)
    add(e, "rateLimitHits", r.stats.rateLimitHits)
  }
  let busiest: string | undefined
  for (const run of out.keys())
    if (busiest === undefined || (completed.get(run) ?? 0) > (completed.get(busiest) ?? 0)) busiest = run
  if (busiest !== undefined) {
    add(out.get(busiest)!, "admissionWaitMs", global.admissionWaitMs)
    add(out.get(busiest)!, "circuitTrips", global.circuitTrips)
  }
  return out
}

/**
 * Reads the governors' running totals and returns what grew since the last read. When the stages
 * are not governed (no Admission or CircuitBreaker in context) both stay 0.
 */
export const governorDeltas = Effect.gen(function* () {
  const admission = yield* Effect.serviceOption(Admission)
  const breaker = yield* Effect.serviceOption(CircuitBreaker)
  const waited = Option.match(admission, {
    onNone: () => Effect.succeed(0),
    onSome: (a) => Effect.map(a.state, (s) => s.totalWaitMs)
  })
  const trips = Option.match(breaker, { onNone: () => Effect.succeed(0), onSome: (b) => b.trips })
  let lastWaited = yield* waited
  let lastTrips = yield* trips
  return Effect.gen(function* () {
    const w = yield* waited
    const t = yield* trips
    const delta = { admissionWaitMs: w - lastWaited, circuitTrips: t - lastTrips }
    lastWaited = w
    lastTrips = t
    return delta
  })
})
