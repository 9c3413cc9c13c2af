/**
 * A token estimate for admission, made before a request is sent.
 *
 * OpenAI's own rule of thumb is about four characters of English per token, plus a few tokens of
 * framing per message. The estimate only reserves budget: the response's `usage` settles it, so a
 * tokenizer's exactness would buy little and cost a large dependency. The simulator counts with this
 * same function, so its ledger and ours agree.
 *
 * @since 0.1.0
 */
import type { ChatMessage } from "./Llm.js"

const PER_MESSAGE = 4
const PER_REQUEST = 3

/**
 * Tokens in a text: one per four characters, rounded up.
 *
 * @since 0.1.0
 */
export const textTokens = (text: string): number => Math.ceil(text.length / 4)

/**
 * Prompt tokens of a chat request.
 *
 * @since 0.1.0
 */
export const promptTokens = (messages: ReadonlyArray<ChatMessage>): number => {
  let n = PER_REQUEST
  for (const m of messages) n += PER_MESSAGE + textTokens(m.content)
  return n
}

/**
 * What a request may cost at most: its prompt plus the completion it allows. This is what upstreams
 * count against a tokens-per-minute limit when they admit a request.
 *
 * @since 0.1.0
 */
export const requestTokens = (messages: ReadonlyArray<ChatMessage>, maxTokens: number): number =>
  promptTokens(messages) + maxTokens

/**
 * The completion allowance assumed when a request sets no `max_tokens`.
 *
 * @since 0.1.0
 */
export const DEFAULT_MAX_TOKENS = 256
