/**
 * The fetch stage port: where items come from, and how a source learns an item is safely done.
 *
 * @since 0.1.0
 */
import { Context, Effect, type Stream } from "effect"
import type { StageError } from "../Domain/Errors.js"
import type { Item, SourceRecord } from "../Domain/Item.js"

/**
 * @since 0.1.0
 * @category tags
 */
export class Fetcher extends Context.Tag("sluice/Stages/Fetcher")<
  Fetcher,
  {
    /**
     * The source's records, in source order. A finite source ends; a polling source (a mailbox, a
     * directory) may run forever. A record that cannot be read is yielded as `Malformed`, never dropped.
     */
    readonly records: Stream.Stream<SourceRecord, StageError>
    /**
     * Called only after an item's outcome is durably stored (mark a mail read, delete a file …).
     * Called again for an item the source offers anew after a crash, so it must be idempotent.
     */
    readonly ack: (items: ReadonlyArray<Item>) => Effect.Effect<void, StageError>
    /**
     * True when the source's content changes between sessions (a mailbox, an API): a resumed run
     * reads it again, recording only new keys and acknowledging completed ones again. A file is read
     * to its end once, and a resumed run skips it.
     */
    readonly live?: boolean | undefined
  }
>() {}

/**
 * A source with nothing to acknowledge.
 *
 * @since 0.1.0
 */
export const noAck = (_items: ReadonlyArray<Item>): Effect.Effect<void, StageError> => Effect.void

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  records: Stream.Stream<SourceRecord, StageError>,
  ack = noAck,
  options: { readonly live?: boolean } = {}
): Fetcher["Type"] => Fetcher.of({ records, ack, live: options.live === true })
