/**
 * `sluice/service`: the long-running service as a Layer (workers, inbox, drop directory, HTTP API,
 * dashboard), its API description, and the metrics it exposes.
 *
 * @since 0.1.0
 */
/** @since 0.1.0 */
export * as Service from "./Service/Service.js"

/** @since 0.1.0 */
export * as ServiceApi from "./Http/Api.js"

/** @since 0.1.0 */
export * as Metrics from "./Telemetry/Metrics.js"

/** @since 0.1.0 */
export * as Prometheus from "./Telemetry/Prometheus.js"
