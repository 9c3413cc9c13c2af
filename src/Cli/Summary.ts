/**
 * The end-of-run summary the CLI prints to stderr.
 *
 * @since 0.1.0
 */
import type { RunSummary } from "../Domain/Run.js"
import type { ErrorRow } from "../Store/Store.js"

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`

/**
 * Control characters as escapes: a message may quote a binary input, and raw bytes would reach the
 * terminal (moving the cursor, changing colours).
 *
 * @since 0.1.0
 */
export const printable = (text: string): string =>
  text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`)

/**
 * Failures grouped by tag and message (line numbers stripped, so one cause reads as one line).
 *
 * @since 0.1.0
 */
export const failureGroups = (errors: ReadonlyArray<ErrorRow>): Array<string> => {
  const groups = new Map<string, { n: number; example: ErrorRow }>()
  for (const e of errors) {
    const k = `${e.errorTag}: ${printable(e.errorMessage.replace(/^line \d+: /, ""))}`
    const g = groups.get(k)
    if (g === undefined) groups.set(k, { n: 1, example: e })
    else g.n++
  }
  return [...groups.entries()]
    .sort((a, b) => b[1].n - a[1].n)
    .map(([k, g]) => `${g.n} × ${k.length > 160 ? k.slice(0, 157) + "…" : k} (e.g. key ${g.example.key})`)
}

/**
 * @since 0.1.0
 */
export const render = (
  summary: RunSummary & { readonly sourceError?: string | undefined },
  options: { readonly output?: string | undefined; readonly errors: ReadonlyArray<ErrorRow> }
): string => {
  const c = summary.counts
  const m = summary.metrics
  const total = c.pending + c.processing + c.completed + c.skipped + c.failed
  const lines = [
    `sluice: run ${summary.run} ${summary.stoppedBy === "finished" ? "finished" : `stopped (${summary.stoppedBy})`} in ${seconds(summary.makespanMs)}: ${c.completed} completed, ${c.skipped} skipped, ${c.failed} failed${c.pending + c.processing > 0 ? `, ${c.pending + c.processing} pending` : ""} of ${total}`
  ]
  const extras: Array<string> = []
  if (m.retries > 0) extras.push(`${m.retries} retries`)
  if (m.rateLimitHits > 0) extras.push(`${m.rateLimitHits} rate-limited`)
  if (m.tokensIn + m.tokensOut > 0) extras.push(`${m.tokensIn} tokens in, ${m.tokensOut} out`)
  if (m.costUsd > 0) extras.push(`$${m.costUsd.toFixed(4)}`)
  if (m.cacheHits > 0) extras.push(`${m.cacheHits} cache hits`)
  if (m.circuitTrips > 0) extras.push(`circuit opened ${m.circuitTrips}×`)
  if (extras.length > 0) lines.push(`  ${extras.join(", ")}`)
  if (c.failed > 0) for (const g of failureGroups(options.errors).slice(0, 5)) lines.push(`  failed: ${g}`)
  if (summary.stoppedBy === "budget")
    lines.push(`  the budget is reached; run again with a larger --budget to continue`)
  if (summary.sourceError !== undefined) lines.push(`  reading the source stopped early: ${summary.sourceError}`)
  if (options.output !== undefined) lines.push(`  results: ${options.output}`)
  return lines.join("\n")
}

/**
 * Rows as aligned columns, two spaces apart: the first column left-aligned and the others
 * right-aligned, unless `align` says otherwise per column.
 *
 * @since 0.1.0
 */
export const table = (
  rows: ReadonlyArray<ReadonlyArray<string>>,
  options: { readonly indent?: string; readonly align?: ReadonlyArray<"left" | "right"> } = {}
): Array<string> => {
  const widths: Array<number> = []
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)))
  const left = (i: number) => (options.align?.[i] ?? (i === 0 ? "left" : "right")) === "left"
  return rows.map(
    (row) =>
      (options.indent ?? "  ") +
      row
        .map((cell, i) => (left(i) ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
        .join("  ")
        .trimEnd()
  )
}

/**
 * A count with thousands separators: 1,234,567.
 *
 * @since 0.1.0
 */
export const count = (n: number): string =>
  Math.round(n)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, ",")
