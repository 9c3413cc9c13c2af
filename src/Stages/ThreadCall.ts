/**
 * The thread pool's wire: one call of the function, its result and its failure, as Schemas decoded at
 * the thread boundary; and how a thrown value becomes a typed stage error (on either side).
 *
 * @since 0.3.0
 */
import { WorkerError } from "@effect/platform/WorkerError"
import { Schema } from "effect"
import { Invalid, Transient } from "../Domain/Errors.js"

// ---- the wire: one request, its result, its failure ---------------------------------------------

/**
 * What a thrown error becomes on its way out of the thread: its name, message, code and whether it
 * is worth another attempt, with where and when the call ran.
 *
 * @since 0.1.0
 * @category errors
 */
export class ThreadFailure extends Schema.TaggedError<ThreadFailure>()("ThreadFailure", {
  errorName: Schema.String,
  message: Schema.String,
  code: Schema.optional(Schema.String),
  transient: Schema.Boolean,
  threadId: Schema.Number,
  startedAt: Schema.Number,
  finishedAt: Schema.Number
}) {}

/** @since 0.3.0 */
export const Returned = Schema.Struct({
  output: Schema.Unknown,
  threadId: Schema.Number,
  startedAt: Schema.Number,
  finishedAt: Schema.Number
})

/**
 * One call of the function, as sent to a thread. The input must be structured-cloneable.
 *
 * @since 0.1.0
 * @category models
 */
export class Call extends Schema.TaggedRequest<Call>()("Call", {
  // `WorkerError` too: the serialized pool decodes every failure of a call with this schema,
  // including its own (a thread that died, an input that could not be sent), which would otherwise
  // all turn into a `ParseError`.
  failure: Schema.Union(ThreadFailure, WorkerError),
  success: Returned,
  payload: { input: Schema.Unknown }
}) {}

/**
 * The pool could not start: a thread failed to load the module, exited before it was ready, or did
 * not answer within `startTimeout`.
 *
 * @since 0.1.0
 * @category errors
 */
export class ThreadPoolError extends Schema.TaggedError<ThreadPoolError>()("ThreadPoolError", {
  reason: Schema.Literal("Start", "Timeout"),
  module: Schema.String,
  message: Schema.String
}) {}

// ---- errors: thrown → typed ---------------------------------------------------------------------

/** Node's codes for a connection that failed or dropped: worth another attempt. */
const TRANSIENT_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT"
])

/**
 * A thrown value, described.
 *
 * @since 0.1.0
 * @category models
 */
export interface Described {
  readonly errorName: string
  readonly message: string
  readonly code?: string | undefined
  readonly transient: boolean
}

/**
 * How a thrown value is described: its name, message and code, and whether it says it is transient
 * (`transient: true`, or a Node network code).
 *
 * @since 0.1.0
 */
export const describe = (thrown: unknown): Described => {
  if (typeof thrown === "object" && thrown !== null) {
    const e = thrown as { name?: unknown; message?: unknown; code?: unknown; transient?: unknown }
    const errorName = typeof e.name === "string" && e.name.length > 0 ? e.name : "Error"
    const message = typeof e.message === "string" ? e.message : String(thrown)
    const code = typeof e.code === "string" ? e.code : undefined
    const transient = e.transient === true || (code !== undefined && TRANSIENT_CODES.has(code))
    return { errorName, message, code, transient }
  }
  return { errorName: "Error", message: String(thrown), transient: false }
}

/**
 * The stage error a thrown value stands for: `Transient` when it says so, `Invalid` otherwise. The
 * pool uses it for every call; a sequential path can use it too, to report failures the same way.
 *
 * @since 0.1.0
 */
export const toStageError = (d: Described): Transient | Invalid => {
  const message = d.errorName === "Error" ? d.message : `${d.errorName}: ${d.message}`
  if (!d.transient) return new Invalid({ reason: "Input", message })
  const timeout = d.code === "ETIMEDOUT" || d.code === "UND_ERR_CONNECT_TIMEOUT" || d.errorName === "TimeoutError"
  return new Transient({ reason: timeout ? "Timeout" : "Connection", message })
}

/**
 * `toStageError(describe(thrown))`.
 *
 * @since 0.1.0
 */
export const errorOf = (thrown: unknown): Transient | Invalid => toStageError(describe(thrown))
