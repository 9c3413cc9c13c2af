/**
 * Keys of items that have no id of their own: where they were found (`line:3`, `item:3`).
 *
 * Positions live in their own namespace so that they never collide with ids: with bare numbers, a
 * malformed line 3 took the key "3", and a valid item whose id was 3 then failed as a duplicate.
 *
 * @since 0.1.0
 */

/**
 * The key of an id-less record found on line `line` of a file or a JSONL body.
 *
 * @since 0.1.0
 */
export const lineKey = (line: number): string => `line:${line}`

/**
 * The key of an id-less item at 1-based `position` of a JSON array.
 *
 * @since 0.1.0
 */
export const positionKey = (position: number): string => `item:${position}`

/**
 * The key that releases before 0.2 gave an id-less record (its bare line number), so a run recorded
 * by one of them is recognised when it is read again.
 *
 * @since 0.1.0
 */
export const legacyKey = (key: string): string | undefined => (/^line:\d+$/.test(key) ? key.slice(5) : undefined)
