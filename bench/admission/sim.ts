/**
 * The benchmark's simulator, in its own process so that the contenders' CPU does not delay its
 * timers (and its latencies) on the same event loop. Options come as one JSON argument; the URL is
 * printed as the first line on stdout. It runs until the parent kills it.
 *
 * Usage: node --import tsx bench/admission/sim.ts '{"rpm":6000,"tpm":1200000,…}'
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import * as Simulator from "../../src/Simulator/Simulator.js"
import type { SimulatorOptions } from "../../src/Simulator/Options.js"

const options = JSON.parse(process.argv[2] ?? "{}") as SimulatorOptions

Effect.scoped(
  Effect.gen(function* () {
    const sim = yield* Simulator.make({ ...options, port: 0 })
    yield* Effect.sync(() => process.stdout.write(`${sim.url}\n`))
    return yield* Effect.never
  })
).pipe(NodeRuntime.runMain)
