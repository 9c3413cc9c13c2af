/**
 * How a CLI setting is read: from its flag, else its environment variable, else its default; and
 * how it is shown in `--help`: its meaning, then `[default: …] [env: …]`.
 *
 * `@effect/cli` can read a fallback from the environment (`Options.withFallbackConfig`), but its help
 * then says only "This option can be set from environment variables", without the variable's name,
 * and `Options.withDefault` shows a default only when it is an `Option`. Its number parsers refuse
 * `abc` without naming the flag, and accept `-5`, `0` or `1.5` wherever a number is asked for. So
 * every number setting is read here, through one parser that knows the flag's range and names the
 * flag (or the variable) that was wrong, in one line; a refused value is a usage error (exit 2)
 * before any work starts.
 *
 * @since 0.1.0
 */
import { Options } from "@effect/cli"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as ValidationError from "@effect/cli/ValidationError"
import { Config, Effect, Either, Option } from "effect"

/**
 * What a number setting accepts.
 *
 * @since 0.1.0
 */
export interface Range {
  /** Whole numbers only. */
  readonly integer: boolean
  /** The smallest value accepted (included), if any. */
  readonly min?: number | undefined
  /** The value must be more than this (excluded), if given. */
  readonly above?: number | undefined
  /** The largest value accepted (included), if any. */
  readonly max?: number | undefined
}

/**
 * A setting's environment variable, default (and how `--help` shows it) and meaning.
 *
 * @since 0.1.0
 */
export interface Spec<A> {
  readonly env?: string | undefined
  readonly default: A
  /** How the default reads in `--help`, when `String(default)` would not say it well. */
  readonly shown?: string | undefined
  readonly description: string
}

/**
 * A description followed by the default and the environment variable, as `--help` shows them.
 *
 * @since 0.1.0
 */
export const describe = (
  description: string,
  meta: { readonly default?: string | undefined; readonly env?: string | undefined }
): string =>
  [
    description,
    ...(meta.default === undefined ? [] : [`[default: ${meta.default}]`]),
    ...(meta.env === undefined ? [] : [`[env: ${meta.env}]`])
  ].join(" ")

/**
 * In words, what a range accepts: "a whole number, 1 or more".
 *
 * @since 0.1.0
 */
export const expected = (range: Range): string => {
  const kind = range.integer ? "a whole number" : "a number"
  const { min, above, max } = range
  if (min !== undefined && max !== undefined) return `${kind} from ${min} to ${max}`
  if (above !== undefined && max !== undefined) return `${kind} more than ${above}, up to ${max}`
  if (min !== undefined) return `${kind}, ${min} or more`
  if (above !== undefined) return `${kind} more than ${above}`
  if (max !== undefined) return `${kind}, ${max} or less`
  return kind
}

const INTEGER = /^[+-]?\d+$/
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i

/**
 * Reads `raw` as a number in `range`; `what` names where it came from (`--rpm`, `SLUICE_RPM`) in the
 * one-line error.
 *
 * @since 0.1.0
 */
export const parseNumber = (what: string, raw: string, range: Range): Either.Either<number, string> => {
  const text = raw.trim()
  const n = Number(text)
  const fits =
    (range.integer ? INTEGER.test(text) && Number.isSafeInteger(n) : DECIMAL.test(text) && Number.isFinite(n)) &&
    (range.min === undefined || n >= range.min) &&
    (range.above === undefined || n > range.above) &&
    (range.max === undefined || n <= range.max)
  return fits ? Either.right(n) : Either.left(`sluice: ${what} must be ${expected(range)} (got ${JSON.stringify(raw)})`)
}

const refuse = (message: string) => ValidationError.invalidValue(HelpDoc.p(message))

/** The variable's value; unset and empty are the same (`SLUICE_RPM= sluice run …`). */
const fromEnv = (name: string): Effect.Effect<Option.Option<string>> =>
  Config.string(name).pipe(
    Config.option,
    Effect.map(Option.filter((s) => s.trim() !== "")),
    Effect.orElseSucceed(() => Option.none<string>())
  )

/**
 * A setting read from `--name`, else from `env`, else nothing, and checked by `parse`.
 */
const read = <A>(
  name: string,
  pseudo: string,
  parse: (what: string, raw: string) => Either.Either<A, string>,
  env: string | undefined
): Options.Options<Option.Option<A>> =>
  Options.text(name).pipe(
    Options.withPseudoName(pseudo),
    Options.optional,
    Options.mapEffect((flag) => {
      const given = Option.isSome(flag)
        ? Effect.succeed(Option.some({ what: `--${name}`, raw: flag.value }))
        : env === undefined
          ? Effect.succeed(Option.none())
          : Effect.map(
              fromEnv(env),
              Option.map((raw) => ({ what: env, raw }))
            )
      return Effect.flatMap(
        given,
        Option.match({
          onNone: () => Effect.succeed(Option.none<A>()),
          onSome: ({ what, raw }) =>
            Either.match(parse(what, raw), {
              onLeft: (message) => Effect.fail(refuse(message)),
              onRight: (a) => Effect.succeed(Option.some(a))
            })
        })
      )
    })
  )

/**
 * A number setting with a default: `--name <n>`, else `spec.env`, else `spec.default`.
 *
 * @since 0.1.0
 */
export const number = (name: string, range: Range, spec: Spec<number>): Options.Options<number> =>
  read(name, range.integer ? "n" : "x", (what, raw) => parseNumber(what, raw, range), spec.env).pipe(
    Options.map(Option.getOrElse(() => spec.default)),
    Options.withDescription(describe(spec.description, { default: spec.shown ?? String(spec.default), env: spec.env }))
  )

/**
 * A number setting without a default (`--budget`): `Option.none()` when neither the flag nor
 * `spec.env` is given.
 *
 * @since 0.1.0
 */
export const optionalNumber = (
  name: string,
  range: Range,
  spec: Omit<Spec<number>, "default">
): Options.Options<Option.Option<number>> =>
  read(name, range.integer ? "n" : "x", (what, raw) => parseNumber(what, raw, range), spec.env).pipe(
    Options.withDescription(describe(spec.description, { default: spec.shown, env: spec.env }))
  )
