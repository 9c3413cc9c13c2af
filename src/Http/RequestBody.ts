/**
 * The body of `POST /v1/runs`: read with a size limit, parsed as JSONL or JSON, and decoded with
 * Schema into source records and run options. Every failure is a typed error whose message names the
 * field or the line.
 *
 * @since 0.1.0
 */
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import { Effect, ParseResult, Schema } from "effect"
import { SourceRecord } from "../Domain/Item.js"
import { keyOf, lineKey, positionKey } from "../Sources/Key.js"
import { InvalidRequest, PayloadTooLarge, RunBody, type RunOptions, UnsupportedMediaType } from "./Api.js"

/** @since 0.1.0 */
export interface ParsedBody {
  readonly records: ReadonlyArray<SourceRecord>
  /** Options from a JSON body (`options`); a JSONL body carries none. */
  readonly options: RunOptions | undefined
}

const JSONL_TYPES = [
  "application/x-ndjson",
  "application/jsonl",
  "application/x-jsonlines",
  "application/jsonlines",
  "text/jsonl"
]

/** @since 0.1.0 */
export const mediaType = (contentType: string | undefined): "json" | "jsonl" | undefined => {
  const type = (contentType ?? "").split(";")[0]!.trim().toLowerCase()
  if (type === "" || type === "application/json" || type.endsWith("+json")) return "json"
  if (JSONL_TYPES.includes(type)) return "jsonl"
  return undefined
}

const tooLarge = (limit: number) =>
  new PayloadTooLarge({ limitBytes: limit, message: `the body is larger than ${limit} bytes (--max-body)` })

/**
 * Reads the whole body, failing with `PayloadTooLarge` as soon as it passes `limit` bytes. A declared
 * `content-length` over the limit is refused before anything is read. The rest of a refused body is
 * left for Node to discard, so the client still receives the 413 rather than a reset connection.
 *
 * @since 0.1.0
 */
export const read = (
  request: HttpServerRequest.HttpServerRequest,
  limit: number
): Effect.Effect<Buffer, PayloadTooLarge | InvalidRequest> => {
  const declared = Number(request.headers["content-length"] ?? Number.NaN)
  if (Number.isFinite(declared) && declared > limit) return Effect.fail(tooLarge(limit))
  return Effect.async<Buffer, PayloadTooLarge | InvalidRequest>((resume) => {
    const source = NodeHttpServerRequest.toIncomingMessage(request)
    const chunks: Array<Buffer> = []
    let size = 0
    const cleanup = () => {
      source.off("data", onData)
      source.off("end", onEnd)
      source.off("error", onError)
      source.off("aborted", onAborted)
    }
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) {
        cleanup()
        chunks.length = 0
        source.resume()
        resume(Effect.fail(tooLarge(limit)))
      } else {
        chunks.push(chunk)
      }
    }
    const onEnd = () => {
      cleanup()
      resume(Effect.succeed(Buffer.concat(chunks, size)))
    }
    const onError = (e: Error) => {
      cleanup()
      resume(Effect.fail(new InvalidRequest({ message: `the body could not be read: ${e.message}` })))
    }
    const onAborted = () => onError(new Error("the client went away"))
    source.on("data", onData)
    source.once("end", onEnd)
    source.once("error", onError)
    source.once("aborted", onAborted)
    return Effect.sync(cleanup)
  })
}

/**
 * `options.concurrency: Expected a positive integer` — one line per issue, the path dotted.
 *
 * @since 0.1.0
 */
export const describeIssues = (error: ParseResult.ParseError, prefix?: string): string => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
  return issues
    .slice(0, 5)
    .map((i) => {
      const path = [...(prefix === undefined ? [] : [prefix]), ...i.path.map(String)].join(".")
      return path.length > 0 ? `${path}: ${i.message}` : i.message
    })
    .join("; ")
}

const decodeBody = Schema.decodeUnknownEither(RunBody, { errors: "all", onExcessProperty: "error" })

const records = (items: ReadonlyArray<unknown>): Array<SourceRecord> =>
  items.map((payload, i) => SourceRecord.record(keyOf(payload, positionKey(i + 1)), payload, i, i + 1))

const noItems = new InvalidRequest({ message: "items: expected at least one item" })

/**
 * Parses a body. JSONL: one item per non-blank line, keyed by its `id` field else its line number,
 * exactly as `sluice run` reads a file. JSON: an array of items, or `{ "items": [...], "options": {...} }`,
 * each item keyed by its `id` else its position (1-based).
 *
 * @since 0.1.0
 */
export const parse = (body: Buffer, kind: "json" | "jsonl"): Effect.Effect<ParsedBody, InvalidRequest> =>
  Effect.suspend(() => {
    let text: string
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(body)
    } catch {
      return Effect.fail(new InvalidRequest({ message: "the body is not UTF-8 text" }))
    }
    if (kind === "jsonl") {
      const out: Array<SourceRecord> = []
      const lines = text.split("\n")
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i]!
        if (line.trim().length === 0) continue
        let payload: unknown
        try {
          payload = JSON.parse(line)
        } catch (e) {
          return Effect.fail(new InvalidRequest({ message: `line ${i + 1}: not valid JSON (${(e as Error).message})` }))
        }
        out.push(SourceRecord.record(keyOf(payload, lineKey(i + 1)), payload, out.length, i + 1))
      }
      return out.length === 0 ? Effect.fail(noItems) : Effect.succeed({ records: out, options: undefined })
    }
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch (e) {
      return Effect.fail(new InvalidRequest({ message: `the body is not valid JSON (${(e as Error).message})` }))
    }
    if (Array.isArray(json)) {
      return json.length === 0 ? Effect.fail(noItems) : Effect.succeed({ records: records(json), options: undefined })
    }
    const decoded = decodeBody(json)
    if (decoded._tag === "Left") return Effect.fail(new InvalidRequest({ message: describeIssues(decoded.left) }))
    const { items, options } = decoded.right
    return items.length === 0 ? Effect.fail(noItems) : Effect.succeed({ records: records(items), options })
  })

/**
 * Reads and parses the body of a request by its content type.
 *
 * @since 0.1.0
 */
export const fromRequest = (
  request: HttpServerRequest.HttpServerRequest,
  limit: number
): Effect.Effect<ParsedBody, InvalidRequest | PayloadTooLarge | UnsupportedMediaType> => {
  const kind = mediaType(request.headers["content-type"])
  if (kind === undefined) {
    return Effect.fail(
      new UnsupportedMediaType({
        message: `content-type ${request.headers["content-type"]} is not accepted: send application/json or application/x-ndjson`
      })
    )
  }
  return Effect.flatMap(read(request, limit), (body) => parse(body, kind))
}
