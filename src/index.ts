/**
 * sluice: push work items through slow, rate-limited upstreams — fetch → classify → process →
 * persist — with bounded concurrency, LLM-aware admission, typed errors, a durable queue and results
 * in input order.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Errors from "./Domain/Errors.js"
/** @since 0.1.0 */
export * as Item from "./Domain/Item.js"
/** @since 0.1.0 */
export * as Outcome from "./Domain/Outcome.js"
/** @since 0.1.0 */
export * as Run from "./Domain/Run.js"
/** @since 0.1.0 */
export * as RunConfig from "./Domain/RunConfig.js"

/** @since 0.1.0 */
export * as Fetcher from "./Stages/Fetcher.js"
/** @since 0.1.0 */
export * as Classifier from "./Stages/Classifier.js"
/** @since 0.1.0 */
export * as Processor from "./Stages/Processor.js"
/** @since 0.1.0 */
export * as Persister from "./Stages/Persister.js"
/** @since 0.1.0 */
export * as LlmClassifier from "./Stages/LlmClassifier.js"
/** @since 0.1.0 */
export * as LlmProcessor from "./Stages/LlmProcessor.js"

/** @since 0.1.0 */
export * as Pipeline from "./Engine/Pipeline.js"
/** @since 0.1.0 */
export * as Worker from "./Engine/Worker.js"
/** @since 0.1.0 */
export * as Policy from "./Engine/Policy.js"
/** @since 0.1.0 */
export * as Attempt from "./Engine/Attempt.js"
/** @since 0.1.0 */
export * as Progress from "./Engine/Progress.js"
/** @since 0.1.0 */
export * as OrderedOutput from "./Engine/OrderedOutput.js"

/** @since 0.1.0 */
export * as Store from "./Store/Store.js"
/** @since 0.1.0 */
export * as SqliteStore from "./Store/SqliteStore.js"
/** @since 0.1.0 */
export * as PgStore from "./Store/PgStore.js"

/** @since 0.1.0 */
export * as Llm from "./Llm/Llm.js"
/** @since 0.1.0 */
export * as OpenAi from "./Llm/OpenAi.js"
/** @since 0.1.0 */
export * as TokenEstimate from "./Llm/TokenEstimate.js"

/** @since 0.1.0 */
export * as JsonlFile from "./Sources/JsonlFile.js"
/** @since 0.1.0 */
export * as CsvFile from "./Sources/CsvFile.js"
/** @since 0.1.0 */
export * as FileSource from "./Sources/FileSource.js"
/** @since 0.1.0 */
export * as Imap from "./Sources/Imap.js"

/** @since 0.1.0 */
export * as DropDirectory from "./Sources/DropDirectory.js"
/** @since 0.1.0 */
export * as PagedHttp from "./Sources/PagedHttp.js"
/** @since 0.1.0 */
export * as SqlTablePersister from "./Stages/SqlTablePersister.js"
/** @since 0.1.0 */
export * as ProgressView from "./Cli/ProgressView.js"
/** @since 0.1.0 */
export * as ThreadPool from "./Stages/ThreadPool.js"

/** @since 0.1.0 */
export * as Admission from "./Engine/Admission.js"
/** @since 0.1.0 */
export * as CircuitBreaker from "./Engine/CircuitBreaker.js"
/** @since 0.1.0 */
export * as Budget from "./Engine/Budget.js"
/** @since 0.1.0 */
export * as LlmGoverned from "./Llm/LlmGoverned.js"
/** @since 0.1.0 */
export * as ResponseCache from "./Llm/ResponseCache.js"
/** @since 0.1.0 */
export * as Pricing from "./Llm/Pricing.js"

/** @since 0.1.0 */
export * as Service from "./Http/Service.js"
/** @since 0.1.0 */
export * as ServiceApi from "./Http/Api.js"
/** @since 0.1.0 */
export * as Metrics from "./Telemetry/Metrics.js"
/** @since 0.1.0 */
export * as Prometheus from "./Telemetry/Prometheus.js"

/** @since 0.1.0 */
export * as Simulator from "./Simulator/Simulator.js"
/** @since 0.1.0 */
export * as SimulatorResponder from "./Simulator/Responder.js"
