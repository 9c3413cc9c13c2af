/**
 * `sluice/cli`: the terminal progress view the `sluice` command shows, for hosts with their own command.
 *
 * @since 0.1.0
 */
/** @since 0.1.0 */
export * as ProgressView from "./Cli/ProgressView.js"
