/**
 * Whether a PostgreSQL failure says the database could not be reached (a restart, a network cut, a
 * server not yet accepting connections) rather than that a statement was wrong. Such a failure is worth
 * waiting out: the store reports it as `Unavailable`, and a worker then stops claiming and reconnects
 * with backoff (`Reconnect.ts`) instead of exiting.
 *
 * @since 0.1.0
 */
import type { SqlError } from "@effect/sql"

/** Socket errors of Node: the server is down, restarting or unreachable. */
const SOCKET_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "ENETUNREACH",
  "ENETDOWN",
  "ENOTFOUND",
  "EAI_AGAIN"
])

/**
 * SQLSTATEs of a server going away or not there yet: class 08 (connection exception), 57P01–57P03
 * (shut down by an administrator or a crash, cannot connect now) and 53300 (too many connections).
 */
const isLostState = (code: string) => code.startsWith("08") || /^57P0[1-3]$/.test(code) || code === "53300"

/** What `pg` says, without a code, when a connection dies under it or cannot be opened in time. */
const LOST_MESSAGES = [
  "Connection terminated",
  "connection timeout",
  "timeout exceeded when trying to connect",
  "is not queryable",
  "Connection error"
]

const lost = (cause: unknown, depth = 0): boolean => {
  if (depth > 4 || cause === null || typeof cause !== "object") return false
  if (cause instanceof AggregateError) return cause.errors.some((e) => lost(e, depth + 1))
  const code = (cause as { code?: unknown }).code
  if (typeof code === "string" && (SOCKET_CODES.has(code) || isLostState(code))) return true
  const message = (cause as { message?: unknown }).message
  if (typeof message === "string" && LOST_MESSAGES.some((m) => message.includes(m))) return true
  return lost((cause as { cause?: unknown }).cause, depth + 1)
}

/**
 * True when `error` means the database was out of reach, not that the statement failed on it.
 *
 * @since 0.1.0
 */
export const isConnectionLoss = (error: SqlError.SqlError): boolean =>
  error.message.startsWith("Failed to acquire connection") || error.message === "Connection error" || lost(error.cause)
