/**
 * The run page's panels as HTML: progress and totals, the throughput chart, the limits, and the failed
 * items. The page renders them once and the live endpoint renders them again for the page's script to
 * swap in, so there is one way each panel looks.
 *
 * @since 0.1.0
 */
import type { LimitUse } from "../LimitsMeter.js"
import { bar, compact, esc, num, runPath, time, usd } from "./Html.js"
import type { RunData } from "./RunData.js"

const card = (label: string, value: string, extra = "", id?: string) =>
  `<div class="card"${id === undefined ? "" : ` id="${id}"`}><span class="k">${label}</span><b>${value}</b>${extra}</div>`

/**
 * Progress, ETA with the limit that binds it, tokens and cost.
 *
 * @since 0.1.0
 */
export const summary = (d: RunData): string => {
  const c = d.view.counts
  const t = Math.max(1, d.view.total)
  const finished = c.completed + c.skipped + c.failed
  const state = d.view.done
    ? c.failed > 0
      ? `<span class="bad">done, ${num(c.failed)} failed</span>`
      : `<span class="good">done</span>`
    : d.view.recorded
      ? "running"
      : "recording the source…"
  return `${bar([
    ["c", c.completed / t, `completed: ${c.completed}`],
    ["s", c.skipped / t, `skipped: ${c.skipped}`],
    ["f", c.failed / t, `failed: ${c.failed}`],
    ["p", c.processing / t, `in flight: ${c.processing}`]
  ])}
<div class="grid">
${card("progress", `<span data-k="finished">${num(finished)}</span> / <span data-k="total">${num(d.view.total)}</span>`, `<div class="dim">${state} · ${Math.floor((100 * finished) / t)}%</div>`, "progress")}
${card("completed · skipped · failed", `<span data-k="completed">${num(c.completed)}</span> · ${num(c.skipped)} · <span data-k="failed" class="${c.failed > 0 ? "bad" : ""}">${num(c.failed)}</span>`, `<div class="dim">pending ${num(c.pending)} · in flight ${num(c.processing)}</div>`)}
${card("ETA", `<span data-k="eta">${esc(d.eta.text)}</span>`, `<div class="dim">${d.view.throughput === null ? "" : `${d.view.throughput.toFixed(1)} items/s this session`}</div>`, "eta")}
${card("tokens in / out", `${compact(d.view.tokens.in)} / ${compact(d.view.tokens.out)}`, `<div class="dim">cost ${usd(d.view.costUsd)} · retries ${num(d.view.retries)} · 429s ${num(d.view.rateLimitHits)}</div>`, "cost")}
</div>`
}

/**
 * Items finished per second over the run's life, as an inline SVG; the dashed line is the rate the
 * request limit allows when the run calls a model (one request per item).
 *
 * @since 0.1.0
 */
export const chart = (d: RunData): string => {
  const { bucketMs, buckets } = d.series
  if (buckets.length === 0) return `<p class="dim">No item has finished yet.</p>`
  const from = buckets[0]!.atMs
  const to = Math.max(buckets[buckets.length - 1]!.atMs, d.view.done ? from : d.now - (d.now % bucketMs))
  const n = Math.max(1, Math.round((to - from) / bucketMs) + 1)
  const rates = new Array<number>(n).fill(0)
  for (const b of buckets) {
    const i = Math.round((b.atMs - from) / bucketMs)
    if (i >= 0 && i < n) rates[i] = (b.finished * 1000) / bucketMs
  }
  const limit = d.usesModel && d.limits.rpm.limit !== undefined ? d.limits.rpm.limit / 60 : undefined
  const peak = Math.max(...rates, limit ?? 0, 0.001)
  const W = 600
  const H = 110
  const x = (i: number) => (n === 1 ? W / 2 : (i * W) / (n - 1))
  const y = (v: number) => H - (v / peak) * (H - 12)
  const points = rates.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ")
  const area = `0,${H} ${points} ${x(n - 1).toFixed(1)},${H}`
  const limitLine =
    limit === undefined
      ? ""
      : `<line x1="0" x2="${W}" y1="${y(limit).toFixed(1)}" y2="${y(limit).toFixed(1)}" stroke="currentColor" stroke-dasharray="4 4" opacity=".5"/><text x="4" y="${(y(limit) - 3).toFixed(1)}" font-size="10" fill="currentColor" opacity=".7">RPM limit ${compact(limit * 60)}/min</text>`
  return `<svg viewBox="0 0 ${W} ${H}" preserveAspectRatio="none" role="img" aria-label="items finished per second">
<polygon points="${area}" fill="#1565c0" opacity=".18"/><polyline points="${points}" fill="none" stroke="#1565c0" stroke-width="1.5" vector-effect="non-scaling-stroke"/>${limitLine}
<text x="${W - 4}" y="11" font-size="10" text-anchor="end" fill="currentColor" opacity=".7">peak ${peak.toFixed(1)}/s</text>
</svg><div class="dim">items finished per second, ${bucketMs / 1000} s per point, ${time(from)} to ${time(to)}</div>`
}

const useRow = (label: string, use: LimitUse, unit: string, note = "") => {
  const share = use.limit === undefined ? undefined : use.used / use.limit
  const cls = share === undefined ? "" : share >= 0.95 ? "w" : "c"
  return `<tr data-limit="${label}" data-used="${use.used.toFixed(1)}" data-ceiling="${use.limit ?? ""}"><th>${label}</th><td>${bar(share === undefined ? [] : [[cls, share, `${Math.round(share * 100)}%`]])}</td><td class="n"><span data-k="used">${compact(use.used)}</span> / <span data-k="limit">${use.limit === undefined ? "no limit" : compact(use.limit)}</span> ${unit}</td><td class="n">${share === undefined ? "–" : `${Math.round(share * 100)}%`}</td><td class="dim">${esc(use.source)}${note}</td></tr>`
}

/**
 * Each limit's use against its ceiling (this process), the breaker, 429s and retries per minute, and
 * the place for the fleet's use.
 *
 * @since 0.1.0
 */
export const limits = (d: RunData): string => {
  const l = d.limits
  const breaker =
    l.breaker === undefined
      ? "–"
      : l.breaker.status === "closed"
        ? `<span class="good">closed</span> <span class="dim">(${l.breaker.failures} of the last ${l.breaker.calls} calls failed; ${l.breaker.trips} trips)</span>`
        : `<span class="bad">${l.breaker.status}</span>${l.breaker.retryAtMs === undefined ? "" : ` <span class="dim">next probe ${time(l.breaker.retryAtMs)}</span>`} <span class="dim">(${l.breaker.trips} trips)</span>`
  const paused =
    l.pausedUntilMs === undefined ? "" : ` · <span class="warn">paused by a 429 until ${time(l.pausedUntilMs)}</span>`
  const fleet =
    l.fleet.length === 0
      ? `<tr data-limit="fleet"><th>fleet</th><td colspan="4" class="dim">No shared budget in use: each process on this database admits on its own (a limit given with --rpm or --tpm is shared unless SLUICE_FLEET_BUDGET=off).</td></tr>`
      : l.fleet
          .map((f) => {
            const note = ` · ${num(f.processes)} process${f.processes === 1 ? "" : "es"}${l.fleet.length > 1 ? ` · ${esc(f.baseUrl)}` : ""}${f.pausedUntilMs === undefined ? "" : ` · <span class="warn">paused until ${time(f.pausedUntilMs)}</span>`}`
            // The fleet counts tokens only against a TPM limit: without one its row would read 0.
            return (
              useRow("fleet RPM", f.rpm, "/min", note) +
              (f.tpm.limit === undefined ? "" : useRow("fleet TPM", f.tpm, "/min", note))
            )
          })
          .join("\n")
  return `<table class="limits">
<colgroup><col style="width:6.5rem"><col><col style="width:11rem"><col style="width:3.5rem"><col style="width:7rem"></colgroup>
<thead><tr><th>limit</th><th>use</th><th class="n">used / ceiling</th><th class="n">%</th><th>ceiling from</th></tr></thead>
<tbody>
${useRow("RPM", l.rpm, "/min")}
${useRow("TPM", l.tpm, "/min")}
${useRow("in flight", l.inFlight, "calls", "")}
${fleet}
</tbody></table>
<p class="dim">RPM, TPM and in flight are this process's, fleet rows every process's on this database. Rates over the last ${l.windowSeconds} s${l.fleet.length === 0 ? "" : ` (fleet: ${l.fleet[0]!.windowSeconds} s)`}. Admission queue: <span data-k="waiting">${num(l.waiting)}</span> waiting${l.boundBy === undefined ? "" : `, last held by ${l.boundBy.toUpperCase()}`}${paused}.</p>
<div class="grid">
${card("circuit breaker", breaker)}
${card("429s, last minute", `<span data-k="429">${num(l.perMinute.rateLimited)}</span>`)}
${card("retries, last minute", `<span data-k="retries">${num(l.perMinute.retries)}</span>`)}
</div>`
}

const query = (d: RunData, tag: string | undefined, after: number) => {
  const q = new URLSearchParams()
  if (tag !== undefined) q.set("tag", tag)
  if (after >= 0) q.set("after", String(after))
  const s = q.toString()
  return s.length === 0 ? runPath(d.info.id) : runPath(d.info.id, `?${s}`)
}

/**
 * The failed items (paged, filtered by tag) with retry buttons.
 *
 * @since 0.1.0
 */
export const failures = (d: RunData): string => {
  const total = d.tags.reduce((n, t) => n + t.count, 0)
  if (total === 0) return `<p class="dim">No failed items.</p>`
  const retryable = d.tags.reduce((n, t) => n + t.retryable, 0)
  const retry = (tag: string | undefined, label: string, n: number) =>
    `<form method="post" action="${runPath(d.info.id, "/retry")}">${tag === undefined ? "" : `<input type="hidden" name="tag" value="${esc(tag)}">`}<button${n === 0 ? ` title="these are lines that could not be read: retrying leaves them failed"` : ""}>${esc(label)}</button></form>`
  const tagLinks = [
    `<a href="${query(d, undefined, -1)}" class="${d.filter.tag === undefined ? "on" : ""}">all (${num(total)})</a>`,
    ...d.tags.map(
      (t) =>
        `<a href="${query(d, t.tag, -1)}" class="${d.filter.tag === t.tag ? "on" : ""}" data-tag="${esc(t.tag)}">${esc(t.tag)} (${num(t.count)})</a>`
    )
  ].join("")
  const unreadable = total - retryable
  const rows = d.failures
    .map(
      (f) =>
        `<tr data-seq="${f.seq}"><td class="n">${f.line === null ? "–" : num(f.line)}</td><td>${esc(f.key)}</td><td>${esc(f.errorTag)}</td><td>${esc(f.errorMessage)}${f.retryable ? "" : ` <span class="dim">(unreadable: not retried)</span>`}</td><td class="n">${f.attempts}</td></tr>`
    )
    .join("\n")
  const last = d.failures[d.failures.length - 1]
  const pager = [
    d.filter.after >= 0 ? `<a href="${query(d, d.filter.tag, -1)}">← first page</a>` : "",
    d.more && last !== undefined ? `<a href="${query(d, d.filter.tag, last.seq)}" rel="next">next page →</a>` : ""
  ]
    .filter((s) => s.length > 0)
    .join(" · ")
  return `<div class="actions">${retry(undefined, `Retry all failed (${num(total)})`, retryable)}${d.tags
    .map((t) => retry(t.tag, `Retry ${t.tag} (${num(t.count)})`, t.retryable))
    .join("")}</div>
${unreadable > 0 ? `<p class="dim">${num(unreadable)} failed ${unreadable === 1 ? "item is a line" : "items are lines"} that could not be read: retrying cannot change them; fix the file and upload it again.</p>` : ""}
<p class="tags">Filter by error: ${tagLinks}</p>
<table class="failures">
<colgroup><col style="width:4.5rem"><col style="width:18%"><col style="width:12%"><col><col style="width:4.5rem"></colgroup>
<thead><tr><th class="n">line</th><th>key</th><th>error</th><th>message</th><th class="n">attempts</th></tr></thead>
<tbody>${rows.length === 0 ? `<tr><td colspan="5" class="dim">None on this page.</td></tr>` : rows}</tbody>
</table>
<p>${pager}</p>`
}
