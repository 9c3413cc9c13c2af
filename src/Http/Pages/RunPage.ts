/**
 * `/runs/<id>`: one run's page, its live panels (`/runs/<id>/live`), retrying its failed items (all,
 * or one error tag), and its results as a download in input order (JSONL, and CSV for a CSV run).
 *
 * @since 0.1.0
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Chunk, Clock, Effect, Option, Stream } from "effect"
import { Progress } from "../../Engine/Progress.js"
import { Store, type ResultRow, type RunInfo, type StoreError } from "../../Store/Store.js"
import { resultLines } from "../Handlers.js"
import { Engine } from "../../Service/Workers.js"
import { esc, page, respond, runPath, time } from "./Html.js"
import * as RunData from "./RunData.js"
import * as Panels from "./RunPanels.js"
import * as CsvCell from "../CsvCell.js"

const notFound = (id: string) =>
  respond(page({ title: "not found", body: `<p class="notice bad">There is no run "${esc(id)}".</p>` }), 404)

const storeDown = (e: StoreError) =>
  HttpServerResponse.text(`the store did not answer: ${e.message}\n`, { status: 503 })

/** The run named in the path, or a 404 answer. */
const withRun = <E, R>(
  f: (info: RunInfo) => Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
): Effect.Effect<HttpServerResponse.HttpServerResponse, E | StoreError, R | Store | HttpRouter.RouteContext> =>
  Effect.gen(function* () {
    const id = (yield* HttpRouter.params)["id"] ?? ""
    const info = yield* Effect.flatMap(Store, (s) => s.getRun(id))
    return Option.isNone(info) ? notFound(id) : yield* f(info.value)
  })

const filterOf = (params: Readonly<Record<string, string | ReadonlyArray<string>>>): RunData.FailureFilter => {
  const one = (k: string) => {
    const v = params[k]
    return typeof v === "string" ? v : v?.[0]
  }
  const tag = one("tag")
  const after = Number(one("after") ?? "-1")
  return { tag: tag === undefined || tag === "" ? undefined : tag, after: Number.isInteger(after) ? after : -1 }
}

const panels = (d: RunData.RunData) => ({
  summary: Panels.summary(d),
  chart: Panels.chart(d),
  limits: Panels.limits(d),
  failures: Panels.failures(d)
})

const body = (d: RunData.RunData, notice: string) => {
  const p = panels(d)
  const id = d.info.id
  const downloads = [
    `<a class="button" href="${runPath(id, "/results.jsonl")}" download>Download results (JSONL)</a>`,
    d.isCsv ? `<a class="button" href="${runPath(id, "/results.csv")}" download>Download results (CSV)</a>` : ""
  ].join("")
  return `<h2 style="margin-top:0">Run <span id="run-id">${esc(id)}</span></h2>
<p class="dim">${d.source === undefined ? "" : `${esc(d.source)} · `}created ${time(d.info.createdAt)}</p>
${notice}
<div class="actions">${downloads}</div>
<section id="summary">${p.summary}</section>
<h2>Throughput</h2>
<section id="chart">${p.chart}</section>
<h2>Limits (all runs)</h2>
<section id="limits">${p.limits}</section>
<h2>Failed items</h2>
<section id="failures">${p.failures}</section>`
}

const noticeOf = (params: Readonly<Record<string, string | ReadonlyArray<string>>>) => {
  const retried = params["retried"]
  if (typeof retried !== "string") return ""
  const kept = Number(params["kept"] ?? 0)
  const tag = typeof params["retried_tag"] === "string" ? ` ${esc(params["retried_tag"])}` : ""
  return `<p class="notice" id="notice">Re-queued ${esc(retried)}${tag} failed item(s).${
    kept > 0 ? ` ${kept} unreadable line(s) stay failed: fix them in the file and upload it again.` : ""
  }</p>`
}

/** `GET /runs/:id` @since 0.1.0 */
export const show = withRun((info) =>
  Effect.gen(function* () {
    const params = yield* HttpServerRequest.ParsedSearchParams
    const filter = filterOf(params)
    const d = yield* RunData.load(info, filter)
    const live = runPath(info.id, `/live${filter.tag === undefined && filter.after < 0 ? "" : `?${liveQuery(filter)}`}`)
    return respond(page({ title: info.id, body: body(d, noticeOf(params)), live }))
  })
)

const liveQuery = (f: RunData.FailureFilter) => {
  const q = new URLSearchParams()
  if (f.tag !== undefined) q.set("tag", f.tag)
  if (f.after >= 0) q.set("after", String(f.after))
  return q.toString()
}

/** `GET /runs/:id/live`: the panels, freshly rendered, for the page's script. @since 0.1.0 */
export const live = withRun((info) =>
  Effect.gen(function* () {
    const d = yield* RunData.load(info, filterOf(yield* HttpServerRequest.ParsedSearchParams))
    return yield* HttpServerResponse.json(
      { panels: panels(d), done: d.view.done, counts: d.view.counts, total: d.view.total },
      { headers: { "cache-control": "no-store" } }
    )
  })
)

/**
 * `POST /runs/:id/retry` (form field `tag` for one error tag): back to pending, workers woken, and
 * back to the page with what happened.
 *
 * @since 0.1.0
 */
export const retry = withRun((info) =>
  Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    const form = yield* Effect.orElseSucceed(request.urlParamsBody, () => [] as ReadonlyArray<[string, string]>)
    const tag = form.find(([k]) => k === "tag")?.[1] || undefined
    const store = yield* Store
    const before = yield* store.failureTags(info.id)
    const requeued = yield* store.retryFailed(info.id, tag)
    const kept = before.filter((t) => tag === undefined || t.tag === tag).reduce((n, t) => n + t.count - t.retryable, 0)
    if (requeued > 0) {
      const counts = yield* store.counts(info.id)
      const now = yield* Clock.currentTimeMillis
      // As `POST /v1/runs/:id/retry`: the rate is measured afresh, the re-queued items are new work.
      yield* Effect.flatMap(Progress, (p) =>
        p.update(info.id, (x) => ({ ...x, counts, startedAt: now, finishedThisSession: 0 }))
      )
      yield* Effect.flatMap(Engine, (e) => e.wake)
    }
    const q = new URLSearchParams({ retried: String(requeued), kept: String(kept) })
    if (tag !== undefined) q.set("retried_tag", tag)
    return HttpServerResponse.redirect(runPath(info.id, `?${q}`), { status: 303 })
  })
)

const CSV_PAGE = 1024

/** A completed item's output as one cell: a string as itself, anything else as JSON. */
const outputCell = (r: ResultRow) => {
  if (r.status !== "completed" || r.outputJson === null) return ""
  try {
    const v: unknown = JSON.parse(r.outputJson)
    return typeof v === "string" ? v : r.outputJson
  } catch {
    return r.outputJson
  }
}

const csvLine = (r: ResultRow) =>
  [
    String(r.seq + 1),
    r.key,
    r.status,
    outputCell(r),
    r.status === "failed" ? (r.errorTag ?? "") : "",
    r.status === "completed" ? "" : (r.errorMessage ?? ""),
    String(r.attempts)
  ]
    .map(CsvCell.cell)
    .join(",") + "\r\n"

const CSV_HEADER = "row,key,status,output,error_tag,error_message,attempts\r\n"

/** The finished items of a run as CSV rows in input order, a page at a time. */
const csvLines = (run: string): Stream.Stream<string, StoreError, Store> =>
  Stream.concat(
    Stream.make(CSV_HEADER),
    Stream.unwrap(
      Effect.map(Store, (store) =>
        Stream.paginateChunkEffect(-1, (afterSeq: number) =>
          Effect.map(store.results(run, { afterSeq, limit: CSV_PAGE }), (rows) => {
            let text = ""
            for (const r of rows) if (r.status !== "pending" && r.status !== "processing") text += csvLine(r)
            const last = rows[rows.length - 1]
            return [
              text.length > 0 ? Chunk.of(text) : Chunk.empty<string>(),
              rows.length < CSV_PAGE || last === undefined ? Option.none<number>() : Option.some(last.seq)
            ] as const
          })
        )
      )
    )
  )

const fileName = (id: string, ext: string) => `${id.replace(/[^\w.-]+/g, "_")}.results.${ext}`

/**
 * `GET /runs/:id/results.jsonl` and `.csv`: the finished items in input order, streamed from the store a
 * page at a time (constant memory), as a download.
 *
 * @since 0.1.0
 */
export const download = (format: "jsonl" | "csv") =>
  withRun((info) =>
    Effect.map(Effect.context<Store>(), (context) => {
      if (format === "csv" && !RunData.isCsvRun(info)) {
        return HttpServerResponse.text(`run "${info.id}" was not made from a CSV file: download its JSONL\n`, {
          status: 404
        })
      }
      const lines = format === "csv" ? csvLines(info.id) : resultLines(info.id)
      return HttpServerResponse.stream(lines.pipe(Stream.encodeText, Stream.provideContext(context)), {
        contentType: format === "csv" ? "text/csv; charset=utf-8" : "application/x-ndjson; charset=utf-8",
        headers: { "content-disposition": `attachment; filename="${fileName(info.id, format)}"` }
      })
    })
  )

/** @since 0.1.0 */
export const storeUnavailable = storeDown
