/**
 * A host project's pipeline, as a user of the published package writes it: typed payloads and
 * outputs through `Pipeline.make`, its own stages, nothing cast. `test/Package/Host.test.ts` copies this
 * directory outside the repository, installs the packed tarball next to the host's own `effect`, and
 * typechecks and tests it there.
 */
import { Effect, Schema } from "effect"
import { Classifier, Errors, Pipeline } from "sluice"
import type { SqliteStore } from "sluice/sqlite"

export const Ticket = Schema.Struct({ id: Schema.String, body: Schema.String, openedAt: Schema.Date })
export const Triage = Schema.Struct({ team: Schema.Literal("billing", "support"), openedAt: Schema.Date })
export type Triage = typeof Triage.Type

export const Tickets = Pipeline.make({ payload: Ticket, output: Triage })

/** The host's upstream call, e.g. a helpdesk API; it may fail with sluice's typed errors. */
export type Triager = (body: string) => Effect.Effect<Triage["team"], Errors.Transient | Errors.Invalid>

export const classify = Tickets.classifier((item) =>
  item.payload.body.trim() === "" ? Classifier.Route.skip("empty ticket") : Classifier.Route.process()
)

export const process = (triager: Triager) =>
  Tickets.processor((item) =>
    Effect.map(triager(item.payload.body), (team): Triage => {
      // The payload is decoded: `openedAt` is a Date, not the string the store keeps.
      const opened: Date = item.payload.openedAt
      return { team, openedAt: opened }
    })
  )

// The payload's type is checked: a field the schema does not have does not compile.
// @ts-expect-error `subject` is not a field of Ticket
export const wrong = Tickets.classifier((item) => Classifier.Route.process(item.payload.subject))

/** Sub-path entries carry their types too. */
export const storeOptions: SqliteStore.SqliteStoreOptions = { filename: "tickets.db" }
