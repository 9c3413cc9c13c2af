/**
 * One line for a failure that ends the CLI, with its causes: `SqlError: Failed to execute statement`
 * alone says nothing; `… : database is locked (SQLITE_BUSY)` says what to do. Libraries wrap the
 * error that matters in `cause` (SqlError → SqliteError, FiberFailure → …), so the line follows the
 * chain and keeps each message that adds something.
 *
 * @since 0.1.0
 */
import { Predicate } from "effect"

const firstLine = (text: string) => text.split("\n")[0]!.trim()

const describe = (error: unknown): string => {
  if (!Predicate.isObject(error)) return firstLine(String(error))
  const message = Predicate.hasProperty(error, "message") && typeof error.message === "string" ? error.message : ""
  const code = Predicate.hasProperty(error, "code") && typeof error.code === "string" ? error.code : undefined
  const text = firstLine(message.length > 0 ? message : String(error))
  return code !== undefined && !text.includes(code) ? `${text} (${code})` : text
}

const nameOf = (error: unknown): string | undefined => {
  if (!Predicate.isObject(error)) return undefined
  if (Predicate.hasProperty(error, "_tag") && typeof error._tag === "string") return error._tag
  return error instanceof Error && error.name !== "Error" ? error.name : undefined
}

/**
 * `error`'s message followed by those of its causes, at most `depth` deep, on one line; prefixed with
 * its tag or class name when `named`.
 *
 * @since 0.1.0
 */
export const failureText = (error: unknown, options: { readonly named?: boolean } = {}): string => {
  const parts: Array<string> = []
  let current: unknown = error
  for (let depth = 0; depth < 5 && current !== undefined && current !== null; depth++) {
    const text = describe(current)
    if (text.length > 0 && !parts.some((p) => p.includes(text))) parts.push(text)
    current = Predicate.hasProperty(current, "cause") ? current.cause : undefined
  }
  const name = options.named === true ? nameOf(error) : undefined
  const line = parts.join(": ")
  return name !== undefined && !line.startsWith(name) ? `${name}: ${line}` : line
}

/**
 * SQLite's words for a damaged file (a truncated copy, overwritten pages): `Failed to prepare
 * statement` says nothing of that, so a message naming one of these says the file is corrupt first.
 *
 * @since 0.1.0
 */
export const isCorruption = (text: string): boolean =>
  /SQLITE_CORRUPT|SQLITE_NOTADB|disk image is malformed|malformed database schema|file is not a database/.test(text)

/**
 * `what: text`, or, when `text` shows a damaged database, `file is corrupt (text): …`.
 *
 * @since 0.1.0
 */
export const storeFailure = (what: string, file: string, text: string): string =>
  isCorruption(text)
    ? `${file} is corrupt (${text}); restore it from a backup or a copy, or use another --db`
    : `${what} ${file}: ${text}`
