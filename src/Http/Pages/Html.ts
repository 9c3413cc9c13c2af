/**
 * The dashboard's HTML: escaping, number formats and the page shell with its one stylesheet. Pages are
 * rendered on the server, so they read right without JavaScript; a small inline script swaps in fresh
 * panels (rendered by the same functions) every two seconds. No build step, no CDN, no library.
 *
 * @since 0.1.0
 */

import * as HttpServerResponse from "@effect/platform/HttpServerResponse"

/**
 * An HTML answer; never cached, since every page shows live state.
 *
 * @since 0.1.0
 */
export const respond = (html: string, status = 200): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.text(html, {
    status,
    contentType: "text/html; charset=utf-8",
    headers: { "cache-control": "no-store" }
  })

/**
 * Text safe inside HTML elements and quoted attributes.
 *
 * @since 0.1.0
 */
export const esc = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;")

/** @since 0.1.0 */
export const num = (n: number): string => Math.round(n).toLocaleString("en-US")

/** 0.0123 → "$0.0123"; costs are small, so four decimals until a dollar. @since 0.1.0 */
export const usd = (n: number): string => (n >= 1 ? `$${n.toFixed(2)}` : `$${n.toFixed(4)}`)

/** 1234.5 → "1.2k"; for per-minute rates and tokens, where four digits are plenty. @since 0.1.0 */
export const compact = (n: number): string =>
  n >= 1e6 ? `${(n / 1e6).toFixed(n >= 1e7 ? 0 : 1)}M` : n >= 1e4 ? `${(n / 1e3).toFixed(n >= 1e5 ? 0 : 1)}k` : num(n)

/** "2026-12-04 15:04:05 UTC": the server's clock, unambiguous. @since 0.1.0 */
export const time = (ms: number): string => `${new Date(ms).toISOString().replace("T", " ").slice(0, 19)} UTC`

/** A run's path, its id encoded. @since 0.1.0 */
export const runPath = (id: string, rest = ""): string => `/runs/${encodeURIComponent(id)}${rest}`

/**
 * A bar of shares (each 0..1) in the order given, e.g. completed, failed, in flight.
 *
 * @since 0.1.0
 */
export const bar = (parts: ReadonlyArray<readonly [cls: string, share: number, title: string]>): string =>
  `<div class="bar">${parts
    .filter(([, share]) => share > 0)
    .map(
      ([cls, share, title]) =>
        `<span class="${cls}" style="width:${Math.min(100, share * 100).toFixed(2)}%" title="${esc(title)}"></span>`
    )
    .join("")}</div>`

const css = `
:root { color-scheme: light dark; --ok: #2e7d32; --bad: #c62828; --warn: #ef6c00; --skip: #9e9e9e; --run: #1565c0; --line: #8884; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; padding: 1rem; max-width: 1200px; }
header { display: flex; flex-wrap: wrap; gap: .25rem 1rem; align-items: baseline; margin-bottom: .75rem; }
header h1 { font-size: 1.2rem; margin: 0; } header h1 a { color: inherit; text-decoration: none; }
header nav { opacity: .8; } h2 { font-size: 1.05rem; margin: 1.25rem 0 .5rem; }
table { border-collapse: collapse; width: 100%; table-layout: fixed; }
th, td { text-align: left; padding: .35rem .45rem; border-bottom: 1px solid var(--line); vertical-align: top; overflow-wrap: anywhere; }
th { font-weight: 600; font-size: .85rem; opacity: .8; } td.n, th.n { text-align: right; }
.bar { display: flex; height: .65rem; border-radius: 3px; overflow: hidden; background: #8883; margin: .2rem 0; }
.bar span { display: block; height: 100%; }
.c { background: var(--ok); } .f { background: var(--bad); } .s { background: var(--skip); } .p { background: var(--run); } .w { background: var(--warn); }
.bad { color: var(--bad); } .good { color: var(--ok); } .warn { color: var(--warn); } .dim { opacity: .7; font-size: .85rem; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(220px, 1fr)); gap: .75rem; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: .6rem .75rem; min-width: 0; }
.card b { font-size: 1.15rem; } .card .k { font-size: .8rem; opacity: .75; display: block; }
.actions { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; margin: .5rem 0; }
.actions form { display: inline; margin: 0; }
button, .button { font: inherit; padding: .3rem .7rem; border: 1px solid var(--line); border-radius: 4px; background: #8882; color: inherit; cursor: pointer; text-decoration: none; }
.notice { padding: .5rem .75rem; border-left: 4px solid var(--run); background: #1565c014; margin: .5rem 0; }
.notice.bad { border-color: var(--bad); background: #c6282814; color: inherit; }
#live-status { font-size: .85rem; } svg { width: 100%; height: 120px; display: block; }
.tags a { margin-right: .6rem; } .tags a.on { font-weight: 700; }
fieldset { border: 1px solid var(--line); border-radius: 6px; display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: end; }
fieldset label { display: flex; flex-direction: column; font-size: .85rem; gap: .15rem; }
fieldset input, fieldset select, fieldset textarea { font: inherit; max-width: 100%; }
`

/**
 * The page shell. `live` is the URL the inline script polls for fresh panels: it answers
 * `{ "panels": { id: html }, "done": boolean }`, and each element with that id gets the new HTML.
 * The script keeps polling through errors (a restarting service), saying so, and slows down once the
 * run is done.
 *
 * @since 0.1.0
 */
export const page = (options: { readonly title: string; readonly body: string; readonly live?: string }): string =>
  `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(options.title)} · sluice</title>
<style>${css}</style>
</head>
<body>
<header>
  <h1><a href="/">sluice</a></h1>
  <nav><a href="/">runs</a> · <a href="/docs">API docs</a> · <a href="/metrics">metrics</a></nav>
  <span id="live-status" class="dim"></span>
</header>
${options.body}
${options.live === undefined ? "" : liveScript(options.live)}
</body>
</html>
`

const liveScript = (url: string) => `<script>
"use strict";
(() => {
  const url = ${JSON.stringify(url)};
  const status = document.getElementById("live-status");
  let delay = 2000;
  const tick = async () => {
    try {
      const res = await fetch(url, { headers: { accept: "application/json" }, cache: "no-store" });
      if (!res.ok) throw new Error("answered " + res.status);
      const data = await res.json();
      for (const [id, html] of Object.entries(data.panels)) {
        const el = document.getElementById(id);
        if (el !== null && el.innerHTML !== html) el.innerHTML = html;
      }
      status.textContent = "live · " + new Date().toLocaleTimeString();
      status.className = "dim";
      delay = data.done ? 5000 : 2000;
    } catch (e) {
      // A restarting service: keep trying; the store holds the truth, so the page is right once it answers.
      status.textContent = "service not answering (" + e.message + "); retrying…";
      status.className = "warn";
      delay = 2000;
    }
    setTimeout(tick, delay);
  };
  setTimeout(tick, delay);
})();
</script>`
