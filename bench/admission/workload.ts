/**
 * The benchmark's workloads, items and theoretical bounds (the issue "LLM-aware admission…").
 */
import { lognormal, random } from "../../src/Simulator/Latency.js"
import { answerFor, fit } from "../../src/Simulator/Responder.js"
import type { SimulatorOptions } from "../../src/Simulator/Options.js"
import { promptTokens } from "../../src/Llm/TokenEstimate.js"
import type { ChatMessage } from "../../src/Llm/Llm.js"

export const MODEL = "gpt-4o-mini"
export const SYSTEM = "Summarise the item as JSON."
/** The `--max-tokens` every contender sends: well above the ~12-token answers, as users set it. */
export const MAX_TOKENS = 64
export const CONCURRENCY = 64
export const LATENCY_MS = 300
export const SIGMA = 0.5
export const ERROR_RATE = 0.01

export type Kind = "request" | "token" | "latency" | "request-seconds"

export interface Workload {
  readonly kind: Kind
  readonly title: string
  readonly sim: SimulatorOptions
  readonly rpm: number
  readonly tpm: number
  /** The efficiency sluice must reach. */
  readonly goal: number
}

const base = { latencyMs: LATENCY_MS, latencySigma: SIGMA, errorRate: ERROR_RATE, seed: 1 } as const

export const workloads: ReadonlyArray<Workload> = [
  {
    kind: "request",
    title: "request-bound: 6,000 RPM, 1,200,000 TPM (429s carry retry-after-ms)",
    sim: { ...base, rpm: 6_000, tpm: 1_200_000, retryAfter: "ms" },
    rpm: 6_000,
    tpm: 1_200_000,
    goal: 0.97
  },
  {
    kind: "token",
    title: "token-bound: 6,000 RPM, 600,000 TPM",
    sim: { ...base, rpm: 6_000, tpm: 600_000, retryAfter: "ms" },
    rpm: 6_000,
    tpm: 600_000,
    goal: 0.95
  },
  {
    kind: "latency",
    title: "latency-bound: 1,000,000 RPM, 1,000,000,000 TPM (limits far above need)",
    sim: { ...base, rpm: 1_000_000, tpm: 1_000_000_000, retryAfter: "ms" },
    rpm: 1_000_000,
    tpm: 1_000_000_000,
    goal: 0.95
  },
  {
    kind: "request-seconds",
    title: "request-bound, 429s carry only a whole-second retry-after (no retry-after-ms)",
    sim: { ...base, rpm: 6_000, tpm: 1_200_000, retryAfter: "seconds" },
    rpm: 6_000,
    tpm: 1_200_000,
    goal: 0.97
  }
]

const WORDS = (
  "order invoice shipment tracking customer refund delivery parcel warehouse address carrier label " +
  "payment account support ticket request reply urgent pending status update confirm cancel return " +
  "product quantity price discount receipt number express standard weekend monday friday thanks please"
).split(" ")

/** `n` deterministic texts of 380–420 characters. */
export const makeItems = (n: number): Array<string> => {
  const rand = random(42)
  const items: Array<string> = []
  for (let i = 0; i < n; i++) {
    const target = 380 + Math.floor(rand() * 41)
    let text = `Item ${i}:`
    while (text.length < target) text += ` ${WORDS[Math.floor(rand() * WORDS.length)]}`
    items.push(text.slice(0, target))
  }
  return items
}

export const messagesFor = (text: string): Array<ChatMessage> => [
  { role: "system", content: SYSTEM },
  { role: "user", content: text }
]

export interface Tokens {
  /** Σ prompt tokens, one successful call per item. */
  readonly prompt: number
  /** Σ completion tokens of those answers (the simulator's default responder, fitted to max_tokens). */
  readonly completion: number
  /** Σ prompt + max_tokens: what the upstream charges at admission before refunding the unused part. */
  readonly reserved: number
}

/** The tokens the simulator counts for one successful answer per item, computed as it does. */
export const tokensOf = (items: ReadonlyArray<string>): Tokens => {
  let prompt = 0
  let completion = 0
  for (const text of items) {
    const p = promptTokens(messagesFor(text))
    prompt += p
    completion += fit(answerFor(text), MAX_TOKENS).completionTokens
  }
  return { prompt, completion, reserved: prompt + items.length * MAX_TOKENS }
}

/** Mean of the lognormal with this median: median × e^{σ²/2}. */
export const meanLatencyMs = LATENCY_MS * Math.exp((SIGMA * SIGMA) / 2)

export interface Bound {
  readonly ms: number
  readonly formula: string
}

/**
 * The theoretical makespan. Every bound counts one successful call per item: the ~1% of calls the
 * simulator answers 500 must be retried, which costs any client about 1% more requests and prompt
 * tokens, so ≈0.99 is the best efficiency any contender can reach against these bounds.
 */
export const boundOf = (w: Workload, n: number, tokens: Tokens): Bound => {
  switch (w.kind) {
    case "request":
    case "request-seconds":
      return { ms: (n / w.rpm) * 60_000, formula: `N / RPM = ${n} / ${w.rpm} per min` }
    case "token": {
      const total = tokens.prompt + tokens.completion
      return {
        ms: (total / w.tpm) * 60_000,
        formula: `Σ(prompt + completion actually used) / TPM = ${total.toLocaleString("en")} / ${w.tpm.toLocaleString("en")} per min`
      }
    }
    case "latency":
      return {
        ms: (n * meanLatencyMs) / CONCURRENCY,
        formula:
          `N × mean latency / concurrency = ${n} × ${meanLatencyMs.toFixed(1)} ms / ${CONCURRENCY} ` +
          `(mean of the lognormal = ${LATENCY_MS} ms median × e^(σ²/2); with the median it would be ${((n * LATENCY_MS) / CONCURRENCY / 1000).toFixed(2)} s)`
      }
  }
}

/**
 * The makespan of a perfect client on the simulator's own seeded draws: `CONCURRENCY` slots, each
 * taking the next item the instant it frees, no overhead, a 500 retried at once in the same slot.
 * No limit binds (the latency-bound workload). The draws are taken in admission order, as the
 * simulator's handler takes them (fault first, then latency).
 */
export const idealLatencyMakespanMs = (n: number, seed = 1): number => {
  const latency = lognormal(random(seed), LATENCY_MS, SIGMA)
  const fault = random(seed ^ 0x9e3779b9)
  // Slots are few: a linear scan for the earliest is plenty.
  const free = new Array<number>(CONCURRENCY).fill(0)
  for (let i = 0; i < n; i++) {
    let k = 0
    for (let j = 1; j < CONCURRENCY; j++) if (free[j]! < free[k]!) k = j
    let t = free[k]!
    for (;;) {
      const faulted = fault() < ERROR_RATE
      t += latency()
      if (!faulted) break
    }
    free[k] = t
  }
  return Math.max(...free)
}
