/**
 * The offer desk as an Effect: read the unseen mails of a mailbox, let an LLM pick the offer requests,
 * create an offer in the ERP for each, at most two at once, and mark a mail read only once its offer is
 * stored. One failure never stops the batch; the result says "N succeeded, M failed".
 *
 * The host program chooses every stage: this file is its one composition root.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer, type Redacted } from "effect"
import { Attempt, type Errors, LlmClassifier, Persister, Pipeline, Progress, type Run, Store } from "sluice"
import { Imap } from "sluice/imap"
import { OpenAi } from "sluice/openai"
import { SqliteStore } from "sluice/sqlite"
import * as ErpClient from "./erpClient.js"
import * as Model from "./model.js"

export interface OfferDeskOptions {
  readonly imap: Imap.ImapOptions
  /** An OpenAI-compatible endpoint for the classifier (the simulator, in the example). */
  readonly llm: {
    readonly baseUrl: string
    readonly apiKey: Redacted.Redacted<string>
    readonly model?: string | undefined
  }
  readonly erp: ErpClient.ErpClientOptions
  /** The SQLite file that keeps every mail's outcome. */
  readonly database: string
  /** The run: the same id resumes it, and a mail completed in it is never offered again. Default "offer-desk". */
  readonly run?: string | undefined
  /** Mails in the stages at once. Default 2: the ERP handles two offers at a time. */
  readonly concurrency?: number | undefined
  readonly attempt?: Attempt.AttemptOptions | undefined
}

export interface OfferDeskReport {
  readonly run: string
  readonly succeeded: number
  readonly failed: number
  readonly skipped: number
  /** "N succeeded, M failed" */
  readonly line: string
  /** Completed mails and the offer each got, in mailbox order. */
  readonly offers: ReadonlyArray<{ readonly key: string; readonly offer: unknown }>
  readonly failures: ReadonlyArray<{ readonly key: string; readonly tag: string; readonly message: string }>
  readonly skippedKeys: ReadonlyArray<string>
  readonly summary: Run.RunSummary
}

/** Retries come quickly: the ERP's 503s are restarts of a few hundred milliseconds. */
const attempt: Attempt.AttemptOptions = {
  ...Attempt.defaultAttemptOptions,
  maxAttempts: 4,
  attemptTimeout: "30 seconds",
  baseBackoff: "100 millis",
  maxBackoff: "5 seconds"
}

/**
 * Every stage of the desk, plus the store and live progress.
 */
export const layer = (options: OfferDeskOptions) =>
  Layer.mergeAll(
    Imap.layer(options.imap),
    LlmClassifier.layer({
      model: options.llm.model ?? "gpt-4o-mini",
      system: Model.system,
      process: [Model.OFFER_REQUEST],
      render: Model.render
    }).pipe(
      Layer.provide(OpenAi.layer({ baseUrl: options.llm.baseUrl, apiKey: options.llm.apiKey, timeoutMs: 30_000 }))
    ),
    ErpClient.layer(options.erp).pipe(Layer.provide(NodeHttpClient.layerUndici)),
    Persister.layerStoreOnly,
    SqliteStore.layer({ filename: options.database }),
    Progress.layer
  )

/**
 * Runs the desk on whatever stages are provided, and reports from the store.
 */
export const report = (options: Pick<OfferDeskOptions, "run" | "concurrency" | "attempt" | "imap">) =>
  Effect.gen(function* () {
    const run = options.run ?? "offer-desk"
    const summary = yield* Pipeline.run({
      run,
      concurrency: options.concurrency ?? 2,
      attempt: options.attempt ?? attempt,
      config: { source: `imap://${options.imap.user}@${options.imap.host}/${options.imap.mailbox ?? "INBOX"}` }
    })
    if (summary.sourceError !== undefined)
      yield* Effect.logWarning(`the mailbox was not read to its end: ${summary.sourceError}`)

    const store = yield* Store.Store
    const offers: Array<{ key: string; offer: unknown }> = []
    const failures: Array<{ key: string; tag: string; message: string }> = []
    const skippedKeys: Array<string> = []
    let afterSeq = -1
    while (true) {
      const rows = yield* store.results(run, { afterSeq, limit: 500 })
      for (const r of rows) {
        if (r.status === "completed")
          offers.push({ key: r.key, offer: r.outputJson === null ? null : JSON.parse(r.outputJson) })
        else if (r.status === "failed")
          failures.push({ key: r.key, tag: r.errorTag ?? "", message: r.errorMessage ?? "" })
        else if (r.status === "skipped") skippedKeys.push(r.key)
      }
      if (rows.length < 500) break
      afterSeq = rows[rows.length - 1]!.seq
    }
    const { completed, failed, skipped } = summary.counts
    return {
      run,
      succeeded: completed,
      failed,
      skipped,
      line: `${completed} succeeded, ${failed} failed`,
      offers,
      failures,
      skippedKeys,
      summary
    } satisfies OfferDeskReport
  })

/**
 * The desk, end to end: fails only when the mailbox refuses us (`Invalid`), cannot be reached
 * (`Transient`), or the store cannot be written.
 */
export const run = (
  options: OfferDeskOptions
): Effect.Effect<OfferDeskReport, Errors.Transient | Errors.Invalid | Store.StoreError> =>
  report(options).pipe(Effect.provide(layer(options)))
