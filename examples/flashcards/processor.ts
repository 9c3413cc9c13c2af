/**
 * The flashcard processor: two LLM stages per vocabulary item, the second fed by the first.
 *
 * 1. analyse: the term and its gloss in, the analysis out (part of speech, gender, meaning, an example);
 * 2. write: the term, its gloss and stage 1's decoded analysis in, the flashcard out.
 *
 * Each stage is an `LlmProcessor` with its own system prompt and Schema: an answer that does not decode
 * is asked again past the cache, then the item fails `Invalid`. Both stages go through the same
 * governed Llm (admission, breaker, cache, budget), so a rerun is answered by the cache, and a retry of
 * stage 2 does not pay for stage 1 again. The item's `Usage` adds both stages' tokens, cost and cache
 * hits, for the run's metrics.
 */
import { Effect, Layer, ParseResult, Schema } from "effect"
import { Errors, Llm, LlmProcessor, Pricing, Processor, type Item, type Usage } from "sluice"

/** An input line: `{"id":"de-0001","term":"das Haus","gloss":"house"}`. */
export const Term = Schema.Struct({
  id: Schema.String,
  term: Schema.NonEmptyTrimmedString,
  gloss: Schema.NonEmptyTrimmedString
})
export type Term = typeof Term.Type

export const PartOfSpeech = Schema.Literal("noun", "verb", "adjective", "adverb")

/** Stage 1's answer. */
export const Analysis = Schema.Struct({
  term: Schema.String,
  lemma: Schema.String,
  partOfSpeech: PartOfSpeech,
  gender: Schema.NullOr(Schema.Literal("masculine", "feminine", "neuter")),
  meaning: Schema.String,
  example: Schema.String,
  exampleTranslation: Schema.String
})
export type Analysis = typeof Analysis.Type

/** Stage 2's answer. */
export const Card = Schema.Struct({
  front: Schema.String,
  back: Schema.String,
  grammar: Schema.String,
  example: Schema.String,
  exampleTranslation: Schema.String,
  tags: Schema.Array(Schema.String)
})
export type Card = typeof Card.Type

/** An item's output, one line of the output file. */
export const Flashcard = Schema.Struct({ term: Schema.String, analysis: Analysis, card: Card })
export type Flashcard = typeof Flashcard.Type

export const ANALYSE_SYSTEM = [
  "You are a German lexicographer. The user message is a JSON object {term, gloss}: a German term",
  "(nouns with their article) and its English gloss. Answer with one JSON object and nothing else:",
  '{"term": the term as given, "lemma": the term without its article, "partOfSpeech": "noun" | "verb" |',
  '"adjective" | "adverb", "gender": "masculine" | "feminine" | "neuter" for nouns else null,',
  '"meaning": the English meaning, "example": a short German sentence using the term,',
  '"exampleTranslation": that sentence in English}.'
].join(" ")

export const CARD_SYSTEM = [
  "You write flashcards for learners of German. The user message is a JSON object {term, gloss, analysis}",
  "where analysis is a lexicographer's analysis of the term. Answer with one JSON object and nothing else:",
  '{"front": the German term, "back": the English meaning, "grammar": a short grammar note such as',
  '"noun, neuter", "example": the German example, "exampleTranslation": its English translation,',
  '"tags": ["de", part of speech, gender when there is one]}.'
].join(" ")

export interface FlashcardOptions {
  /** The model both stages ask. */
  readonly model: string
  /** Completion allowance per answer; the answers are about 60–90 tokens. Default 256. */
  readonly maxTokens?: number | undefined
}

const noUsage: Usage.Usage = { tokensIn: 0, tokensOut: 0, costUsd: 0, cacheHits: 0, cacheMisses: 0 }

const decodeTerm = Schema.decodeUnknown(Term)

/**
 * The processor over any Llm: `price` turns a response into USD for the item's usage.
 */
export const make = (
  options: FlashcardOptions,
  llm: Llm.Llm["Type"],
  price: (response: Llm.ChatResponse) => number
): Processor.Processor["Type"] => {
  const common = {
    model: options.model,
    maxTokens: options.maxTokens ?? 256,
    temperature: 0,
    json: true,
    decodeAttempts: 2,
    price
  }
  // The default render sends the item's payload as JSON, so each stage gets exactly the payload below.
  const analyse = LlmProcessor.make({ ...common, system: ANALYSE_SYSTEM, decode: Analysis }, llm)
  const write = LlmProcessor.make({ ...common, system: CARD_SYSTEM, decode: Card }, llm)

  const process = Effect.fn("Flashcards.process")(function* (
    item: Item.Item,
    route: Parameters<Processor.Processor["Type"]["process"]>[1]
  ) {
    const { gloss, term } = yield* decodeTerm(item.payload).pipe(
      Effect.mapError(
        (e) =>
          new Errors.Invalid({
            reason: "Input",
            message: `item ${item.key} is not a vocabulary item: ${ParseResult.TreeFormatter.formatErrorSync(e)}`
          })
      )
    )
    const first = yield* analyse.process({ ...item, payload: { term, gloss } }, route)
    // LlmProcessor decoded the answer with `Analysis`; its output is that Schema's type.
    const analysis = first.output as Analysis
    const second = yield* write.process({ ...item, payload: { term, gloss, analysis } }, route)
    const card = second.output as Card
    return {
      output: { term, analysis, card } satisfies Flashcard,
      usage: LlmProcessor.addUsage(first.usage ?? noUsage, second.usage ?? noUsage)
    } satisfies Processor.Processed
  })

  return Processor.Processor.of({ process })
}

/**
 * The processor over the governed Llm, priced with the same table the budget uses.
 */
export const layer = (options: FlashcardOptions): Layer.Layer<Processor.Processor, never, Llm.Llm | Pricing.Pricing> =>
  Layer.effect(
    Processor.Processor,
    Effect.gen(function* () {
      const llm = yield* Llm.Llm
      const pricing = yield* Pricing.Pricing
      return make(options, llm, (response) => pricing.cost(response.model, response.usage))
    })
  )
