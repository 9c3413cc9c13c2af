/**
 * The run's spending budget. A call that would pass it fails with `OverBudget` before it is made;
 * the engine then hands the item back to pending and stops the session, so the run can resume later
 * with a larger budget.
 *
 * Concurrent calls reserve their estimate (`reserve`) and settle it with the actual cost, so twenty
 * calls in flight cannot each pass a check that only one of them fits.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Ref } from "effect"
import { OverBudget } from "../Domain/Errors.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface BudgetOptions {
  /** The most the run may spend, in USD; unlimited when undefined. */
  readonly limitUsd?: number | undefined
  /** What the run already spent in earlier sessions, in USD. Default 0. */
  readonly spentUsd?: number | undefined
}

/**
 * An estimate held against the budget until settled or released (each at most once).
 *
 * @since 0.1.0
 */
export interface Hold {
  readonly estimatedUsd: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface BudgetState {
  readonly limitUsd: number | undefined
  readonly spentUsd: number
  /** Estimates of calls in flight. */
  readonly reservedUsd: number
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Budget extends Context.Tag("sluice/Engine/Budget")<
  Budget,
  {
    /** Fails when spent + held + `estimatedUsd` would pass the limit; holds nothing. */
    readonly check: (estimatedUsd: number) => Effect.Effect<void, OverBudget>
    /** Adds spending. */
    readonly add: (actualUsd: number) => Effect.Effect<void>
    /** `check`, then holds the estimate until `settle` or `release`. */
    readonly reserve: (estimatedUsd: number) => Effect.Effect<Hold, OverBudget>
    /** Replaces a hold by the actual cost. */
    readonly settle: (hold: Hold, actualUsd: number) => Effect.Effect<void>
    /** Drops a hold: the call cost nothing. */
    readonly release: (hold: Hold) => Effect.Effect<void>
    readonly state: Effect.Effect<BudgetState>
  }
>() {}

class Held implements Hold {
  done = false
  constructor(readonly estimatedUsd: number) {}
}

interface Spending {
  readonly spentUsd: number
  readonly reservedUsd: number
}

const usd = (n: number): string => `$${n.toFixed(n < 1 ? 4 : 2)}`

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: BudgetOptions = {}): Effect.Effect<Budget["Type"]> =>
  Effect.gen(function* () {
    const limitUsd = options.limitUsd
    const ref = yield* Ref.make<Spending>({ spentUsd: Math.max(0, options.spentUsd ?? 0), reservedUsd: 0 })
    const amount = (n: number) => (Number.isFinite(n) ? Math.max(0, n) : 0)

    const over = (s: Spending, estimate: number) =>
      limitUsd !== undefined && s.spentUsd + s.reservedUsd + estimate > limitUsd
        ? new OverBudget({
            budgetUsd: limitUsd,
            spentUsd: s.spentUsd,
            message:
              `the budget of ${usd(limitUsd)} would be passed: ${usd(s.spentUsd)} spent, ` +
              `${usd(s.reservedUsd)} in flight, this call may cost ${usd(estimate)}`
          })
        : undefined

    const reserve = (estimatedUsd: number): Effect.Effect<Hold, OverBudget> =>
      Effect.flatten(
        Ref.modify(ref, (s): readonly [Effect.Effect<Hold, OverBudget>, Spending] => {
          const estimate = amount(estimatedUsd)
          const error = over(s, estimate)
          return error !== undefined
            ? [Effect.fail(error), s]
            : [Effect.succeed(new Held(estimate)), { ...s, reservedUsd: s.reservedUsd + estimate }]
        })
      )

    const finish = (hold: Hold, actualUsd: number) =>
      Effect.suspend(() => {
        if (!(hold instanceof Held) || hold.done) return Effect.void
        hold.done = true
        return Ref.update(ref, (s) => ({
          spentUsd: s.spentUsd + amount(actualUsd),
          reservedUsd: Math.max(0, s.reservedUsd - hold.estimatedUsd)
        }))
      })

    return Budget.of({
      check: (estimatedUsd) =>
        Effect.flatMap(Ref.get(ref), (s) => {
          const error = over(s, amount(estimatedUsd))
          return error === undefined ? Effect.void : Effect.fail(error)
        }),
      add: (actualUsd) => Ref.update(ref, (s) => ({ ...s, spentUsd: s.spentUsd + amount(actualUsd) })),
      reserve,
      settle: finish,
      release: (hold) => finish(hold, 0),
      state: Effect.map(Ref.get(ref), (s) => ({ limitUsd, ...s }))
    })
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: BudgetOptions = {}): Layer.Layer<Budget> => Layer.effect(Budget, make(options))
