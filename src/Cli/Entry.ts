/**
 * The CLI's entry point, loaded by `bin.ts` once the V8 flags are set.
 *
 * @since 0.1.0
 */
import * as ValidationError from "@effect/cli/ValidationError"
// Deep imports: the package barrels load every module they list (the platform-node one alone costs
// about 30 MB and a quarter of a second), and a CLI start should pay only for what it runs.
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Console, Effect, Exit, Logger, LogLevel } from "effect"
import { interruption } from "./CliError.js"
import { failureText } from "../Domain/FailureText.js"
import * as Color from "./Color.js"
import * as Main from "./Main.js"
import * as Tracing from "../Telemetry/Tracing.js"

const level = (process.env["SLUICE_LOG_LEVEL"] ?? "warning").toLowerCase()
const minimum = LogLevel.allLevels.find((l) => l.label.toLowerCase() === level) ?? LogLevel.Warning

// Help and usage errors come from @effect/cli with colour codes; they reach a pipe without them.
Console.consoleWith((base) => Effect.withConsole(Main.run(process.argv), Color.console(base))).pipe(
  Effect.catchAll((error) =>
    Effect.sync(() => {
      if (ValidationError.isValidationError(error)) {
        // @effect/cli has already printed what was wrong with the command line.
        process.exitCode = 2
      } else if (typeof error === "object" && error !== null && "_tag" in error && error._tag === "CliError") {
        const e = error as unknown as { message: string; exitCode: number }
        process.stderr.write(e.message + "\n")
        process.exitCode = e.exitCode
      } else {
        process.stderr.write(`sluice: ${failureText(error)}\n`)
        process.exitCode = 1
      }
    })
  ),
  Effect.catchAllDefect((defect) =>
    Effect.sync(() => {
      // One line, with the underlying cause (e.g. SQLite's own message), not only the wrapper's.
      process.stderr.write(`sluice: unexpected failure: ${failureText(defect, { named: true })}\n`)
      process.exitCode = 1
    })
  ),
  Logger.withMinimumLogLevel(minimum),
  Effect.provide(
    Logger.replace(Logger.defaultLogger, Logger.prettyLogger({ stderr: true, colors: Color.enabled(process.stderr) }))
  ),
  Effect.provide(Tracing.layer),
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({
    disableErrorReporting: true,
    // Interrupted by a signal: 130 (the shell's convention for Ctrl-C), unless the command treats a
    // signal as its normal stop (a service).
    teardown: (exit, onExit) => {
      const code = Exit.isSuccess(exit)
        ? Number(process.exitCode ?? 0)
        : Cause.isInterruptedOnly(exit.cause)
          ? interruption.isSuccess
            ? 0
            : 130
          : 1
      // The OTLP exporter's request and retry timers to a collector that is down would hold the
      // exit for ~10 s more; the spans were already given up (and said so). What was written to
      // stdout and stderr is flushed first.
      if (Tracing.abandoned.spans) process.stdout.write("", () => process.stderr.write("", () => process.exit(code)))
      else onExit(code)
    }
  })
)
