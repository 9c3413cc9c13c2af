/**
 * A CLI failure with its exit code: 1 when the job could not run, 2 for bad usage.
 *
 * @since 0.1.0
 */
import { Data } from "effect"

/** @since 0.1.0 */
export class CliError extends Data.TaggedError("CliError")<{
  readonly message: string
  readonly exitCode: 1 | 2
}> {}

/**
 * Whether an interruption (SIGINT/SIGTERM) ends the process successfully. A service stopping on
 * SIGTERM has done its job (exit 0); a run cut short by Ctrl-C has not (exit 130).
 *
 * @since 0.1.0
 */
export const interruption = { isSuccess: false }

/** @since 0.1.0 */
export const usage = (message: string) => new CliError({ message, exitCode: 2 })
/** @since 0.1.0 */
export const failure = (message: string) => new CliError({ message, exitCode: 1 })
