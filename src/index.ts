/**
 * sluice: push work items through slow, rate-limited upstreams — fetch → classify → process →
 * persist — with bounded concurrency, LLM-aware admission, typed errors, a durable queue and results
 * in input order.
 *
 * The root entry is the core: the domain, the stage ports, the engine and the store port. It loads no
 * database driver, mail client or LLM client; each adapter has its own entry (`sluice/sqlite`,
 * `sluice/postgres`, `sluice/openai`, `sluice/llm`, `sluice/imap`, `sluice/http`, `sluice/files`,
 * `sluice/service`, `sluice/simulator`, `sluice/cli`, `sluice/thread-pool`), so a host pays only for
 * what it uses.
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
export * as Upstream from "./Domain/Upstream.js"
/** @since 0.1.0 */
export * as Usage from "./Domain/Usage.js"

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
export * as MemoryStore from "./Store/MemoryStore.js"
/** @since 0.1.0 */
export * as Llm from "./Llm/Llm.js"
/** @since 0.1.0 */
export * as TokenEstimate from "./Llm/TokenEstimate.js"

/** @since 0.1.0 */
export * as Admission from "./Governor/Admission.js"
/** @since 0.1.0 */
export * as CircuitBreaker from "./Governor/CircuitBreaker.js"
/** @since 0.1.0 */
export * as Budget from "./Governor/Budget.js"
/** @since 0.1.0 */
export * as Pricing from "./Governor/Pricing.js"
