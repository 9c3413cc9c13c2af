/**
 * How long a run has left, and what bounds it: the request limit, the token limit, or neither (then
 * it is latency × concurrency that sets the pace). Pure: the progress view feeds it admission's
 * state and what it has observed, and tests feed it numbers.
 *
 * The estimate takes the slower of two rates: the rate observed over a recent window, and the rate
 * the tightest known limit allows for the remaining items' estimated cost (requests and tokens per
 * item, as observed so far). A run going at 80 % or more of a limit's rate, or one whose calls are
 * queueing in admission, is bound by that limit; anything slower is bound by latency.
 *
 * @since 0.1.0
 */

/**
 * What sets the pace.
 *
 * @since 0.1.0
 */
export type Binding = "rpm" | "tpm" | "latency"

/**
 * @since 0.1.0
 * @category models
 */
export interface EtaInput {
  /** Items not finished yet (pending and processing). */
  readonly remaining: number
  /** Items finished within the observation window, and the window's length. */
  readonly finished: number
  readonly elapsedMs: number
  /** Upstream requests per finished item, as observed; 1 when unknown. */
  readonly requestsPerItem?: number | undefined
  /** Upstream tokens (prompt and completion) per finished item, as observed; unknown means tokens do not bound. */
  readonly tokensPerItem?: number | undefined
  /** The request limit in force, per minute (admission's state); undefined or 0 when unknown. */
  readonly rpm?: number | undefined
  /** The token limit in force, per minute; undefined or 0 when unknown. */
  readonly tpm?: number | undefined
  /** Calls waiting in admission now, and the bucket that last made one wait. */
  readonly waiting?: number | undefined
  readonly waitingFor?: "rpm" | "tpm" | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Eta {
  /** Milliseconds left; undefined until there is anything to go on. */
  readonly etaMs: number | undefined
  readonly boundBy: Binding | undefined
  /** Items per second observed over the window. */
  readonly observedPerSecond: number | undefined
  /** Items per second each limit allows at the observed cost per item. */
  readonly rpmPerSecond: number | undefined
  readonly tpmPerSecond: number | undefined
}

/**
 * A run observed at this share of a limit's rate (or above) is bound by that limit.
 *
 * @since 0.1.0
 */
export const NEAR_LIMIT = 0.8

const positive = (n: number | undefined): n is number => n !== undefined && Number.isFinite(n) && n > 0

/**
 * @since 0.1.0
 */
export const estimate = (input: EtaInput): Eta => {
  const remaining = Math.max(0, input.remaining)
  const observed = input.finished > 0 && input.elapsedMs > 0 ? (input.finished * 1000) / input.elapsedMs : undefined
  const requestsPerItem = positive(input.requestsPerItem) ? input.requestsPerItem : 1
  const rpmPerSecond = positive(input.rpm) ? input.rpm / 60 / requestsPerItem : undefined
  const tpmPerSecond =
    positive(input.tpm) && positive(input.tokensPerItem) ? input.tpm / 60 / input.tokensPerItem : undefined
  const limitRate = (b: "rpm" | "tpm") => (b === "rpm" ? rpmPerSecond : tpmPerSecond)

  // The tightest known limit; a tie goes to requests, the simpler one to reason about.
  const tightest: "rpm" | "tpm" | undefined =
    rpmPerSecond === undefined
      ? tpmPerSecond === undefined
        ? undefined
        : "tpm"
      : tpmPerSecond === undefined || rpmPerSecond <= tpmPerSecond
        ? "rpm"
        : "tpm"

  const result = (boundBy: Binding | undefined, perSecond: number | undefined): Eta => ({
    etaMs: remaining === 0 ? 0 : perSecond === undefined || perSecond <= 0 ? undefined : (remaining / perSecond) * 1000,
    boundBy,
    observedPerSecond: observed,
    rpmPerSecond,
    tpmPerSecond
  })

  if (observed === undefined)
    return tightest === undefined ? result(undefined, undefined) : result(tightest, limitRate(tightest))

  // Calls queueing in admission are direct evidence of which limit binds, even where the cost per
  // item is not known well enough to compute it.
  const queued = positive(input.waiting) && input.waitingFor !== undefined ? input.waitingFor : undefined
  const computed = tightest !== undefined && observed >= NEAR_LIMIT * limitRate(tightest)! ? tightest : undefined
  const bound = queued ?? computed
  if (bound === undefined) return result("latency", observed)
  // A burst at the start runs above the limit (the buckets start full); the limit's rate is the truth.
  const cap = limitRate(bound)
  return result(bound, cap === undefined ? observed : Math.min(observed, cap))
}

/**
 * "~42 min", "~8 s", "~2 h 05 min": rounded up, so it does not promise too much.
 *
 * @since 0.1.0
 */
export const formatDuration = (ms: number): string => {
  const s = Math.ceil(ms / 1000)
  if (s < 60) return `~${s} s`
  const min = Math.ceil(s / 60)
  if (min < 60) return `~${min} min`
  return `~${Math.floor(min / 60)} h ${String(min % 60).padStart(2, "0")} min`
}

/**
 * The ETA as the progress line shows it: "bound by TPM: ~42 min", "bound by latency: ~8 s", "eta ~8 s".
 *
 * @since 0.1.0
 */
export const format = (eta: Eta): string | undefined => {
  if (eta.etaMs === undefined) return undefined
  const time = formatDuration(eta.etaMs)
  return eta.boundBy === undefined
    ? `eta ${time}`
    : `bound by ${eta.boundBy === "latency" ? "latency" : eta.boundBy.toUpperCase()}: ${time}`
}

/**
 * A sample of how many items were finished at a moment, for a windowed rate.
 *
 * @since 0.1.0
 */
export interface Sample {
  readonly atMs: number
  readonly finished: number
}

/**
 * Adds a sample and drops those older than `windowMs`, keeping the newest older one as the window's
 * start, so the window spans at least `windowMs` once that much has been seen.
 *
 * @since 0.1.0
 */
export const addSample = (samples: ReadonlyArray<Sample>, sample: Sample, windowMs: number): Array<Sample> => {
  const all = [...samples, sample]
  let start = 0
  while (start + 1 < all.length && all[start + 1]!.atMs <= sample.atMs - windowMs) start++
  return all.slice(start)
}

/**
 * Items finished and milliseconds elapsed across the samples' window.
 *
 * @since 0.1.0
 */
export const windowed = (samples: ReadonlyArray<Sample>): { readonly finished: number; readonly elapsedMs: number } => {
  const first = samples[0]
  const last = samples[samples.length - 1]
  return first === undefined || last === undefined
    ? { finished: 0, elapsedMs: 0 }
    : { finished: last.finished - first.finished, elapsedMs: last.atMs - first.atMs }
}
