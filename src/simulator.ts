/**
 * `sluice/simulator`: an OpenAI-compatible upstream on loopback with real rate limits, for tests and demos.
 *
 * @since 0.1.0
 */
/** @since 0.1.0 */
export * as Simulator from "./Simulator/Simulator.js"

/** @since 0.1.0 */
export * as SimulatorResponder from "./Simulator/Responder.js"
