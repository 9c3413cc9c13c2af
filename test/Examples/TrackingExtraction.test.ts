/**
 * Tracking extraction (case 2) end to end.
 *
 * Real loopback servers and real time (it.scopedLive): the helpdesk and the LLM simulator run on
 * 127.0.0.1 in this process; each test is bounded by TIMEOUT. The team's limits are 500 RPM / 200k
 * TPM; at that rate 250 conversations take 30 s of waiting alone, so both the simulator and Admission
 * get the same shape scaled by SCALE (3,000 RPM / 1.2M TPM): the simulator still refuses anything
 * over the limit, so "no 429" still means admission kept to it.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import * as path from "node:path"
import * as Helpdesk from "../../examples/tracking-extraction/helpdesk.js"
import * as Model from "../../examples/tracking-extraction/model.js"
import * as Tracking from "../../examples/tracking-extraction/program.js"
import * as Simulator from "../../src/Simulator/Simulator.js"
import { tempDir } from "../support/Temp.js"

const TIMEOUT = 60_000
const SCALE = 6
const RPM = 500 * SCALE
const TPM = 200_000 * SCALE

const setup = (count: number, faults: Pick<Helpdesk.HelpdeskOptions, "pageFaults" | "messageFaults"> = {}) =>
  Effect.gen(function* () {
    const conversations = Helpdesk.generate(count)
    const helpdesk = yield* Helpdesk.make({ conversations, latencyMs: 5, ...faults })
    // 300 ms a request at 50 requests a second: about 15 in flight, so the concurrency bound is exercised too.
    const simulator = yield* Simulator.make({
      responder: Model.makeResponder(),
      rpm: RPM,
      tpm: TPM,
      latencyMs: 300,
      seed: 5
    })
    const dir = yield* tempDir("sluice-tracking-")
    const options: Tracking.TrackingOptions = {
      helpdesk: { url: helpdesk.url },
      llm: { baseUrl: simulator.url, apiKey: Redacted.make("sk-test"), rpm: RPM, tpm: TPM },
      database: path.join(dir, "sluice.db"),
      results: path.join(dir, "team.db")
    }
    return { conversations, helpdesk, simulator, options }
  })

/** The rows a perfect extraction leaves in the table, in the report's order. */
const expectedRows = (conversations: ReadonlyArray<Helpdesk.Conversation>): Array<Tracking.TrackingRow> =>
  conversations
    .filter((c) => !Model.offSchema.has(c.id))
    .flatMap((c) => c.tracking.map((t) => ({ conversation_id: c.id, carrier: t.carrier, number: t.number })))
    .sort((a, b) =>
      a.conversation_id === b.conversation_id
        ? a.number < b.number
          ? -1
          : a.number > b.number
            ? 1
            : 0
        : a.conversation_id < b.conversation_id
          ? -1
          : 1
    )

/** Model requests per conversation, from the simulator's log (the first line of each prompt names it). */
const asksBy = (log: ReadonlyArray<{ readonly content: string }>) => {
  const asks = new Map<string, number>()
  for (const e of log) {
    const id = /^Conversation (\S+)/.exec(e.content)?.[1] ?? "?"
    asks.set(id, (asks.get(id) ?? 0) + 1)
  }
  return asks
}

describe("Tracking extraction (real loopback servers, real time)", () => {
  it.scopedLive(
    "250 conversations over 3 pages: all completed except the off-schema ones, Failed as Invalid after 3 asks; the table holds exactly the tracking numbers; at most 20 model calls at once and no 429",
    () =>
      Effect.gen(function* () {
        const flakyPage = Helpdesk.conversationId(42)
        const { conversations, helpdesk, simulator, options } = yield* setup(250, {
          pageFaults: { 2: [503] },
          messageFaults: { [flakyPage]: [500] }
        })
        const report = yield* Tracking.run(options)

        expect(report.summary.sourceError).toBeUndefined()
        expect(report.summary.counts).toEqual({ pending: 0, processing: 0, completed: 247, skipped: 0, failed: 3 })
        expect(new Set(report.failed.map((f) => f.key))).toEqual(Model.offSchema)
        for (const f of report.failed) {
          expect(f.tag).toBe("Invalid")
          expect(f.message).toMatch(/did not match its schema after 3 tries/)
        }
        expect(report.rows).toEqual(expectedRows(conversations))
        expect(report.withTracking).toBe(
          conversations.filter((c) => c.tracking.length > 0 && !Model.offSchema.has(c.id)).length
        )

        // The model: one ask per conversation, two for the flaky ones, three for the off-schema ones.
        const stats = yield* simulator.stats
        const asks = asksBy(yield* simulator.log)
        for (const c of conversations) {
          expect(asks.get(c.id)).toBe(Model.offSchema.has(c.id) ? 3 : Model.flaky.has(c.id) ? 2 : 1)
        }
        expect(stats.received).toBe(250 + Model.flaky.size + 2 * Model.offSchema.size)
        expect(stats.rateLimited).toBe(0)
        expect(stats.peakInFlight).toBeLessThanOrEqual(20)
        expect(stats.peakInFlight).toBeGreaterThanOrEqual(10)
        expect(report.summary.metrics.rateLimitHits).toBe(0)

        // The helpdesk: 3 pages (the second asked twice, after its 503); one message fetch per
        // conversation, two for the one whose first fetch answered 500.
        const counts = yield* helpdesk.counts
        expect(counts.pages).toBe(4)
        expect(counts.messages).toBe(251)
        for (const c of conversations) expect(counts.messagesBy.get(c.id)).toBe(c.id === flakyPage ? 2 : 1)
        expect(counts.errors).toEqual(
          new Map([
            [503, 1],
            [500, 1]
          ])
        )
      }),
    TIMEOUT
  )

  it.scopedLive(
    "a rerun lists the helpdesk again but fetches no messages and asks the model nothing for scanned conversations; conversations added since are scanned",
    () =>
      Effect.gen(function* () {
        const { conversations, helpdesk, simulator, options } = yield* setup(120)
        const first = yield* Tracking.run(options)
        expect(first.summary.counts.completed + first.summary.counts.failed).toBe(120)
        const before = { helpdesk: yield* helpdesk.counts, model: yield* simulator.stats }

        // Nothing new: only the listing (2 pages).
        const second = yield* Tracking.run(options)
        const middle = { helpdesk: yield* helpdesk.counts, model: yield* simulator.stats }
        expect(middle.helpdesk.pages - before.helpdesk.pages).toBe(2)
        expect(middle.helpdesk.messages).toBe(before.helpdesk.messages)
        expect(middle.model.received).toBe(before.model.received)
        expect(second.summary.counts).toEqual(first.summary.counts)
        expect(second.rows).toEqual(first.rows)

        // 20 new conversations: scanned by the next rerun, and only they.
        const added = Helpdesk.generate(20, { from: 120 })
        yield* helpdesk.add(added)
        const third = yield* Tracking.run(options)
        const after = { helpdesk: yield* helpdesk.counts, model: yield* simulator.stats }
        expect(after.helpdesk.pages - middle.helpdesk.pages).toBe(2)
        expect(after.helpdesk.messages - middle.helpdesk.messages).toBe(20)
        for (const c of conversations) expect(after.helpdesk.messagesBy.get(c.id)).toBe(1)
        for (const c of added) expect(after.helpdesk.messagesBy.get(c.id)).toBe(1)
        // One ask each, two for a flaky one (conversation 133 is among them).
        expect(after.model.received - middle.model.received).toBe(
          20 + added.filter((c) => Model.flaky.has(c.id)).length
        )
        expect(added.some((c) => Model.flaky.has(c.id))).toBe(true)
        expect(third.summary.counts).toEqual({
          ...first.summary.counts,
          completed: first.summary.counts.completed + 20
        })
        expect(third.rows).toEqual(expectedRows([...conversations, ...added]))
      }),
    TIMEOUT
  )
})
