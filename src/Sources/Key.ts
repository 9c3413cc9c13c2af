/**
 * An item's key: its `id` field when it has one, else where it was found (`line:3`, `item:3`: see
 * `Domain/ItemKey.ts`).
 *
 * @since 0.1.0
 */
export { lineKey, positionKey } from "../Domain/ItemKey.js"

/**
 * The `id` field of an object as a key, or `fallback` when it has none.
 *
 * @since 0.1.0
 */
export const keyOf = (payload: unknown, fallback: string): string => {
  if (typeof payload === "object" && payload !== null && !Array.isArray(payload)) {
    const id = (payload as Record<string, unknown>)["id"]
    if (typeof id === "string" && id.length > 0) return id
    if (typeof id === "number" && Number.isFinite(id)) return String(id)
  }
  return fallback
}
