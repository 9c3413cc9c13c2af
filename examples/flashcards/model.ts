/**
 * The simulated model: plays both stages for the in-process simulator, deterministically, so a test
 * can compute every item's flashcard itself (`expectedFlashcard`).
 *
 * It tells the stages apart by their system prompt, as a real model follows whichever task it is
 * given. Stage 1 knows each term's part of speech from the lexicon (a model's knowledge, not part of the
 * item) and makes an example from it; stage 2 writes the card from stage 1's analysis alone, so a card
 * is right only if the analysis reached it intact.
 */
import { createHash } from "node:crypto"
import { SimulatorResponder } from "sluice/simulator"
import { ANALYSE_SYSTEM, type Analysis, type Card, CARD_SYSTEM, type Flashcard } from "./processor.js"
import { lexicon, type PartOfSpeech, type Term } from "./vocabulary.js"

const GENDER = { der: "masculine", die: "feminine", das: "neuter" } as const
const ACCUSATIVE = { der: "den", die: "die", das: "das" } as const

/** "cousin (male)" → "cousin"; "to know (a fact)" → "to know". */
const plain = (gloss: string) => gloss.replace(/\s*\([^)]*\)/g, "").trim()
const capitalise = (s: string) => s.charAt(0).toUpperCase() + s.slice(1)
/** A stable choice among a few templates, so examples vary from term to term. */
const pick = (term: string, n: number) => createHash("sha256").update(term).digest()[0]! % n

const partOfSpeech = (term: string, gloss: string): PartOfSpeech => {
  const known = lexicon.get(term)
  if (known !== undefined) return known
  if (/^(der|die|das) /.test(term)) return "noun"
  return gloss.startsWith("to ") ? "verb" : "adjective"
}

const example = (term: string, gloss: string, pos: PartOfSpeech): readonly [string, string] => {
  const english = plain(gloss)
  switch (pos) {
    case "noun": {
      const [article, ...rest] = term.split(" ")
      const noun = rest.join(" ")
      const accusative = ACCUSATIVE[article as keyof typeof ACCUSATIVE] ?? article
      return (
        [
          [`Wo ist ${term}?`, `Where is the ${english}?`],
          [`Ich sehe ${accusative} ${noun}.`, `I see the ${english}.`],
          [`${capitalise(term)} ist hier.`, `The ${english} is here.`]
        ] as const
      )[pick(term, 3)]!
    }
    case "verb": {
      const base = english.replace(/^to /, "")
      return (
        [
          [`Ich möchte heute ${term}.`, `I would like to ${base} today.`],
          [`Wir müssen jetzt ${term}.`, `We have to ${base} now.`],
          [`Kannst du morgen ${term}?`, `Can you ${base} tomorrow?`]
        ] as const
      )[pick(term, 3)]!
    }
    case "adjective":
      return (
        [
          [`Das ist sehr ${term}.`, `That is very ${english}.`],
          [`Es ist nicht ${term}.`, `It is not ${english}.`]
        ] as const
      )[pick(term, 2)]!
    case "adverb":
      return [`„${capitalise(term)}“, sagte sie.`, `“${capitalise(english)},” she said.`]
  }
}

/** Stage 1: what the model answers for a term. */
export const analyse = (term: string, gloss: string): Analysis => {
  const pos = partOfSpeech(term, gloss)
  const article = term.split(" ")[0] as keyof typeof GENDER
  const gender = pos === "noun" ? (GENDER[article] ?? null) : null
  const [de, en] = example(term, gloss, pos)
  return {
    term,
    lemma: pos === "noun" ? term.split(" ").slice(1).join(" ") : term,
    partOfSpeech: pos,
    gender,
    meaning: gloss,
    example: de,
    exampleTranslation: en
  }
}

/** Stage 2: the card the model writes from an analysis. */
export const write = (analysis: Analysis): Card => ({
  front: analysis.term,
  back: analysis.meaning,
  grammar: analysis.gender === null ? analysis.partOfSpeech : `${analysis.partOfSpeech}, ${analysis.gender}`,
  example: analysis.example,
  exampleTranslation: analysis.exampleTranslation,
  tags: analysis.gender === null ? ["de", analysis.partOfSpeech] : ["de", analysis.partOfSpeech, analysis.gender]
})

/** The output line an item should end with. */
export const expectedFlashcard = (t: Term): Flashcard => {
  const analysis = analyse(t.term, t.gloss)
  return { term: t.term, analysis, card: write(analysis) }
}

const parse = (text: string): Record<string, unknown> | undefined => {
  try {
    const v: unknown = JSON.parse(text)
    return typeof v === "object" && v !== null ? (v as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

/**
 * The responder: stage 1 or stage 2 by the system prompt; anything else gets an answer neither stage's
 * Schema accepts, as an off-task model would give.
 */
export const responder: SimulatorResponder.Responder = (request) => {
  const system = request.messages.find((m) => m.role === "system")?.content
  const user = parse(SimulatorResponder.lastUserMessage(request.messages))
  if (user === undefined || typeof user["term"] !== "string" || typeof user["gloss"] !== "string") {
    return JSON.stringify({ error: "I need a JSON object with a term and a gloss." })
  }
  if (system === ANALYSE_SYSTEM) return JSON.stringify(analyse(user["term"], user["gloss"]))
  if (system === CARD_SYSTEM && typeof user["analysis"] === "object" && user["analysis"] !== null) {
    return JSON.stringify(write(user["analysis"] as Analysis))
  }
  return JSON.stringify({ error: "unknown task" })
}
