/**
 * `sluice export [--db f] --run id --out f`: a run's finished items as ordered JSONL.
 *
 * @since 0.1.0
 */
import { Command, Options } from "@effect/cli"
import { Effect, Option } from "effect"
import * as OrderedOutput from "../../Engine/OrderedOutput.js"
import { Store } from "../../Store/Store.js"
import { failure } from "../CliError.js"
import * as Compose from "../Compose.js"
import * as ExistingStore from "../ExistingStore.js"
import * as Flags from "../Flags.js"
import * as OutputPath from "../OutputPath.js"
import * as Setting from "../Setting.js"

/** @since 0.1.0 */
export const command = Command.make(
  "export",
  {
    db: Flags.db,
    run: Options.text("run").pipe(Options.withDescription("The run to export")),
    out: Options.text("out").pipe(Options.withDescription("The JSONL file to write")),
    status: Options.choice("status", ["completed", "skipped", "failed"]).pipe(
      Options.optional,
      Options.withDescription(Setting.describe("Only items with this status", { default: "every status" }))
    )
  },
  (o) =>
    Effect.gen(function* () {
      yield* OutputPath.check(o.out, { db: o.db })
      const store = yield* Store
      if (Option.isNone(yield* store.getRun(o.run)))
        return yield* failure(`sluice: no run "${o.run}" in ${Compose.describeDb(o.db)}`)
      const n = yield* OrderedOutput.exportToFile(o.run, o.out, Option.getOrUndefined(o.status))
      yield* Effect.sync(() => process.stderr.write(`sluice: wrote ${n} item(s) of run ${o.run} to ${o.out}\n`))
    }).pipe(
      Effect.provide(ExistingStore.layer(o.db)),
      Effect.catchTag("StoreError", (e) => Effect.fail(failure(`sluice: ${e.message}`)))
    )
).pipe(Command.withDescription("Write a run's finished items, in input order, as JSONL"))
