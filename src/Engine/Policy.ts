/**
 * The one place that decides what each stage error means. `Match.tagsExhaustive` makes a new error
 * tag a compile error here until someone decides its action.
 *
 * @since 0.1.0
 */
import { Match } from "effect"
import type { StageError } from "../Domain/Errors.js"

/**
 * - `Pause`: wait `ms` (everyone waits: the upstream said so), then try again without spending an attempt;
 * - `Retry`: spend an attempt and try again after a backoff (at least `ms` when the upstream named one);
 * - `Hold`: hand the item back to pending untouched and stop claiming until `untilMs`;
 * - `Stop`: hand the item back to pending and stop the session (budget reached, upstream unusable);
 * - `Fail`: the item ends `Failed`, kept for inspection and `sluice retry`.
 *
 * @since 0.1.0
 */
export type Action =
  | { readonly _tag: "Pause"; readonly ms: number }
  | { readonly _tag: "Retry"; readonly ms: number }
  | { readonly _tag: "Hold"; readonly untilMs: number }
  | { readonly _tag: "Stop" }
  | { readonly _tag: "Fail" }

/**
 * @since 0.1.0
 */
export const decide: (error: StageError) => Action = Match.type<StageError>().pipe(
  Match.tagsExhaustive({
    RateLimited: (e): Action => ({ _tag: "Pause", ms: e.retryAfterMs }),
    Transient: (e): Action => ({ _tag: "Retry", ms: e.retryAfterMs ?? 0 }),
    Invalid: (): Action => ({ _tag: "Fail" }),
    CircuitOpen: (e): Action => ({ _tag: "Hold", untilMs: e.retryAtMs }),
    OverBudget: (): Action => ({ _tag: "Stop" }),
    UpstreamUnusable: (): Action => ({ _tag: "Stop" })
  })
)
