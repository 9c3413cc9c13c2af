/**
 * The mailbox URL of `sluice serve --imap`: parsed and printed without loading the IMAP client, so
 * checking the command line costs nothing.
 *
 * @since 0.1.0
 */
import { Either, type Redacted } from "effect"
import type * as Imap from "../Sources/Imap.js"

/**
 * `imap://user@host:port/Mailbox` (plain, STARTTLS when the server offers it) or `imaps://…` (TLS); the
 * password never goes in the URL, it comes from `IMAP_PASSWORD`. The error is a sentence for the user.
 *
 * @since 0.1.0
 */
export const parseUrl = (
  text: string,
  password: Redacted.Redacted<string>
): Either.Either<Imap.ImapOptions, string> => {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return Either.left(`--imap ${text} is not a URL (e.g. imap://user@127.0.0.1:143/INBOX)`)
  }
  if (url.protocol !== "imap:" && url.protocol !== "imaps:") {
    return Either.left(`--imap must start with imap:// or imaps://, not ${url.protocol}//`)
  }
  if (url.password !== "") {
    return Either.left("--imap must not carry a password (it would show in ps and logs): set IMAP_PASSWORD")
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1")
  if (host === "") return Either.left(`--imap ${text} needs a host: ${url.protocol}//user@host:port/INBOX`)
  const user = decodeURIComponent(url.username)
  if (user === "") return Either.left(`--imap needs a user: ${url.protocol}//user@${url.host}/INBOX`)
  const mailbox = decodeURIComponent(url.pathname.replace(/^\/+|\/+$/g, "")) || "INBOX"
  const secure = url.protocol === "imaps:"
  return Either.right({
    host,
    port: url.port === "" ? (secure ? 993 : 143) : Number(url.port),
    secure,
    user,
    password,
    mailbox
  })
}

/**
 * The mailbox as a URL without the password, for logs and the run's `source`.
 *
 * @since 0.1.0
 */
export const describe = (imap: Imap.ImapOptions): string => {
  const secure = imap.secure ?? (imap.port === undefined || imap.port === 993)
  const host = imap.host.includes(":") ? `[${imap.host}]` : imap.host
  return `${secure ? "imaps" : "imap"}://${encodeURIComponent(imap.user)}@${host}:${imap.port ?? (secure ? 993 : 143)}/${encodeURIComponent(imap.mailbox ?? "INBOX")}`
}
