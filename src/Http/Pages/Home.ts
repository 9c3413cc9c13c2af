/**
 * `/`: the upload form and the runs, newest first, a page at a time. The columns an operator opens the
 * page for (progress, failed, ETA, cost) stay in view at 800 px: each cell stacks two short lines
 * rather than the table growing columns, and the table never needs to scroll sideways.
 *
 * @since 0.1.0
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Effect } from "effect"
import type * as RunConfig from "../../Domain/RunConfig.js"
import { Store } from "../../Store/Store.js"
import { LimitsMeter } from "../LimitsMeter.js"
import { bar, compact, esc, num, page, respond, runPath, time, usd } from "./Html.js"
import * as RunData from "./RunData.js"

/** Runs per page. @since 0.1.0 */
export const RUNS_PAGE = 20

const pageOf = (params: Readonly<Record<string, string | ReadonlyArray<string>>>) => {
  const p = Number(params["page"] ?? "1")
  return Number.isInteger(p) && p >= 1 ? p : 1
}

type Summary = Effect.Effect.Success<ReturnType<typeof RunData.summary>>

const row = (s: Summary, id: string, createdAt: number) => {
  const c = s.view.counts
  const t = Math.max(1, s.view.total)
  const finished = c.completed + c.skipped + c.failed
  const state = s.view.done ? (c.failed > 0 ? "done with failures" : "done") : s.view.recorded ? "running" : "recording"
  return `<tr data-run="${esc(id)}">
<td><a href="${runPath(id)}">${esc(id)}</a><div class="dim">${time(createdAt)}</div></td>
<td>${bar([
    ["c", c.completed / t, `completed ${c.completed}`],
    ["s", c.skipped / t, `skipped ${c.skipped}`],
    ["f", c.failed / t, `failed ${c.failed}`],
    ["p", c.processing / t, `in flight ${c.processing}`]
  ])}<div class="dim">${num(finished)} / ${num(s.view.total)} · ${state}</div></td>
<td class="n${c.failed > 0 ? " bad" : ""}" data-k="failed">${num(c.failed)}</td>
<td class="n" data-k="eta">${esc(s.eta.text)}${s.view.throughput === null ? "" : `<div class="dim">${s.view.throughput.toFixed(1)}/s</div>`}</td>
<td class="n" data-k="cost">${usd(s.view.costUsd)}<div class="dim">${compact(s.view.tokens.in + s.view.tokens.out)} tok</div></td>
</tr>`
}

/** The runs table of one page, and whether there is a next. */
const table = (pageNo: number) =>
  Effect.gen(function* () {
    const store = yield* Store
    const limits = yield* Effect.flatMap(LimitsMeter, (m) => m.view)
    const all = [...(yield* store.listRuns)].sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1))
    const slice = all.slice((pageNo - 1) * RUNS_PAGE, pageNo * RUNS_PAGE)
    const rows = yield* Effect.forEach(slice, (info) =>
      Effect.map(RunData.summary(info, limits), (s) => row(s, info.id, info.createdAt))
    )
    const pages = Math.max(1, Math.ceil(all.length / RUNS_PAGE))
    const pager = [
      pageNo > 1 ? `<a href="/?page=${pageNo - 1}" rel="prev">← newer</a>` : "",
      `page ${pageNo} of ${pages} (${num(all.length)} runs)`,
      pageNo < pages ? `<a href="/?page=${pageNo + 1}" rel="next">older →</a>` : ""
    ]
      .filter((s) => s.length > 0)
      .join(" · ")
    return `<table class="runs">
<colgroup><col style="width:30%"><col><col style="width:4.5rem"><col style="width:8.5rem"><col style="width:6rem"></colgroup>
<thead><tr><th>run</th><th>progress</th><th class="n">failed</th><th class="n">ETA</th><th class="n">cost</th></tr></thead>
<tbody>${rows.length === 0 ? `<tr><td colspan="5" class="dim">No runs yet: upload a file above, or POST items to /v1/runs.</td></tr>` : rows.join("\n")}</tbody>
</table>
<p class="dim">${pager}</p>`
  })

const form = (
  defaults: Partial<RunConfig.RunConfigEncoded>
) => `<form method="post" action="/runs" enctype="multipart/form-data" id="upload">
<fieldset><legend>New run from a file</legend>
<label>JSONL or CSV file <input type="file" name="file" accept=".jsonl,.ndjson,.csv,text/csv,application/x-ndjson" required></label>
<label>processor <select name="processor">
<option value="llm"${defaults.processor === "echo" ? "" : " selected"}>llm</option>
<option value="echo"${defaults.processor === "echo" ? " selected" : ""}>echo</option>
</select></label>
<label>model <input name="model" placeholder="${esc(defaults.model ?? "gpt-4o-mini")}" size="14"></label>
<label>concurrency <input name="concurrency" type="number" min="1" step="1" placeholder="service's" style="width:7rem"></label>
<label style="flex:1 1 16rem">prompt <textarea name="prompt" rows="1" placeholder="${esc(defaults.system ?? "the system prompt; each item is sent as JSON")}"></textarea></label>
<button>Upload and run</button>
</fieldset>
</form>`

/** `GET /` @since 0.1.0 */
export const show = (defaults: Partial<RunConfig.RunConfigEncoded>) =>
  Effect.gen(function* () {
    const pageNo = pageOf(yield* HttpServerRequest.ParsedSearchParams)
    const runs = yield* table(pageNo)
    return respond(
      page({
        title: "runs",
        body: `${form(defaults)}
<h2>Runs, newest first</h2>
<section id="runs">${runs}</section>`,
        live: `/runs.live?page=${pageNo}`
      })
    )
  })

/** `GET /runs.live`: the runs table, freshly rendered, for the page's script. @since 0.1.0 */
export const live = Effect.gen(function* () {
  const runs = yield* table(pageOf(yield* HttpServerRequest.ParsedSearchParams))
  return yield* HttpServerResponse.json({ panels: { runs }, done: false }, { headers: { "cache-control": "no-store" } })
})
