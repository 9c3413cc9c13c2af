/**
 * The limits meter as Prometheus families for `GET /metrics`: `sluice_limit_used_ratio{limit}` (use over
 * ceiling, for `rpm`, `tpm` and `concurrency`, present only while the ceiling is known), and the
 * ceilings themselves as `sluice_limit{limit}`.
 *
 * @since 0.1.0
 */
import { Config, Effect } from "effect"
import type * as Prometheus from "../Telemetry/Prometheus.js"
import { type LimitsView, ratio } from "./LimitsMeter.js"

/**
 * @since 0.1.0
 */
export const families = (view: LimitsView): Array<Prometheus.Family> => {
  const limits = [
    ["rpm", view.rpm],
    ["tpm", view.tpm],
    ["concurrency", view.inFlight]
  ] as const
  const ratios: Array<{ labels: Prometheus.Labels; value: number }> = []
  const ceilings: Array<{ labels: Prometheus.Labels; value: number }> = []
  for (const [limit, use] of limits) {
    const r = ratio(use)
    if (r !== undefined) ratios.push({ labels: { limit }, value: Math.round(r * 10_000) / 10_000 })
    if (use.limit !== undefined) ceilings.push({ labels: { limit }, value: use.limit })
  }
  return [
    {
      name: "sluice_limit_used_ratio",
      help: "This process's use of each limit over its ceiling: requests and tokens per minute over the last 15 s, upstream calls in flight over concurrency",
      type: "gauge",
      samples: ratios
    },
    {
      name: "sluice_limit",
      help: "Each limit's ceiling: rpm and tpm per minute (configured, from headers or discovered), concurrency in calls",
      type: "gauge",
      samples: ceilings
    }
  ]
}

/**
 * `SLUICE_RUNTIME_METRICS=1` adds Effect's fiber metrics to `/metrics` (off by default).
 *
 * @since 0.1.0
 */
export const runtimeMetrics: Effect.Effect<boolean> = Config.boolean("SLUICE_RUNTIME_METRICS").pipe(
  Config.withDefault(false),
  Config.withDescription("Add Effect's effect_fiber_* metrics to /metrics"),
  Effect.orElseSucceed(() => false)
)
