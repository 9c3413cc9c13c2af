/**
 * What the simulated model answers.
 *
 * The default answer is a pure function of the last user message, so a test of any component can
 * compute the expected result itself (`answerFor(text)`) and check that every item's answer came
 * back to the right item.
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import type { ChatMessage } from "../Llm/Llm.js"
import { textTokens } from "../Llm/TokenEstimate.js"

/**
 * The request as a responder sees it; `maxTokens` is the allowance in force (the default when the
 * request set none).
 *
 * @since 0.1.0
 * @category models
 */
export interface ResponderRequest {
  readonly model: string
  readonly messages: ReadonlyArray<ChatMessage>
  readonly maxTokens: number
}

/**
 * Produces the answer text of a chat completion.
 *
 * @since 0.1.0
 * @category models
 */
export type Responder = (request: ResponderRequest) => string

/**
 * The content of the last user message, or "" when there is none.
 *
 * @since 0.1.0
 */
export const lastUserMessage = (messages: ReadonlyArray<ChatMessage>): string => {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!
    if (m.role === "user") return m.content
  }
  return ""
}

/**
 * The default answer for a user message: the JSON text
 * `{"words":<word count>,"chars":<String length>,"digest":"<first 12 hex chars of sha256 (UTF-8)>"}`.
 * Words are runs of non-whitespace.
 *
 * @since 0.1.0
 */
export const answerFor = (text: string): string => {
  const trimmed = text.trim()
  const words = trimmed === "" ? 0 : trimmed.split(/\s+/).length
  const digest = createHash("sha256").update(text, "utf8").digest("hex").slice(0, 12)
  return JSON.stringify({ words, chars: text.length, digest })
}

/**
 * The default responder: `answerFor` the last user message.
 *
 * @since 0.1.0
 */
export const defaultResponder: Responder = (request) => answerFor(lastUserMessage(request.messages))

/**
 * A responder whose answers are `answerFor` the item padded to about `medianTokens` completion tokens:
 * between 0.75 and 1.25 times it, fixed per item by its text's digest, so a client that
 * learns the completion-length distribution has a spread to learn.
 *
 * @since 0.2.0
 */
export const paddedResponder =
  (medianTokens: number): Responder =>
  (request) => {
    const text = lastUserMessage(request.messages)
    const base = answerFor(text)
    const u = createHash("sha256").update(text, "utf8").digest().readUInt32BE(0) / 4_294_967_296
    const target = Math.max(textTokens(base), Math.round(medianTokens * (0.75 + 0.5 * u)))
    const pad = target * 4 - base.length
    return pad <= 1 ? base : `${base} ${"lorem ipsum dolor sit amet ".repeat(Math.ceil(pad / 27)).slice(0, pad - 1)}`
  }

/**
 * An answer fitted to its allowance: completion tokens are `textTokens(content)`, and an answer
 * longer than `maxTokens` is cut to fit and finishes with "length", as OpenAI's do.
 *
 * @since 0.1.0
 */
export const fit = (
  text: string,
  maxTokens: number
): { readonly content: string; readonly completionTokens: number; readonly finishReason: "stop" | "length" } => {
  const tokens = textTokens(text)
  if (tokens <= maxTokens) return { content: text, completionTokens: tokens, finishReason: "stop" }
  // textTokens is ceil(length / 4), so 4 characters a token is exactly maxTokens tokens.
  const content = text.slice(0, maxTokens * 4)
  return { content, completionTokens: textTokens(content), finishReason: "length" }
}
