/**
 * `sluice retry [--db f] [--run id] --failed`: send failed items back to pending.
 *
 * @since 0.1.0
 */
import { Command, Options } from "@effect/cli"
import { Effect, Option } from "effect"
import { Store } from "../../Store/Store.js"
import { failure, usage } from "../CliError.js"
import * as Compose from "../Compose.js"
import * as ExistingStore from "../ExistingStore.js"
import * as Flags from "../Flags.js"

/** @since 0.1.0 */
export const command = Command.make(
  "retry",
  {
    db: Flags.db,
    run: Flags.runId,
    failed: Options.boolean("failed").pipe(Options.withDescription("Re-queue the failed items (required)"))
  },
  (o) =>
    Effect.gen(function* () {
      if (!o.failed) return yield* usage("sluice: say what to retry: --failed")
      const store = yield* Store
      const run = Option.getOrUndefined(o.run)
      const n = yield* store.retryFailed(run)
      // What stays failed: lines that could not be read have nothing to process until the input is read again.
      let unreadable = 0
      for (const id of run === undefined ? (yield* store.listRuns).map((r) => r.id) : [run]) {
        for (const t of yield* store.failureTags(id)) unreadable += t.count - t.retryable
      }
      yield* Effect.sync(() =>
        process.stderr.write(
          `sluice: re-queued ${n} failed item(s)${run === undefined ? "" : ` of run ${run}`}; process them with \`sluice worker --db ${Compose.describeDb(o.db)}\` or by running the same \`sluice run\` again\n` +
            (unreadable === 0
              ? ""
              : `sluice: ${unreadable} line(s) that could not be read stay failed: retry cannot re-queue them, as there is nothing to process until the input is read again. Fix them in the input and run the same \`sluice run\` again: it reads a changed input again and records the fixed lines in their place\n`)
        )
      )
    }).pipe(
      Effect.provide(ExistingStore.layer(o.db)),
      Effect.catchTag("StoreError", (e) => Effect.fail(failure(`sluice: ${e.message}`)))
    )
).pipe(Command.withDescription("Re-queue failed items (lines that could not be read stay failed)"))
