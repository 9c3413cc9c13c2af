/**
 * An upstream's base URL as it may be shown or stored: without credentials or query.
 *
 * `http://user:PASSWORD@host/v1` used to reach stderr, the results and the database through the
 * fetch error that such a URL causes. sluice refuses a base URL with credentials at start (the key
 * belongs in `OPENAI_API_KEY`, sent as a Bearer token), and every URL it shows is redacted.
 *
 * @since 0.1.0
 */

/**
 * The URL without user, password or query (`?api-version=…` may carry a key too).
 *
 * @since 0.1.0
 */
export const redact = (url: string): string => {
  try {
    const u = new URL(url)
    const hidden = u.username !== "" || u.password !== ""
    u.username = ""
    u.password = ""
    const query = u.search !== ""
    u.search = ""
    const text = u.href
    return hidden ? text.replace("://", "://***@") + (query ? "?…" : "") : text + (query ? "?…" : "")
  } catch {
    return scrub(url)
  }
}

/**
 * Every URL in a text redacted: its credentials and its query.
 *
 * @since 0.1.0
 */
export const scrub = (text: string): string =>
  text
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@]*@/gi, "$1***@")
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/[^\s?#]*)\?[^\s#]*/gi, "$1?…")

/**
 * Why a base URL cannot be used, or undefined when it can: not a URL, not http(s), or carrying
 * credentials.
 *
 * @since 0.1.0
 */
export const problem = (url: string): string | undefined => {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    return `--base-url ${scrub(url)} is not a URL`
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") return `--base-url ${redact(url)} is not http(s)`
  if (u.username !== "" || u.password !== "") {
    return `--base-url ${redact(url)} carries credentials; put the API key in OPENAI_API_KEY instead`
  }
  return undefined
}
