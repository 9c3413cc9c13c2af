/**
 * The benchmark's workloads, items and theoretical bounds (the issue "LLM-aware admission…").
 */
import { lognormal, random } from "../../src/Simulator/Latency.js"
import { fit, paddedResponder } from "../../src/Simulator/Responder.js"
import type { SimulatorOptions } from "../../src/Simulator/Options.js"
import { type DialectName, presets } from "../../src/Simulator/Dialect.js"
import { promptTokens } from "../../src/Llm/TokenEstimate.js"
import type { ChatMessage } from "../../src/Llm/Llm.js"

export const MODEL = "gpt-4o-mini"
export const SYSTEM = "Summarise the item as JSON."
/** The `max_tokens` the hand-tuned peers send: above the longest answer (40 tokens). sluice learns its own. */
export const MAX_TOKENS = 64
export const CONCURRENCY = 64
export const LATENCY_MS = 300
export const SIGMA = 0.5
export const ERROR_RATE = 0.01

export type Kind = "request" | "token" | "latency"

/** The dialects every workload runs on (see `src/Simulator/Dialect.ts`). */
export const DIALECTS: ReadonlyArray<DialectName> = ["openai", "compat", "anthropic", "azure", "local"]

/** Completion tokens of an answer: 0.75× to 1.25× this, fixed per item (`paddedResponder`). */
export const ANSWER_TOKENS = 32

export interface Workload {
  readonly kind: Kind
  readonly dialect: DialectName
  readonly title: string
  readonly sim: SimulatorOptions
  /** The limits configured for sluice (and the rate the peers are tuned to). */
  readonly rpm: number
  readonly tpm: number
  /** Output tokens per minute where the dialect limits them apart. */
  readonly otpm: number | undefined
  /** The efficiency sluice must reach. */
  readonly goal: number
  /** The most 429s sluice may earn; undefined: no goal. */
  readonly max429: number | undefined
}

const base = {
  latencyMs: LATENCY_MS,
  latencySigma: SIGMA,
  errorRate: ERROR_RATE,
  seed: 1,
  answerTokens: ANSWER_TOKENS
} as const

/**
 * Sized for the issue's workload at N = 3,000 (the default): each bound is about 30 s, so start-up and the
 * last answers' latency (fixed costs of ~0.5 s for any client) weigh about 2%; the whole bench takes about
 * 40 minutes. `--n 1000` gives a quicker look in which those fixed costs weigh three times as much. The
 * token-bound RPM is far above need (the concurrency alone caps the rate at about 64 / 0.34 s = 188/s), so
 * tokens bind.
 */
const shapes: ReadonlyArray<Omit<Workload, "dialect" | "title" | "sim"> & { readonly what: string }> = [
  {
    kind: "request",
    what: "request-bound: 6,000 RPM, 1,200,000 TPM",
    rpm: 6_000,
    tpm: 1_200_000,
    otpm: undefined,
    goal: 0.97,
    max429: 3
  },
  {
    kind: "token",
    what: "token-bound: 60,000 RPM, 850,000 TPM",
    rpm: 60_000,
    tpm: 850_000,
    otpm: undefined,
    goal: 0.95,
    max429: 3
  },
  {
    kind: "latency",
    what: "latency-bound: 1,000,000 RPM, 1,000,000,000 TPM",
    rpm: 1_000_000,
    tpm: 1_000_000_000,
    otpm: undefined,
    goal: 0.94,
    max429: undefined
  }
]

export const workloadsFor = (dialect: DialectName): ReadonlyArray<Workload> =>
  shapes.map(({ what, ...shape }) => {
    // Anthropic limits input and output apart: the TPM is its input limit; its output limit is a fifth
    // of it (its tiers' ratio), which makes output bind on the token-bound workload.
    const otpm = presets[dialect].splitTokens ? shape.tpm / 5 : undefined
    return {
      ...shape,
      dialect,
      otpm,
      title: `${dialect}: ${what}${otpm !== undefined ? ` (input), ${otpm.toLocaleString("en")} output TPM` : ""}`,
      sim: { ...base, dialect, rpm: shape.rpm, tpm: shape.tpm, ...(otpm !== undefined ? { otpm } : {}) }
    }
  })

/** Discovery: no configured limits, no headers (the local dialect), 6,000 RPM. */
export const discovery: Workload = {
  kind: "request",
  dialect: "local",
  title: "discovery: local dialect (no rate headers), 6,000 RPM, no limits configured",
  sim: { ...base, dialect: "local", rpm: 6_000, tpm: 0 },
  rpm: 6_000,
  tpm: 0,
  otpm: undefined,
  goal: 0.9,
  max429: undefined
}

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
  /** Σ completion tokens of those answers (the bench's padded responder, fitted to max_tokens). */
  readonly completion: number
  /** The longest answer, in tokens. */
  readonly longest: number
  /** Σ prompt + max_tokens: what the upstream charges at admission before refunding the unused part. */
  readonly reserved: number
}

/** The tokens the simulator counts for one successful answer per item, computed as it does. */
export const tokensOf = (items: ReadonlyArray<string>): Tokens => {
  let prompt = 0
  let completion = 0
  let longest = 0
  const respond = paddedResponder(ANSWER_TOKENS)
  for (const text of items) {
    const messages = messagesFor(text)
    prompt += promptTokens(messages)
    const c = fit(respond({ model: MODEL, messages, maxTokens: MAX_TOKENS }), MAX_TOKENS).completionTokens
    completion += c
    longest = Math.max(longest, c)
  }
  return { prompt, completion, longest, reserved: prompt + items.length * MAX_TOKENS }
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
      return { ms: (n / w.rpm) * 60_000, formula: `N / RPM = ${n} / ${w.rpm} per min` }
    case "token": {
      const total = tokens.prompt + tokens.completion
      if (w.otpm !== undefined) {
        // Input and output limited apart: the tighter of the two binds.
        const input = (tokens.prompt / w.tpm) * 60_000
        const output = (tokens.completion / w.otpm) * 60_000
        return {
          ms: Math.max(input, output),
          formula: `max(Σprompt / ITPM, Σcompletion / OTPM) = max(${tokens.prompt.toLocaleString("en")} / ${w.tpm.toLocaleString("en")}, ${tokens.completion.toLocaleString("en")} / ${w.otpm.toLocaleString("en")}) per min`
        }
      }
      if (!presets[w.dialect].refund) {
        // An upstream that keeps the allowance charges prompt + max_tokens, never the answer: no client
        // that does not know each answer's length beforehand can pay less than prompt + the longest
        // answer on every call (a client that sent each answer's exact length would need to foresee it).
        const kept = tokens.prompt + n * tokens.longest
        return {
          ms: (kept / w.tpm) * 60_000,
          formula: `Σ(prompt + longest answer) / TPM (it keeps the allowance) = ${kept.toLocaleString("en")} / ${w.tpm.toLocaleString("en")} per min`
        }
      }
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
