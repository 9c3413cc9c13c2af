/**
 * Renders Effect metrics in the Prometheus text exposition format, version 0.0.4, for `GET /metrics`.
 *
 * Effect 3 has no Prometheus exporter of its own (its `@effect/opentelemetry` metrics go through an
 * OpenTelemetry reader), so this reads `Metric.snapshot` and writes the format itself: one `# HELP` and
 * one `# TYPE` per family, counters and gauges as one sample per label set, histograms as cumulative
 * `_bucket{le="…"}` samples ending at `+Inf` plus `_sum` and `_count`, summaries as `{quantile="…"}`
 * samples plus `_sum` and `_count`, Effect's frequencies as counters with a `key` label, and counters
 * not declared `incremental` as gauges.
 *
 * @since 0.1.0
 */
import { Effect, Metric, MetricKeyType, MetricState, Option } from "effect"
import type * as MetricPair from "effect/MetricPair"

/**
 * The content type of the format.
 *
 * @since 0.1.0
 */
export const contentType = "text/plain; version=0.0.4; charset=utf-8"

/** @since 0.1.0 */
export type Labels = Readonly<Record<string, string>>

/**
 * A metric family gathered at scrape time rather than kept in Effect's registry (for example queue
 * depths read from the store), rendered beside the registry's.
 *
 * @since 0.1.0
 */
export interface Family {
  readonly name: string
  readonly help: string
  readonly type: "counter" | "gauge"
  readonly samples: ReadonlyArray<{ readonly labels: Labels; readonly value: number }>
}

type Kind = "counter" | "gauge" | "histogram" | "summary"

interface Builder {
  readonly name: string
  readonly help: string
  readonly type: Kind
  /** One block per label set (a histogram's buckets, sum and count stay together), sorted at the end. */
  readonly blocks: Array<{ readonly key: string; readonly lines: Array<string> }>
}

/** Metric and label names may hold only `[a-zA-Z0-9_:]` (labels no `:`) and not start with a digit. */
const sanitizeName = (name: string): string => {
  const s = name.replace(/[^a-zA-Z0-9_:]/g, "_")
  return /^[0-9]/.test(s) ? `_${s}` : s
}
const sanitizeLabel = (name: string): string => {
  let s = name.replace(/[^a-zA-Z0-9_]/g, "_")
  if (/^[0-9]/.test(s)) s = `_${s}`
  // Names starting with "__" are reserved for Prometheus itself.
  return s.startsWith("__") ? `x${s}` : s
}

const escapeHelp = (s: string): string => s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")
const escapeLabelValue = (s: string): string => s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')

/**
 * A sample value as the format writes it: `+Inf`, `-Inf`, `NaN`, or a decimal.
 *
 * @since 0.1.0
 */
export const formatValue = (v: number | bigint): string => {
  if (typeof v === "bigint") return v.toString()
  if (Number.isNaN(v)) return "NaN"
  if (v === Number.POSITIVE_INFINITY) return "+Inf"
  if (v === Number.NEGATIVE_INFINITY) return "-Inf"
  return String(v)
}

const formatLabels = (labels: ReadonlyArray<readonly [string, string]>): string => {
  if (labels.length === 0) return ""
  const seen = new Set<string>()
  const parts: Array<string> = []
  for (const [k, v] of labels) {
    const key = sanitizeLabel(k)
    if (seen.has(key)) continue
    seen.add(key)
    parts.push(`${key}="${escapeLabelValue(v)}"`)
  }
  return `{${parts.join(",")}}`
}

const sample = (name: string, labels: ReadonlyArray<readonly [string, string]>, value: number | bigint) =>
  `${name}${formatLabels(labels)} ${formatValue(value)}`

/**
 * An Effect counter made without `incremental: true` may go down (Effect's own `effect_fiber_active`
 * does), which a Prometheus counter must never do, so it is exposed as a gauge.
 */
const kindOf = (pair: MetricPair.MetricPair.Untyped): Kind | undefined => {
  const state = pair.metricState
  if (MetricState.isCounterState(state)) {
    const keyType = pair.metricKey.keyType
    return MetricKeyType.isCounterKey(keyType) && keyType.incremental ? "counter" : "gauge"
  }
  if (MetricState.isFrequencyState(state)) return "counter"
  if (MetricState.isGaugeState(state)) return "gauge"
  if (MetricState.isHistogramState(state)) return "histogram"
  if (MetricState.isSummaryState(state)) return "summary"
  return undefined
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

/**
 * Renders metric pairs (from `Metric.snapshot`) and scrape-time families as one exposition. Pairs that
 * share a name form one family; a pair whose type disagrees with its family's is left out rather than
 * making the whole page unparseable. Families are sorted by name and samples by labels, so two
 * scrapes diff cleanly.
 *
 * @since 0.1.0
 */
export const render = (
  pairs: ReadonlyArray<MetricPair.MetricPair.Untyped>,
  extra: ReadonlyArray<Family> = []
): string => {
  const families = new Map<string, Builder>()
  const family = (rawName: string, help: string, type: Kind): Builder | undefined => {
    const name = sanitizeName(rawName)
    const existing = families.get(name)
    if (existing !== undefined) return existing.type === type ? existing : undefined
    const created: Builder = { name, help, type, blocks: [] }
    families.set(name, created)
    return created
  }

  for (const pair of pairs) {
    const key = pair.metricKey
    const state = pair.metricState
    const type = kindOf(pair)
    if (type === undefined) continue
    const f = family(
      key.name,
      Option.getOrElse(key.description, () => key.name),
      type
    )
    if (f === undefined) continue
    const labels = key.tags.map((t) => [t.key, t.value] as const)
    const lines: Array<string> = []
    f.blocks.push({ key: formatLabels(labels), lines })

    if (MetricState.isCounterState(state)) {
      lines.push(sample(f.name, labels, state.count))
    } else if (MetricState.isGaugeState(state)) {
      lines.push(sample(f.name, labels, state.value))
    } else if (MetricState.isFrequencyState(state)) {
      for (const [k, n] of [...state.occurrences].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        lines.push(sample(f.name, [...labels, ["key", k]], n))
      }
    } else if (MetricState.isHistogramState(state)) {
      let sawInf = false
      for (const [le, cumulative] of state.buckets) {
        if (le === Number.POSITIVE_INFINITY) sawInf = true
        lines.push(sample(`${f.name}_bucket`, [...labels, ["le", formatValue(le)]], cumulative))
      }
      if (!sawInf) lines.push(sample(`${f.name}_bucket`, [...labels, ["le", "+Inf"]], state.count))
      lines.push(sample(`${f.name}_sum`, labels, state.sum))
      lines.push(sample(`${f.name}_count`, labels, state.count))
    } else if (MetricState.isSummaryState(state)) {
      for (const [q, value] of state.quantiles) {
        lines.push(
          sample(
            f.name,
            [...labels, ["quantile", formatValue(q)]],
            Option.getOrElse(value, () => Number.NaN)
          )
        )
      }
      lines.push(sample(`${f.name}_sum`, labels, state.sum))
      lines.push(sample(`${f.name}_count`, labels, state.count))
    }
  }

  for (const e of extra) {
    const f = family(e.name, e.help, e.type)
    if (f === undefined) continue
    for (const s of e.samples) {
      const labels = Object.entries(s.labels)
      f.blocks.push({ key: formatLabels(labels), lines: [sample(f.name, labels, s.value)] })
    }
  }

  let out = ""
  for (const f of [...families.values()].sort((a, b) => compare(a.name, b.name))) {
    const lines = f.blocks.sort((a, b) => compare(a.key, b.key)).flatMap((b) => b.lines)
    if (lines.length === 0) continue
    out += `# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.type}\n${lines.join("\n")}\n`
  }
  return out
}

/**
 * The exposition of every metric in Effect's global registry, plus `extra`; Effect's fiber metrics only
 * with `runtime`.
 *
 * @since 0.1.0
 */
export const exposition = (
  extra: ReadonlyArray<Family> = [],
  options: { readonly runtime?: boolean | undefined } = {}
): Effect.Effect<string> =>
  Effect.map(Metric.snapshot, (pairs) =>
    render(options.runtime === true ? pairs : pairs.filter((p) => !isRuntime(p.metricKey.name)), extra)
  )

/**
 * Effect's own fiber metrics (`effect_fiber_started`, `effect_fiber_active`, lifetimes…): counted for
 * every fiber of every request, they say more about Effect than about the work, and they outnumber the
 * sluice families. Left out unless asked for (`SLUICE_RUNTIME_METRICS=1` for `sluice serve`).
 *
 * @since 0.1.0
 */
export const isRuntime = (name: string): boolean => name.startsWith("effect_fiber_")
