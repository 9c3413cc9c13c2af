/**
 * The `sluice` command and its subcommands.
 *
 * @since 0.1.0
 */
import { Command } from "@effect/cli"
import * as DemoCommand from "./DemoCommand.js"
import * as ExportCommand from "./ExportCommand.js"
import * as RetryCommand from "./RetryCommand.js"
import * as RunCommand from "./RunCommand.js"
import * as ServeCommand from "./ServeCommand.js"
import * as SimulateCommand from "./SimulateCommand.js"
import * as StatusCommand from "./StatusCommand.js"
import * as WorkerCommand from "./WorkerCommand.js"

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
