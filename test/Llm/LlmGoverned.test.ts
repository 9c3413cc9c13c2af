import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Option, Ref, TestClock } from "effect"
import { RateLimited, Transient, type RateLimitSnapshot } from "../../src/Domain/Errors.js"
import * as Admission from "../../src/Governor/Admission.js"
import * as Budget from "../../src/Governor/Budget.js"
import * as CircuitBreaker from "../../src/Governor/CircuitBreaker.js"
import { type ChatRequest, type ChatResponse, Llm, type LlmError } from "../../src/Llm/Llm.js"
import * as LlmGoverned from "../../src/Llm/LlmGoverned.js"
import * as Pricing from "../../src/Governor/Pricing.js"
import * as ResponseCache from "../../src/Llm/ResponseCache.js"
import { Bucket } from "../../src/Simulator/Bucket.js"

// A stub upstream stands in for the adapter; every test runs on TestClock.

const request = (content: string, extra: Partial<ChatRequest> = {}): ChatRequest => ({
  model: "gpt-4o-mini",
  messages: [{ role: "user", content }],
  maxTokens: 100,
  ...extra
})

const answer = (req: ChatRequest, completionTokens = 50, rateLimit?: RateLimitSnapshot): ChatResponse => ({
  content: `answer to ${req.messages[0]!.content}`,
  output: `answer to ${req.messages[0]!.content}`,
  usage: { promptTokens: 9, completionTokens, totalTokens: 9 + completionTokens },
  model: req.model,
  rateLimit,
  cached: false
})

/** An upstream that answers with `reply` and counts its calls. */
const stub = (reply: (req: ChatRequest, call: number) => Effect.Effect<ChatResponse, LlmError>) =>
  Effect.map(Ref.make(0), (calls) => ({
    calls,
    llm: Llm.of({
      complete: (req) =>
        Effect.flatMap(
          Ref.updateAndGet(calls, (n) => n + 1),
          (n) => reply(req, n)
        )
    })
  }))

interface Setup {
  readonly admission?: Admission.AdmissionOptions
  readonly breaker?: CircuitBreaker.CircuitBreakerOptions
  readonly budget?: Budget.BudgetOptions
  readonly cache?: boolean
}

/** The governed Llm over `inner`, with its parts at hand for inspection. */
const governed = (inner: Llm["Type"], setup: Setup = {}) =>
  Effect.gen(function* () {
    const admission = yield* Admission.make({
      windowMs: 1000,
      startFull: true,
      ...(setup.admission ?? { rpm: 6_000, tpm: 600_000 })
    })
    const breaker = yield* CircuitBreaker.make(setup.breaker)
    const budget = yield* Budget.make(setup.budget)
    const cache = yield* ResponseCache.makeMemory()
    const llm = yield* LlmGoverned.make({ cache: setup.cache ?? true }).pipe(
      Effect.provideService(Llm, inner),
      Effect.provideService(Admission.Admission, admission),
      Effect.provideService(CircuitBreaker.CircuitBreaker, breaker),
      Effect.provideService(Budget.Budget, budget),
      Effect.provideService(Pricing.Pricing, Pricing.make()),
      Effect.provideService(ResponseCache.ResponseCache, cache)
    )
    return { llm, admission, breaker, budget }
  })

describe("LlmGoverned", () => {
  it.scoped("a cache hit makes no upstream call and waits for no admission; the key is model + messages + params", () =>
    Effect.gen(function* () {
      const upstream = yield* stub((req) => Effect.succeed(answer(req)))
      // Composed as the CLI would: the governed layer over the raw one. 60 RPM: one call per second.
      const layer = LlmGoverned.layer().pipe(
        Layer.provide(
          Layer.mergeAll(
            Layer.succeed(Llm, upstream.llm),
            Admission.layer({ rpm: 60, startFull: true }),
            CircuitBreaker.layer(),
            Budget.layer(),
            Pricing.layer(),
            ResponseCache.layerMemory
          )
        )
      )
      return yield* Effect.gen(function* () {
        const llm = yield* Llm
        const first = yield* llm.complete(request("hello", { temperature: 0 }))
        assert.isFalse(first.cached)
        // The bucket is empty now: anything that asks admission waits a second.
        const hit = yield* Effect.fork(llm.complete(request("hello", { temperature: 0 })))
        yield* TestClock.adjust("1 millis")
        const cached = Option.getOrThrow(yield* Fiber.poll(hit))
        assert.isTrue(Exit.isSuccess(cached))
        if (Exit.isSuccess(cached)) {
          assert.isTrue(cached.value.cached)
          assert.strictEqual(cached.value.content, first.content)
          assert.deepStrictEqual(cached.value.usage, first.usage)
        }
        assert.strictEqual(yield* Ref.get(upstream.calls), 1)
        // Another temperature is another key: a miss, which waits for admission and calls upstream.
        const miss = yield* Effect.fork(llm.complete(request("hello", { temperature: 0.7 })))
        yield* TestClock.adjust("1 millis")
        assert.isTrue(Option.isNone(yield* Fiber.poll(miss)))
        yield* TestClock.adjust("1 second")
        assert.isFalse((yield* Fiber.join(miss)).cached)
        assert.strictEqual(yield* Ref.get(upstream.calls), 2)
      }).pipe(Effect.provide(layer))
    })
  )

  it.scoped("settles admission against what the upstream charged and resyncs from believable headers", () =>
    Effect.gen(function* () {
      let headers: RateLimitSnapshot | undefined
      const upstream = yield* stub((req) => Effect.succeed(answer(req, 11, headers)))
      const { admission, budget, llm } = yield* governed(upstream.llm, { admission: { rpm: 6_000, tpm: 60_000 } })
      // Reserved 9 + 100 tokens, used 20: no refund is assumed until the upstream shows one, 891 left.
      yield* llm.complete(request("hello"))
      assert.closeTo((yield* admission.state).tokenLevel!, 891, 1e-9)
      // Both readings are plausible (within our ledger of 218 tokens and 2 requests plus slack), but with
      // no 429 behind them they lower the levels only to what our own ledger says.
      headers = { limitTokens: 60_000, remainingTokens: 59_500, limitRequests: 6_000, remainingRequests: 5_990 }
      yield* llm.complete(request("again"))
      const s = yield* admission.state
      assert.strictEqual(s.tokenLevel, 1_000 - 218)
      assert.strictEqual(s.requestLevel, 98)
      // Charged at the actual usage: 2 × (9 × 0.15 + 11 × 0.60) / 1e6.
      assert.closeTo((yield* budget.state).spentUsd, (2 * (9 * 0.15 + 11 * 0.6)) / 1e6, 1e-15)
      assert.strictEqual((yield* budget.state).reservedUsd, 0)
    })
  )

  it.scoped("a 429 pauses admission for everyone until retry-after, refunds, and fails again as RateLimited", () =>
    Effect.gen(function* () {
      const upstream = yield* stub((req, n) =>
        n === 2
          ? Effect.fail(new RateLimited({ retryAfterMs: 2_000, message: "429 Rate limit reached for gpt-4o-mini" }))
          : Effect.succeed(answer(req))
      )
      const { admission, llm } = yield* governed(upstream.llm, { admission: { rpm: 6_000, tpm: 60_000 } })
      // One answer first: a 429 for a call sent before any answer is the blind first wave's, which
      // pauses as this one does but shrinks no window (AdmissionDialects.test.ts).
      yield* llm.complete(request("first"))
      const error = yield* Effect.flip(llm.complete(request("hello")))
      assert.strictEqual(error._tag, "RateLimited")
      const s = yield* admission.state
      assert.strictEqual(s.pausedUntilMs, 2_000)
      // The reservation came back (to a bucket now half a second: the 429 halved the window).
      assert.strictEqual(s.windowMs, 500)
      assert.strictEqual(s.tokenLevel, s.tokenCapacity)
      const others = yield* Effect.fork(
        Effect.all([llm.complete(request("a")), llm.complete(request("b"))], { concurrency: 2 })
      )
      yield* TestClock.setTime(1_999)
      assert.isTrue(Option.isNone(yield* Fiber.poll(others)))
      yield* TestClock.setTime(2_000)
      assert.strictEqual((yield* Fiber.join(others)).length, 2)
      assert.strictEqual(yield* Ref.get(upstream.calls), 4)
    })
  )

  it.scoped('"Request too large" (a 429 no wait can cure) becomes Invalid TooLarge and pauses nobody', () =>
    Effect.gen(function* () {
      const upstream = yield* stub(() =>
        Effect.fail(
          new RateLimited({
            retryAfterMs: 1_000,
            message: "429 Request too large for gpt-4o-mini on tokens per min (TPM): Limit 6000, Requested 9000."
          })
        )
      )
      const { admission, llm } = yield* governed(upstream.llm)
      const error = yield* Effect.flip(llm.complete(request("hello")))
      assert.strictEqual(error._tag, "Invalid")
      assert.strictEqual(error._tag === "Invalid" && error.reason, "TooLarge")
      assert.strictEqual((yield* admission.state).pausedUntilMs, 0)
    })
  )

  it.scoped("Transient failures open the breaker; then CircuitOpen comes at once, without an upstream call", () =>
    Effect.gen(function* () {
      const upstream = yield* stub(() =>
        Effect.fail(new Transient({ reason: "Status", status: 502, message: "bad gateway" }))
      )
      const { admission, breaker, llm } = yield* governed(upstream.llm, {
        breaker: { minimumCalls: 2, failureRatio: 0.5, coolDownMs: 5_000, tripOnlyAfterSuccess: false }
      })
      assert.strictEqual((yield* Effect.flip(llm.complete(request("a"))))._tag, "Transient")
      assert.strictEqual((yield* Effect.flip(llm.complete(request("b"))))._tag, "Transient")
      const open = yield* Effect.flip(llm.complete(request("c")))
      assert.strictEqual(open._tag, "CircuitOpen")
      assert.strictEqual(open._tag === "CircuitOpen" && open.retryAtMs, 5_000)
      assert.strictEqual(yield* Ref.get(upstream.calls), 2)
      assert.strictEqual(yield* breaker.trips, 1)
      assert.strictEqual((yield* admission.state).tokenLevel, 10_000) // both reservations refunded
    })
  )

  it.scoped("budget: OverBudget once the estimate would pass the limit, and the upstream is not called", () =>
    Effect.gen(function* () {
      const upstream = yield* stub((req) => Effect.succeed(answer(req, 50)))
      // Estimate per call: (9 × 0.15 + 100 × 0.60) / 1e6 = 0.00006135; actual: (9 × 0.15 + 50 × 0.60) / 1e6.
      const { budget, llm } = yield* governed(upstream.llm, { budget: { limitUsd: 0.0001 } })
      yield* llm.complete(request("one"))
      yield* llm.complete(request("two")) // 0.00003135 spent + 0.00006135 ≤ 0.0001
      const error = yield* Effect.flip(llm.complete(request("tri"))) // 0.0000627 + 0.00006135 > 0.0001
      assert.strictEqual(error._tag, "OverBudget")
      if (error._tag === "OverBudget") {
        assert.strictEqual(error.budgetUsd, 0.0001)
        assert.closeTo(error.spentUsd, 0.0000627, 1e-12)
      }
      assert.strictEqual(yield* Ref.get(upstream.calls), 2)
      assert.strictEqual((yield* budget.state).reservedUsd, 0)
    })
  )

  it.effect("Budget on its own: check fails once spent + estimate would pass the limit; add spends", () =>
    Effect.gen(function* () {
      const budget = yield* Budget.make({ limitUsd: 1, spentUsd: 0.5 })
      yield* budget.check(0.5)
      yield* budget.add(0.25)
      assert.strictEqual((yield* Effect.flip(budget.check(0.3)))._tag, "OverBudget")
      yield* budget.check(0.25)
      // A hold counts against later checks until it is settled.
      const hold = yield* budget.reserve(0.2)
      assert.strictEqual((yield* Effect.flip(budget.check(0.1)))._tag, "OverBudget")
      yield* budget.settle(hold, 0.05)
      yield* budget.check(0.2)
      assert.closeTo((yield* budget.state).spentUsd, 0.8, 1e-12)
      const unlimited = yield* Budget.make({})
      yield* unlimited.check(1e9)
    })
  )

  it.scoped(
    "with no limits and no headers, discovery converges near the upstream's true limit and 429s become rare",
    () =>
      Effect.gen(function* () {
        const TRUE_RPM = 120
        // The upstream enforces its own one-second bucket, like OpenAI and the simulator, and sends no
        // rate-limit headers: only a 429 with a whole-second retry-after.
        const bucket = new Bucket(TRUE_RPM, 0, 1)
        const accepted: Array<number> = []
        const refused: Array<number> = []
        const upstream = Llm.of({
          complete: (req) =>
            Effect.clockWith((clock) => {
              const now = clock.unsafeCurrentTimeMillis()
              const wait = bucket.waitMs(1, now)
              if (wait > 0) {
                refused.push(now)
                return Effect.fail(
                  new RateLimited({ retryAfterMs: Math.ceil(wait / 1_000) * 1_000, message: "429 Rate limit reached" })
                )
              }
              bucket.take(1, now)
              accepted.push(now)
              return Effect.succeed(answer(req))
            })
        })
        const { admission, llm } = yield* governed(upstream, { admission: {}, cache: false })
        assert.strictEqual((yield* admission.state).rpmSource, "discovered")
        // Eight callers that always have work.
        for (let i = 0; i < 8; i++)
          yield* Effect.forkScoped(Effect.forever(Effect.ignore(llm.complete(request(`w${i}`)))))
        const SECONDS = 600
        for (let t = 0; t < SECONDS; t += 10) yield* TestClock.adjust("10 seconds")

        const from = (SECONDS - 240) * 1_000
        const inWindow = (xs: Array<number>) => xs.filter((x) => x >= from).length
        const rate = inWindow(accepted) / (240 * (TRUE_RPM / 60))
        assert.isAtLeast(rate, 0.7, `admitted ${(rate * 100).toFixed(1)}% of the true limit`)
        assert.isAtMost(rate, 1.01)
        // 429s become rare: early on discovery overshoots; in the last four minutes, at most 1 in 50 calls.
        assert.isAtMost(inWindow(refused), inWindow(accepted) / 50, `${inWindow(refused)} 429s in the window`)
        assert.isAbove(refused.length, 0) // it did have to find the limit by hitting it
        const s = yield* admission.state
        assert.isAbove(s.discoveredRpm!, TRUE_RPM * 0.7)
        assert.isBelow(s.discoveredRpm!, TRUE_RPM * 1.3)
      })
  )
})

describe("LlmGoverned max_tokens", () => {
  it.scoped(
    'a "length" finish is asked again with twice the room and never cached; a set max_tokens fails instead',
    () =>
      Effect.gen(function* () {
        const asked: Array<number | undefined> = []
        // Answers need 300 tokens: anything less is cut off.
        const upstream = yield* stub((req) =>
          Effect.sync(() => {
            asked.push(req.maxTokens)
            const cut = (req.maxTokens ?? 0) < 300
            return { ...answer(req, cut ? req.maxTokens! : 300), finishReason: cut ? "length" : "stop" }
          })
        )
        const { llm } = yield* governed(upstream.llm, { admission: { rpm: 6_000, tpm: 6_000_000 } })
        const learned = yield* llm.complete(request("long", { maxTokens: undefined }))
        assert.strictEqual(learned.finishReason, "stop")
        assert.deepStrictEqual(asked, [256, 512], "the learned start (256) is cut off, then asked with 512")
        // The complete answer was cached, not the cut one.
        assert.strictEqual((yield* llm.complete(request("long", { maxTokens: undefined }))).usage.completionTokens, 300)
        assert.strictEqual(asked.length, 2)
        // With the caller's own max_tokens, no more room is taken: the item fails, nothing is stored.
        const error = yield* Effect.flip(llm.complete(request("set", { maxTokens: 100 })))
        assert.strictEqual(error._tag, "Invalid")
        assert.match(error.message, /cut off at max_tokens 100/)
        assert.deepStrictEqual(asked, [256, 512, 100])
      })
  )
})

describe("LlmGoverned learned max_tokens while calls queue", () => {
  it.scoped(
    "calls that queued with the start allowance are sent with the learned one, and the difference goes back",
    () =>
      Effect.gen(function* () {
        const asked: Array<number | undefined> = []
        // Answers of 10 tokens, 100 ms each.
        const upstream = yield* stub((req) =>
          Effect.sync(() => asked.push(req.maxTokens)).pipe(
            Effect.zipRight(Effect.sleep("100 millis")),
            Effect.as(answer(req, 10))
          )
        )
        // 300 tokens a second: one call at the start allowance (256 + the prompt) fits per ~0.9 s.
        const { llm } = yield* governed(upstream.llm, { admission: { rpm: 6_000, tpm: 18_000 }, cache: false })
        const fibers = yield* Effect.forEach(
          Array.from({ length: 10 }, (_, i) => i),
          (i) => Effect.fork(llm.complete(request(`c${i}`, { maxTokens: undefined })))
        )
        yield* TestClock.adjust("4 seconds")
        // Four calls went at the start allowance before four answers were in; every later one, though it
        // queued at 256, went with twice the longest answer (20), and its unused reservation came back.
        assert.deepStrictEqual(asked, [256, 256, 256, 256, 20, 20, 20, 20, 20, 20])
        for (const f of fibers) assert.isTrue(Option.isSome(yield* Fiber.poll(f)), "every call finished within 4 s")
      })
  )
})
