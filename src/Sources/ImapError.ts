/**
 * An imapflow failure as a stage error: what retrying can fix (`Transient`) and what it cannot
 * (`Invalid`: a refused login, a missing mailbox, a certificate not accepted).
 *
 * @since 0.3.0
 */
import { Invalid, Transient } from "../Domain/Errors.js"

const MAX_MESSAGE = 300

// Certificate trouble is configuration (a wrong host name, a private CA): retrying will not fix it.
const CERTIFICATE_CODES = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "ERR_TLS_CERT_ALTNAME_INVALID"
])
const TIMEOUT_CODES = new Set(["CONNECT_TIMEOUT", "GREETING_TIMEOUT", "UPGRADE_TIMEOUT", "ETIMEOUT", "ETIMEDOUT"])

interface ImapFailure {
  readonly message?: unknown
  readonly code?: unknown
  readonly authenticationFailed?: unknown
  readonly serverResponseCode?: unknown
  readonly responseStatus?: unknown
  readonly responseText?: unknown
  readonly mailboxMissing?: unknown
  readonly throttleReset?: unknown
}

const str = (u: unknown): string | undefined => (typeof u === "string" && u.length > 0 ? u : undefined)

/**
 * Maps an imapflow failure to a stage error. Only the message, code and server response text are
 * read: imapflow also attaches the command as sent, which for LOGIN carries the password.
 *
 * @since 0.3.0
 */
export const toError =
  (where: string, action: string, scrub: (s: string) => string) =>
  (cause: unknown): Transient | Invalid => {
    const e: ImapFailure = typeof cause === "object" && cause !== null ? (cause as ImapFailure) : {}
    const code = str(e.code)
    const responseCode = str(e.serverResponseCode)
    const detail = str(e.responseText) ?? str(e.message) ?? code ?? String(cause)
    const line = (text: string) => {
      const one = scrub(`IMAP ${where}: ${action}: ${text}`).replace(/\s+/g, " ").trim()
      return one.length > MAX_MESSAGE ? `${one.slice(0, MAX_MESSAGE)}…` : one
    }
    // Dovecot says [UNAVAILABLE] "Temporary authentication failure" when its auth process is unreachable.
    if (responseCode === "UNAVAILABLE") return new Transient({ reason: "Connection", message: line(detail) })
    if (
      e.authenticationFailed === true ||
      responseCode === "AUTHENTICATIONFAILED" ||
      responseCode === "AUTHORIZATIONFAILED"
    ) {
      return new Invalid({
        reason: "Input",
        message: line(`login refused (${responseCode ?? "authentication failed"})`)
      })
    }
    if (e.mailboxMissing === true || responseCode === "NONEXISTENT") {
      return new Invalid({ reason: "Input", message: line(`no such mailbox (${detail})`) })
    }
    if (code !== undefined && CERTIFICATE_CODES.has(code)) {
      return new Invalid({ reason: "Input", message: line(`TLS certificate not accepted (${code})`) })
    }
    if (code !== undefined && TIMEOUT_CODES.has(code))
      return new Transient({ reason: "Timeout", message: line(detail) })
    if (code === "ETHROTTLE") {
      const wait = typeof e.throttleReset === "number" ? e.throttleReset : undefined
      return new Transient({
        reason: "Status",
        ...(wait !== undefined ? { retryAfterMs: wait } : {}),
        message: line(detail)
      })
    }
    // A command the server rejected as malformed is our bug, not the network's.
    if (e.responseStatus === "BAD") return new Invalid({ reason: "Status", message: line(detail) })
    if (e.responseStatus === "NO") return new Transient({ reason: "Status", message: line(detail) })
    return new Transient({ reason: "Connection", message: line(detail) })
  }
