/**
 * The governed Llm: wraps any Llm adapter (the raw one it requires) with the response cache, the
 * circuit breaker, the spending budget and admission, and provides the Llm port again. Per call:
 *
 * 1. cache: a hit is answered with `cached: true`: no upstream call, no admission, no budget;
 * 2. circuit breaker: open → `CircuitOpen` at once (only `Transient` failures below count against it);
 * 3. the completion allowance: the caller's `maxTokens`, else the one learned from the answers
 *    (`CompletionLength.ts`); budget and admission reserve this same figure;
 * 4. budget: the prompt estimate plus the allowance priced → `OverBudget` when it would pass the limit;
 * 5. admission: one request, prompt + allowance tokens (the prompt and the allowance apart, for an
 *    upstream with separate input and output limits);
 * 6. the call. Success: settle admission with the answer's `usage`, resync from the headers, charge
 *    the actual cost. An answer cut off at the allowance (`finish_reason: "length"`) is never stored:
 *    with a learned allowance it is asked again with twice the room (at most `MAX_ALLOWANCE`); with
 *    the caller's own it fails as `Invalid` (reason "Output"), since more room was not allowed.
 *    Otherwise the answer is stored in the cache. `RateLimited`: pause admission for everyone until
 *    `retry-after` (and resync), refund, fail again so the engine retries without spending an attempt.
 *    `Transient` / `Invalid`: refund and fail again; a 500 (the upstream failed after admitting and
 *    counting the call) settles admission with the prompt tokens instead of refunding them.
 *
 * OpenAI (and the simulator) answer a request larger than the token limit could ever admit with a
 * 429 "Request too large" and no `retry-after`: waiting would never help, so it becomes
 * `Invalid { reason: "TooLarge" }` here instead of a pause.
 *
 * Admission wait is not put on the response: it is on the span (`sluice.admission.wait_ms`), in
 * `Admission.state.totalWaitMs` and in the metric `sluice_admission_wait_ms_total`.
 *
 * @since 0.1.0
 */
import { Cause, Effect, Exit, Layer, Option } from "effect"
import { Invalid, type RateLimited } from "../Domain/Errors.js"
import { Admission } from "../Governor/Admission.js"
import { Budget } from "../Governor/Budget.js"
import { CircuitBreaker } from "../Governor/CircuitBreaker.js"
import { type ChatRequest, type ChatResponse, Llm, type LlmError } from "./Llm.js"
import { Pricing } from "../Governor/Pricing.js"
import { CompletionLength, retryAllowance } from "./CompletionLength.js"
import { hashRequest, ResponseCache } from "./ResponseCache.js"
import { promptTokens } from "./TokenEstimate.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Answer repeated requests from `ResponseCache` (and store new answers in it). Default true. */
  readonly cache?: boolean | undefined
}

/**
 * Services the governed layer needs besides the cache.
 *
 * @since 0.1.0
 */
export type Requirements = Llm | Admission | CircuitBreaker | Budget | Pricing

// The SDK prefixes the status: "429 Request too large for gpt-4o-mini on tokens per min (TPM): …".
const TOO_LARGE = /^(?:429\s+)?Request too large\b/i

/**
 * True for the 429 that no wait can cure: the request is larger than the token limit admits at once.
 *
 * @since 0.1.0
 */
export const isTooLarge = (error: RateLimited): boolean => TOO_LARGE.test(error.message)

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<Llm["Type"], never, Requirements | ResponseCache> =>
  Effect.gen(function* () {
    const inner = yield* Llm
    const admission = yield* Admission
    const breaker = yield* CircuitBreaker
    const budget = yield* Budget
    const pricing = yield* Pricing
    const cache = options.cache === false ? undefined : yield* ResponseCache

    /** One learner per model: answer lengths differ between models. */
    const lengths = new Map<string, CompletionLength>()
    const lengthOf = (model: string): CompletionLength => {
      let l = lengths.get(model)
      if (l === undefined) lengths.set(model, (l = new CompletionLength()))
      return l
    }

    /** Budget, admission and the call, with every reservation settled or given back whatever happens. */
    const upstream = (
      request: ChatRequest,
      /** The allowance asked for; `learned` may lower it before sending, and `sent` says what went. */
      sent: { maxTokens: number },
      learned: CompletionLength | undefined
    ): Effect.Effect<ChatResponse, LlmError> => {
      const prompt = promptTokens(request.messages)
      const maxTokens = sent.maxTokens
      const estimateUsd = pricing.cost(request.model, { promptTokens: prompt, completionTokens: maxTokens })
      return Effect.uninterruptibleMask((restore) =>
        Effect.gen(function* () {
          const hold = yield* budget.reserve(estimateUsd)
          const ticket = yield* restore(
            admission.acquire({
              requests: 1,
              tokens: prompt + maxTokens,
              inputTokens: prompt,
              outputTokens: maxTokens
            })
          ).pipe(Effect.onError(() => budget.release(hold)))
          yield* Effect.annotateCurrentSpan("sluice.admission.wait_ms", ticket.waitedMs)
          // Calls queue with the allowance known when they arrived; the first answers may have taught
          // a smaller one meanwhile. Sending the smaller one and giving the difference back keeps a
          // queue of guesses from spending the token budget (see CompletionLength's first look).
          const now = learned?.allowance() ?? maxTokens
          if (now < maxTokens) {
            sent.maxTokens = now
            yield* admission.lower(ticket, { tokens: prompt + now, inputTokens: prompt, outputTokens: now })
          }
          const exit = yield* Effect.exit(restore(inner.complete({ ...request, maxTokens: sent.maxTokens })))
          if (Exit.isSuccess(exit)) {
            const response = exit.value
            yield* admission.settle(ticket, response.usage)
            if (response.rateLimit !== undefined) yield* admission.resync(response.rateLimit)
            yield* budget.settle(hold, pricing.cost(response.model, response.usage))
            return response
          }
          const failure = Cause.failureOption(exit.cause)
          const rateLimited = Option.isSome(failure) && failure.value._tag === "RateLimited" ? failure.value : undefined
          const tooLarge = rateLimited !== undefined && isTooLarge(rateLimited)
          // Pause before the refund wakes anyone.
          if (rateLimited !== undefined && !tooLarge) {
            yield* admission.pause(rateLimited.retryAfterMs, ticket)
            if (rateLimited.rateLimit !== undefined) yield* admission.resync(rateLimited.rateLimit)
          }
          // A 500 is the upstream failing while processing: it admitted the call and counted its prompt
          // (the simulator does). Giving the prompt back too would leave our bucket above the upstream's
          // until the next answer's headers, and a call admitted meanwhile at the margin earns a 429.
          // 502/503/504 come from a gateway or an overloaded front, before anything is counted.
          if (Option.isSome(failure) && failure.value._tag === "Transient" && failure.value.status === 500) {
            yield* admission.settle(ticket, prompt)
          } else {
            yield* admission.refund(ticket)
          }
          yield* budget.release(hold)
          if (tooLarge) {
            return yield* new Invalid({ reason: "TooLarge", status: 429, message: rateLimited.message })
          }
          return yield* exit
        })
      )
    }

    const complete = Effect.fn("LlmGoverned.complete")(function* (request: ChatRequest) {
      const hash = cache === undefined ? undefined : hashRequest(request)
      // "refresh": the caller could not use the last answer, so ask again and replace it.
      if (cache !== undefined && hash !== undefined && request.cache !== "refresh") {
        const hit = yield* cache.get(hash)
        yield* Effect.annotateCurrentSpan("sluice.cache", Option.isSome(hit) ? "hit" : "miss")
        if (Option.isSome(hit)) return { ...hit.value, cached: true } satisfies ChatResponse
      }
      const learned = request.maxTokens === undefined ? lengthOf(request.model) : undefined
      let allowance = request.maxTokens ?? learned!.allowance()
      let response: ChatResponse
      let first = true
      for (;;) {
        const sent = { maxTokens: allowance }
        // Only a first ask may be lowered: a re-ask after a cut-off needs the room it asks for.
        response = yield* breaker.protect(upstream(request, sent, first ? learned : undefined))
        allowance = sent.maxTokens
        first = false
        const cutOff = response.finishReason === "length"
        learned?.observe(response.usage.completionTokens, allowance, cutOff)
        if (!cutOff) break
        const more = learned === undefined ? undefined : retryAllowance(allowance)
        yield* Effect.annotateCurrentSpan("sluice.llm.cut_off_at", allowance)
        if (more === undefined) {
          return yield* new Invalid({
            reason: "Output",
            message:
              learned === undefined
                ? `the answer was cut off at max_tokens ${allowance} (finish_reason "length"); raise --max-tokens, or leave it unset to have it learned`
                : `the answer was cut off even at max_tokens ${allowance} (finish_reason "length")`
          })
        }
        yield* Effect.logDebug(`llm: answer cut off at max_tokens ${allowance}, asking again with ${more}`)
        allowance = more
      }
      if (cache !== undefined && hash !== undefined) {
        const { content, model, output, usage } = response
        yield* cache.put(hash, { content, output, usage, model })
      }
      return { ...response, cached: false } satisfies ChatResponse
    })

    return Llm.of({ complete })
  })

/**
 * The governed Llm over the raw one it requires:
 * `LlmGoverned.layer().pipe(Layer.provide(OpenAi.layerConfig))`, with Admission, CircuitBreaker,
 * Budget, Pricing and (unless `cache: false`) ResponseCache provided by the composition root.
 *
 * @since 0.1.0
 * @category layers
 */
export function layer(options: Options & { readonly cache: false }): Layer.Layer<Llm, never, Requirements>
export function layer(options?: Options): Layer.Layer<Llm, never, Requirements | ResponseCache>
export function layer(options: Options = {}): Layer.Layer<Llm, never, Requirements | ResponseCache> {
  return Layer.effect(Llm, make(options))
}
