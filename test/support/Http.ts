/**
 * Plain HTTP reads for tests against a real server on loopback.
 */
import { Effect } from "effect"

/** GET `url` and parse its JSON body; a test reads whichever fields it checks. */
export const getJson = (url: string) =>
  Effect.promise(() => fetch(url, { signal: AbortSignal.timeout(10_000) }).then((r) => r.json() as Promise<any>))
