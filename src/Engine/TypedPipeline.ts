/**
 * A pipeline whose payloads and outputs have a Schema, so host stages receive decoded values instead
 * of `unknown` and nothing casts.
 *
 * The store keeps payloads and outputs as JSON, so the schemas sit at the stages' edges: the stages
 * made here decode an item's payload before the host's function sees it and encode the host's output
 * before the store does. A payload that does not decode, or an output that does not encode, is the
 * item's `Invalid` failure (kept for inspection, never retried: the same bytes would fail again),
 * never a crash and never a silent cast. The engine itself is unchanged: `Pipeline.run` runs these
 * layers like any other.
 *
 * @since 0.1.0
 */
import { Effect, Layer, ParseResult, Schema, Stream } from "effect"
import { Invalid, type StageError } from "../Domain/Errors.js"
import { type Item, SourceRecord } from "../Domain/Item.js"
import { Classifier, type Route } from "../Stages/Classifier.js"
import { Fetcher, noAck } from "../Stages/Fetcher.js"
import { Persister } from "../Stages/Persister.js"
import { type Processed, Processor } from "../Stages/Processor.js"
import type { Usage } from "../Domain/Usage.js"

/**
 * An item whose payload has been decoded.
 *
 * @since 0.1.0
 */
export type TypedItem<P> = Omit<Item, "payload"> & { readonly payload: P }

/**
 * What a typed processor returns: the output, or the output with what producing it cost.
 *
 * @since 0.1.0
 */
export type TypedProcessed<O> = O | { readonly output: O; readonly usage?: Usage | undefined }

/**
 * The schemas of a pipeline. Their context must be empty: a stage decodes without services.
 *
 * @since 0.1.0
 */
export interface TypedOptions<P, PI, O, OI> {
  readonly payload: Schema.Schema<P, PI>
  readonly output: Schema.Schema<O, OI>
}

/**
 * Stage layers for one payload and output type.
 *
 * @since 0.1.0
 */
export interface TypedPipeline<P, O> {
  /** Decodes an item's payload; a mismatch is `Invalid` (reason `Input`) naming the item. */
  readonly decode: (item: Item) => Effect.Effect<TypedItem<P>, Invalid>
  /** Decodes an output as the store keeps it (its JSON, parsed), e.g. a row of `Store.results`. */
  readonly decodeOutput: (output: unknown) => Effect.Effect<O, Invalid>
  /**
   * A source of typed records. Each payload is encoded on its way into the store; one that does not
   * encode is recorded as a failed item (with its position as its line), not dropped.
   */
  readonly fetcher: (
    records: Stream.Stream<{ readonly key: string; readonly payload: P }, StageError>,
    options?: {
      readonly ack?: ((items: ReadonlyArray<Item>) => Effect.Effect<void, StageError>) | undefined
      readonly live?: boolean | undefined
    }
  ) => Layer.Layer<Fetcher>
  readonly classifier: (f: (item: TypedItem<P>) => Route | Effect.Effect<Route, StageError>) => Layer.Layer<Classifier>
  readonly processor: (
    f: (item: TypedItem<P>, route: Extract<Route, { _tag: "Process" }>) => Effect.Effect<TypedProcessed<O>, StageError>
  ) => Layer.Layer<Processor>
  readonly persister: (f: (item: TypedItem<P>, output: O) => Effect.Effect<void, StageError>) => Layer.Layer<Persister>
}

const firstLines = (error: ParseResult.ParseError) =>
  ParseResult.TreeFormatter.formatErrorSync(error).split("\n").slice(0, 3).join(" ")

const isProcessed = <O>(value: TypedProcessed<O>, output: Schema.Schema<O, unknown>): value is { output: O } =>
  typeof value === "object" &&
  value !== null &&
  "output" in value &&
  // An output type that itself has an `output` field is taken as the output, not as its wrapper.
  !Schema.is(output)(value)

/**
 * Stage layers that hand host functions decoded payloads and store their outputs encoded.
 *
 * ```ts
 * const Tickets = Pipeline.make({ payload: Ticket, output: Triage })
 * const Stages = Layer.mergeAll(
 *   Tickets.classifier((item) => (item.payload.body === "" ? Route.skip("empty") : Route.process())),
 *   Tickets.processor((item) => triage(item.payload)) // item.payload: Ticket; returns Triage
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <P, PI, O, OI>(options: TypedOptions<P, PI, O, OI>): TypedPipeline<P, O> => {
  const decodePayload = Schema.decodeUnknown(options.payload)
  const encodePayload = Schema.encode(options.payload)
  const decodeOut = Schema.decodeUnknown(options.output)
  const encodeOut = Schema.encode(options.output)
  const outputSchema = options.output as unknown as Schema.Schema<O, unknown>

  const decode = (item: Item): Effect.Effect<TypedItem<P>, Invalid> =>
    decodePayload(item.payload).pipe(
      Effect.map((payload) => ({ ...item, payload })),
      Effect.mapError(
        (error) =>
          new Invalid({
            reason: "Input",
            message: `item "${item.key}": the payload does not match its schema: ${firstLines(error)}`
          })
      )
    )

  const decodeOutput = (output: unknown): Effect.Effect<O, Invalid> =>
    decodeOut(output).pipe(
      Effect.mapError(
        (error) =>
          new Invalid({ reason: "Output", message: `the output does not match its schema: ${firstLines(error)}` })
      )
    )

  const fetcher: TypedPipeline<P, O>["fetcher"] = (records, fetcherOptions = {}) =>
    Layer.succeed(
      Fetcher,
      Fetcher.of({
        records: records.pipe(
          Stream.zipWithIndex,
          Stream.mapEffect(([r, i]) =>
            encodePayload(r.payload).pipe(
              Effect.match({
                onFailure: (error) =>
                  SourceRecord.malformed(r.key, i + 1, `the payload does not encode: ${firstLines(error)}`),
                onSuccess: (payload) => SourceRecord.record(r.key, payload)
              })
            )
          )
        ),
        ack: fetcherOptions.ack ?? noAck,
        live: fetcherOptions.live === true
      })
    )

  const classifier: TypedPipeline<P, O>["classifier"] = (f) =>
    Layer.succeed(
      Classifier,
      Classifier.of({
        classify: (item) =>
          Effect.flatMap(decode(item), (typed) => {
            const route = f(typed)
            return Effect.isEffect(route) ? route : Effect.succeed(route)
          })
      })
    )

  const processor: TypedPipeline<P, O>["processor"] = (f) =>
    Layer.succeed(
      Processor,
      Processor.of({
        process: (item, route) =>
          Effect.gen(function* () {
            const typed = yield* decode(item)
            const result = yield* f(typed, route)
            const [output, usage] = isProcessed(result, outputSchema)
              ? [result.output, result.usage]
              : [result as O, undefined]
            const encoded = yield* encodeOut(output).pipe(
              Effect.mapError(
                (error) =>
                  new Invalid({
                    reason: "Output",
                    message: `item "${item.key}": the output does not match its schema: ${firstLines(error)}`
                  })
              )
            )
            const processed: Processed = { output: encoded, usage }
            return processed
          })
      })
    )

  const persister: TypedPipeline<P, O>["persister"] = (f) =>
    Layer.succeed(
      Persister,
      Persister.of({
        persist: (item, output) =>
          Effect.gen(function* () {
            const typed = yield* decode(item)
            return yield* f(typed, yield* decodeOutput(output))
          })
      })
    )

  return { decode, decodeOutput, fetcher, classifier, processor, persister }
}
