/**
 * The `sluice` command and its subcommands.
 *
 * @since 0.1.0
 */
import { Command } from "@effect/cli"
import * as DemoCommand from "./Commands/Demo.js"
import * as ExportCommand from "./Commands/Export.js"
import * as RetryCommand from "./Commands/Retry.js"
import * as RunCommand from "./Commands/Run.js"
import * as ServeCommand from "./Commands/Serve.js"
import * as SimulateCommand from "./Commands/Simulate.js"
import * as StatusCommand from "./Commands/Status.js"
import * as WorkerCommand from "./Commands/Worker.js"

/** @since 0.1.0 */
export const sluice = Command.make("sluice").pipe(
  Command.withDescription("Push work items through slow, rate-limited upstreams: durable, ordered, typed"),
  Command.withSubcommands([
    RunCommand.command,
    DemoCommand.command,
    SimulateCommand.command,
    StatusCommand.command,
    RetryCommand.command,
    ExportCommand.command,
    WorkerCommand.command,
    ServeCommand.command
  ])
)

/** @since 0.1.0 */
export const run = Command.run(sluice, { name: "sluice", version: "0.1.0" })
