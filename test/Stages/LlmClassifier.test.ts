import { describe, expect, it } from "@effect/vitest"
import { Effect, Ref } from "effect"
import type { Item } from "../../src/Domain/Item.js"
import { Llm, parseAnswer, type ChatRequest } from "../../src/Llm/Llm.js"
import * as LlmClassifier from "../../src/Stages/LlmClassifier.js"

const item = (payload: unknown): Item => ({ run: "r", seq: 0, key: "k", payload, deliveries: 1, attempts: 0 })

/** A model that labels by keyword and reports usage, recording what it was asked. */
const model = (asked: Ref.Ref<Array<ChatRequest>>, cached = false) =>
  Llm.of({
    complete: (request) =>
      Effect.as(
        Ref.update(asked, (xs) => [...xs, request]),
        {
          content: request.messages.at(-1)!.content.includes("quote") ? '{"label": "Offer_Request"}' : "other.",
          output: parseAnswer(
            request.messages.at(-1)!.content.includes("quote") ? '{"label": "Offer_Request"}' : "other."
          ),
          usage: { promptTokens: 40, completionTokens: 6, totalTokens: 46 },
          model: request.model,
          cached
        }
      )
  })

describe("LlmClassifier", () => {
  it.effect("processes the labels it is told to, skips the rest with the label as reason, and reports usage", () =>
    Effect.gen(function* () {
      const asked = yield* Ref.make<Array<ChatRequest>>([])
      const classifier = LlmClassifier.make(
        { model: "m", system: "Label the mail.", process: ["offer_request"], price: () => 0.002 },
        model(asked)
      )
      const offer = yield* classifier.classify(item({ body: "please send a quote" }))
      expect(offer).toMatchObject({ _tag: "Process", label: "offer_request" })
      expect(offer.usage).toEqual({ tokensIn: 40, tokensOut: 6, costUsd: 0.002, cacheHits: 0, cacheMisses: 1 })
      const other = yield* classifier.classify(item({ body: "newsletter" }))
      expect(other).toMatchObject({ _tag: "Skip", reason: "classified as other" })
      // The task is the system prompt, the item its user message, and a JSON answer is asked for.
      const [first] = yield* Ref.get(asked)
      expect(first?.messages.map((m) => m.role)).toEqual(["system", "user"])
      expect(first?.messages[1]?.content).toBe(JSON.stringify({ body: "please send a quote" }))
      expect(first?.json).toBe(true)
    })
  )

  it.effect("a cached answer costs nothing and counts as a cache hit", () =>
    Effect.gen(function* () {
      const asked = yield* Ref.make<Array<ChatRequest>>([])
      const classifier = LlmClassifier.make(
        { model: "m", system: "s", process: ["x"], price: () => 1 },
        model(asked, true)
      )
      const route = yield* classifier.classify(item({ body: "quote" }))
      expect(route.usage).toEqual({ tokensIn: 0, tokensOut: 0, costUsd: 0, cacheHits: 1, cacheMisses: 0 })
    })
  )

  it("reads labels from the shapes models answer in", () => {
    expect(LlmClassifier.labelOf({ label: " Offer " })).toBe("offer")
    expect(LlmClassifier.labelOf({ category: "Tracking" })).toBe("tracking")
    expect(LlmClassifier.labelOf('"noise".')).toBe("noise")
  })
})
