/**
 * OpenAI's chat-completions wire format, as far as the simulator speaks it: the request body it
 * decodes and the success and error bodies it answers with.
 *
 * @since 0.1.0
 */
import { Either, ParseResult, Schema } from "effect"
import type { ChatMessage } from "../Llm/Llm.js"

const TextPart = Schema.Struct({ type: Schema.Literal("text"), text: Schema.String })

const Message = Schema.Struct({
  // "developer" is what newer OpenAI models call "system"; "tool" messages are not simulated.
  role: Schema.Literal("system", "developer", "user", "assistant").annotations({
    message: () => ({ message: 'expected one of "system", "developer", "user", "assistant".', override: true })
  }),
  content: Schema.Union(Schema.String, Schema.Array(TextPart)).annotations({
    message: () => ({ message: "expected a string or an array of text parts.", override: true })
  })
})

const TokenLimit = Schema.optional(Schema.NullOr(Schema.Int.pipe(Schema.greaterThanOrEqualTo(1))))

/**
 * The request fields the simulator reads; others are accepted and ignored, as OpenAI ignores
 * parameters that do not apply.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ChatCompletionBody = Schema.Struct({
  model: Schema.String.pipe(Schema.minLength(1)),
  messages: Schema.Array(Message).pipe(Schema.minItems(1)),
  max_tokens: TokenLimit,
  max_completion_tokens: TokenLimit,
  temperature: Schema.optional(Schema.NullOr(Schema.Number.pipe(Schema.between(0, 2)))),
  response_format: Schema.optional(Schema.Struct({ type: Schema.Literal("text", "json_object", "json_schema") })),
  stream: Schema.optional(Schema.NullOr(Schema.Boolean))
})

/**
 * A decoded request.
 *
 * @since 0.1.0
 * @category models
 */
export interface ChatCompletion {
  readonly model: string
  readonly messages: ReadonlyArray<ChatMessage>
  /** `max_completion_tokens`, else `max_tokens`, else undefined. */
  readonly maxTokens: number | undefined
}

/**
 * Why a body was refused: the message names the field, `param` is OpenAI's path to it.
 *
 * @since 0.1.0
 * @category models
 */
export interface BodyError {
  readonly message: string
  readonly param: string | null
}

const decodeBody = Schema.decodeUnknownEither(ChatCompletionBody)

const messageOf = (m: typeof Message.Type): ChatMessage => ({
  role: m.role === "developer" ? "system" : m.role,
  content: typeof m.content === "string" ? m.content : m.content.map((part) => part.text).join("")
})

/** `["messages", 0, "content"]` → "messages[0].content" for people, "messages.[0].content" for `param`. */
const pathText = (path: ReadonlyArray<PropertyKey>, separator: string): string =>
  path.map((k, i) => (typeof k === "number" ? `${separator}[${k}]` : `${i === 0 ? "" : "."}${String(k)}`)).join("")

/**
 * Parses and decodes a request body.
 *
 * @since 0.1.0
 */
export const decodeChatCompletion = (text: string): Either.Either<ChatCompletion, BodyError> => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return Either.left({
      message: "We could not parse the JSON body of your request: the body must be a JSON object.",
      param: null
    })
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return Either.left({ message: "The request body must be a JSON object.", param: null })
  }
  const decoded = decodeBody(json)
  if (Either.isLeft(decoded)) {
    const issue = ParseResult.ArrayFormatter.formatErrorSync(decoded.left)[0]
    const path = issue?.path ?? []
    const field = pathText(path, "")
    const param = path.length === 0 ? null : pathText(path, ".")
    const message =
      issue === undefined
        ? "Invalid request body."
        : issue._tag === "Missing"
          ? `Missing required parameter: '${field}'.`
          : `Invalid value for '${field}': ${issue.message}`
    return Either.left({ message, param })
  }
  const body = decoded.right
  if (body.stream === true) {
    return Either.left({
      message: "Invalid value for 'stream': the simulator does not stream answers.",
      param: "stream"
    })
  }
  return Either.right({
    model: body.model,
    messages: body.messages.map(messageOf),
    maxTokens: body.max_completion_tokens ?? body.max_tokens ?? undefined
  })
}

/**
 * OpenAI's error body.
 *
 * @since 0.1.0
 */
export const errorBody = (
  message: string,
  type: string,
  options: { readonly param?: string | null; readonly code?: string | null } = {}
) => ({ error: { message, type, param: options.param ?? null, code: options.code ?? null } })

/**
 * A chat completion's success body.
 *
 * @since 0.1.0
 */
export const completionBody = (options: {
  readonly id: string
  readonly model: string
  readonly content: string
  readonly finishReason: "stop" | "length"
  readonly promptTokens: number
  readonly completionTokens: number
}) => ({
  id: options.id,
  object: "chat.completion",
  created: Math.floor(Date.now() / 1000),
  model: options.model,
  choices: [
    {
      index: 0,
      message: { role: "assistant", content: options.content, refusal: null },
      logprobs: null,
      finish_reason: options.finishReason
    }
  ],
  usage: {
    prompt_tokens: options.promptTokens,
    completion_tokens: options.completionTokens,
    total_tokens: options.promptTokens + options.completionTokens
  }
})
