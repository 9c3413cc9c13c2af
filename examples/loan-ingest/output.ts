/**
 * The case's output file: one JSON line per loan, in input order. Both paths — the old sequential
 * loop and the pipeline — write their lines with these two functions, so the files can be compared
 * byte for byte.
 */

/** A processed loan. */
export const completedLine = (loan: string, result: unknown): string =>
  JSON.stringify({ loan, status: "completed", result }) + "\n"

/** A loan whose function threw: the error's tag (`Invalid`, `Transient`) and message. */
export const failedLine = (loan: string, tag: string, message: string): string =>
  JSON.stringify({ loan, status: "failed", error: { tag, message } }) + "\n"
