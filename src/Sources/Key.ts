/**
 * An item's key: its `id` field when it has one, else its line number.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export const keyOf = (payload: unknown, line: number): string => {
  if (typeof payload === "object" && payload !== null && !Array.isArray(payload)) {
    const id = (payload as Record<string, unknown>)["id"]
    if (typeof id === "string" && id.length > 0) return id
    if (typeof id === "number" && Number.isFinite(id)) return String(id)
  }
  return String(line)
}
