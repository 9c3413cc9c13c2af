/**
 * The leases a worker knows it holds, each with its token (the item's `deliveries` at the claim). The
 * heartbeat renews only these: a lease taken by a claim whose answer never arrived (the connection
 * dropped after the database ran it) is not renewed, so it expires and its item goes to someone else
 * instead of staying leased to a worker that does not know it has it.
 *
 * @since 0.1.0
 */
import type { Item } from "../Domain/Item.js"
import type { Lease } from "../Store/Store.js"

const keyOf = (run: string, seq: number) => `${seq}\u0000${run}`

/**
 * @since 0.1.0
 */
export interface Leases {
  readonly add: (items: ReadonlyArray<Item>) => void
  /** Forgets the leases of items that were committed or handed back. */
  readonly drop: (items: ReadonlyArray<{ readonly item: Item }>) => void
  readonly held: () => ReadonlyArray<Lease>
}

/**
 * An empty set. Called from one worker's fibers, which run on one thread: plain mutation is safe.
 *
 * @since 0.1.0
 */
export const make = (): Leases => {
  const held = new Map<string, Lease>()
  return {
    add: (items) => {
      for (const i of items) held.set(keyOf(i.run, i.seq), { run: i.run, seq: i.seq, lease: i.deliveries })
    },
    drop: (finished) => {
      for (const f of finished) held.delete(keyOf(f.item.run, f.item.seq))
    },
    held: () => Array.from(held.values())
  }
}
