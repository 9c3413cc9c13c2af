/**
 * The Llm port: one chat completion. Adapters (`OpenAi.ts`, test stubs) provide it; the governed
 * layer (`LlmGoverned.ts`) wraps any of them with admission, the circuit breaker and the cache.
 *
 * @since 0.1.0
 */
import { Context, type Effect } from "effect"
import type { RateLimitSnapshot, StageError } from "../Domain/Errors.js"
import type { TokenCounts } from "../Domain/TokenCounts.js"

/** @since 0.1.0 */
export interface ChatMessage {
  readonly role: "system" | "user" | "assistant"
  readonly content: string
}

/** @since 0.1.0 */
export interface ChatRequest {
  readonly model: string
  readonly messages: ReadonlyArray<ChatMessage>
  readonly maxTokens?: number | undefined
  readonly temperature?: number | undefined
  /** Ask for a JSON object answer (`response_format: json_object`). */
  readonly json?: boolean | undefined
  /**
   * How a response cache treats this request: "use" (default) answers from the cache when it can;
   * "refresh" asks the upstream and replaces the cached answer (a retry after an answer was unusable).
   * Not part of the cache key.
   */
  readonly cache?: "use" | "refresh" | undefined
}

/** @since 0.1.0 */
export type { TokenCounts }

/** @since 0.1.0 */
export interface ChatResponse {
  /** The answer text as sent. */
  readonly content: string
  /** The answer parsed as JSON when it is JSON, else the text itself. */
  readonly output: unknown
  readonly usage: TokenCounts
  readonly model: string
  /**
   * Why the answer ended, as the upstream said (`finish_reason`): "stop", or "length" when it was cut
   * off at `max_tokens`; undefined when the upstream did not say (or for a cached answer).
   */
  readonly finishReason?: string | undefined
  /** The upstream's `x-ratelimit-*` headers, when it sent them. */
  readonly rateLimit?: RateLimitSnapshot | undefined
  /** True when the answer came from the response cache and cost no upstream call. */
  readonly cached: boolean
}

/** @since 0.1.0 */
export type LlmError = StageError

/**
 * @since 0.1.0
 * @category tags
 */
export class Llm extends Context.Tag("sluice/Llm/Llm")<
  Llm,
  {
    readonly complete: (request: ChatRequest) => Effect.Effect<ChatResponse, LlmError>
  }
>() {}

/**
 * Parses an answer as JSON when it is JSON (an object, array, number, …), else keeps the text.
 * Models often wrap JSON in a Markdown fence; that is unwrapped first.
 *
 * @since 0.1.0
 */
export const parseAnswer = (content: string): unknown => {
  const trimmed = content.trim()
  const fenced = /^```(?:json)?\s*([\s\S]*?)\s*```$/.exec(trimmed)
  const body = fenced?.[1] ?? trimmed
  if (body.length === 0) return content
  const first = body[0]
  if (
    first !== "{" &&
    first !== "[" &&
    first !== '"' &&
    !/^[-\d]/.test(body) &&
    body !== "true" &&
    body !== "false" &&
    body !== "null"
  ) {
    return content
  }
  try {
    return JSON.parse(body)
  } catch {
    return content
  }
}
