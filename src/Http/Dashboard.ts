/**
 * The dashboard at `/`: one self-contained HTML page (no CDN, no build step) that polls `/v1/runs`
 * every two seconds and shows each run's counts, progress, throughput and ETA. When the service has
 * a token, the page asks for it once and keeps it in the tab's session storage.
 *
 * @since 0.1.0
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Effect, type Layer } from "effect"

/** @since 0.1.0 */
export const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sluice</title>
<style>
  :root { color-scheme: light dark; --ok: #2e7d32; --bad: #c62828; --skip: #9e9e9e; --run: #1565c0; }
  body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5rem; }
  h1 { font-size: 1.25rem; margin: 0 0 .25rem; }
  header p { margin: 0 0 1rem; opacity: .75; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: right; padding: .35rem .6rem; border-bottom: 1px solid #8884; white-space: nowrap; }
  th:first-child, td:first-child { text-align: left; }
  td.bar { width: 28%; }
  .bar div { display: flex; height: .7rem; border-radius: 3px; overflow: hidden; background: #8883; }
  .bar span { display: block; height: 100%; }
  .c { background: var(--ok); } .f { background: var(--bad); } .s { background: var(--skip); } .p { background: var(--run); }
  .done { color: var(--ok); } .failed { color: var(--bad); }
  #error { color: var(--bad); } form { margin: 1rem 0; } [hidden] { display: none; }
</style>
</head>
<body>
<header>
  <h1>sluice</h1>
  <p>Runs on this service, newest first, refreshed every 2 s. <a href="/docs">API docs</a> · <a href="/docs/openapi.json">openapi.json</a> · <a href="/metrics">metrics</a></p>
</header>
<form id="auth" hidden>
  <label>This service needs its token (SLUICE_TOKEN): <input id="token" type="password" autocomplete="off"></label>
  <button>Use</button>
</form>
<p id="error"></p>
<table>
  <thead><tr><th>run</th><th>created</th><th>progress</th><th>done / total</th><th>pending</th><th>in flight</th><th>completed</th><th>skipped</th><th>failed</th><th>items/s</th><th>ETA</th><th>tokens in / out</th><th>cost</th></tr></thead>
  <tbody id="runs"><tr><td colspan="13">loading…</td></tr></tbody>
</table>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const tokenKey = "sluice.token";
const cell = (text, cls) => { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; return td; };
const num = (n) => n.toLocaleString();
const eta = (s) => s === null ? "–" : s === 0 ? "done" : s < 90 ? Math.round(s) + " s" : s < 5400 ? Math.round(s / 60) + " min" : (s / 3600).toFixed(1) + " h";
function bar(r) {
  const td = document.createElement("td"); td.className = "bar";
  const box = document.createElement("div"); td.append(box);
  const t = Math.max(1, r.total);
  for (const [k, cls] of [["completed", "c"], ["skipped", "s"], ["failed", "f"], ["processing", "p"]]) {
    const s = document.createElement("span"); s.className = cls; s.style.width = (100 * r.counts[k] / t) + "%"; s.title = k + ": " + r.counts[k]; box.append(s);
  }
  return td;
}
function row(r) {
  const tr = document.createElement("tr");
  const c = r.counts, finished = c.completed + c.skipped + c.failed;
  const name = cell(r.run, r.done ? (c.failed > 0 ? "failed" : "done") : "");
  tr.append(name, cell(new Date(r.createdAt).toLocaleString()), bar(r), cell(num(finished) + " / " + num(r.total)),
    cell(num(c.pending)), cell(num(c.processing)), cell(num(c.completed)), cell(num(c.skipped)), cell(num(c.failed), c.failed > 0 ? "failed" : ""),
    cell(r.throughput === null ? "–" : r.throughput.toFixed(1)), cell(eta(r.etaSeconds)),
    cell(num(r.tokens.in) + " / " + num(r.tokens.out)), cell("$" + r.costUsd.toFixed(4)));
  return tr;
}
async function poll() {
  const token = sessionStorage.getItem(tokenKey);
  try {
    const res = await fetch("/v1/runs", { headers: token ? { authorization: "Bearer " + token } : {} });
    if (res.status === 401) { $("auth").hidden = false; $("error").textContent = token ? "The token was refused." : ""; return; }
    if (!res.ok) { $("error").textContent = "GET /v1/runs answered " + res.status; return; }
    $("auth").hidden = true; $("error").textContent = "";
    const { runs } = await res.json();
    const body = $("runs"); body.replaceChildren(...runs.map(row));
    if (runs.length === 0) body.append(Object.assign(document.createElement("tr"), { innerHTML: '<td colspan="13">No runs yet: POST items to /v1/runs.</td>' }));
  } catch (e) {
    $("error").textContent = "The service did not answer (" + e.message + ").";
  }
}
$("auth").addEventListener("submit", (e) => { e.preventDefault(); sessionStorage.setItem(tokenKey, $("token").value); $("token").value = ""; poll(); });
poll();
setInterval(poll, 2000);
</script>
</body>
</html>
`

/**
 * Serves the page at `/` on the API's router.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<never> = HttpApiBuilder.Router.use((router) =>
  router.get("/", Effect.succeed(HttpServerResponse.html(html)))
)
