/**
 * `sluice/imap`: a mailbox as a source. Loads `imapflow` and `mailparser`, which the root entry does not.
 *
 * @since 0.1.0
 */
/** @since 0.1.0 */
export * as Imap from "./Sources/Imap.js"
