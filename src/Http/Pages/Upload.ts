/**
 * `POST /runs` with `multipart/form-data`: a JSONL or CSV file (field `file`) and optional settings
 * (`processor`, `prompt`, `model`, `concurrency`) become a run, and the answer is `303 See Other` to the
 * run's page.
 *
 * The file is streamed to a temporary file as it arrives (never held whole in memory, whatever its
 * size), then recorded through the same readers `sluice run` uses, a thousand records per transaction,
 * so its line numbers, keys and unreadable-line handling are exactly the CLI's. The workers are woken as
 * soon as the first batch is stored. A file that is neither JSONL nor CSV is refused with a 4xx and one
 * line saying why, before any run exists.
 *
 * @since 0.1.0
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Multipart from "@effect/platform/Multipart"
import * as NodeMultipart from "@effect/platform-node/NodeMultipart"
import { Clock, Data, Effect, Option, Stream } from "effect"
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { pipeline } from "node:stream/promises"
import * as RunConfig from "../../Domain/RunConfig.js"
import { Progress } from "../../Engine/Progress.js"
import * as FileSource from "../../Sources/FileSource.js"
import { Store } from "../../Store/Store.js"
import { Engine } from "../../Service/Workers.js"

/** @since 0.1.0 */
export interface UploadOptions {
  /** Settings of runs created without them (the service's flags); the form's fields override them. */
  readonly defaults: Partial<RunConfig.RunConfigEncoded>
  /** Largest accepted upload in bytes. */
  readonly maxBytes: number
}

/** A refusal: the status and one line. */
class Refused extends Data.TaggedError("Refused")<{ readonly status: number; readonly message: string }> {}

const refuse = (status: number, message: string): Refused => new Refused({ status, message })

const JSONL_EXT = /\.(jsonl|ndjson)$/i
const CSV_EXT = /\.csv$/i
const JSONL_TYPES = ["application/x-ndjson", "application/jsonl", "application/jsonlines", "text/jsonl"]

/** What a file is, from its name, else its declared type. */
export const kindOf = (name: string, contentType: string): "csv" | "jsonl" | undefined => {
  if (CSV_EXT.test(name)) return "csv"
  if (JSONL_EXT.test(name)) return "jsonl"
  const type = contentType.split(";")[0]!.trim().toLowerCase()
  if (type === "text/csv") return "csv"
  if (JSONL_TYPES.includes(type)) return "jsonl"
  return undefined
}

/** Looks at the first 64 KiB: binary files and JSONL whose first item is not JSON are refused at once. */
const sniff = (file: string, kind: "csv" | "jsonl", name: string): Refused | undefined => {
  const fd = fs.openSync(file, "r")
  const head = Buffer.alloc(64 * 1024)
  const n = fs.readSync(fd, head, 0, head.length, 0)
  fs.closeSync(fd)
  const bytes = head.subarray(0, n)
  if (n === 0 || bytes.toString("utf8").trim().length === 0) return refuse(400, `${name} is empty`)
  if (bytes.includes(0)) return refuse(415, `${name} is not text (it holds NUL bytes): upload JSONL or CSV`)
  if (kind === "jsonl") {
    const text = bytes.toString("utf8").replace(/^\uFEFF/, "")
    const lines = text.split("\n")
    // The last line of the sample may be cut off; judge the first complete non-blank one.
    const index = lines.findIndex((l, i) => l.trim().length > 0 && (i < lines.length - 1 || n < head.length))
    if (index >= 0) {
      try {
        JSON.parse(lines[index]!)
      } catch {
        return refuse(400, `${name} is not JSONL: line ${index + 1} is not JSON`)
      }
    }
  }
  return undefined
}

/** `loans.csv` → `loans-20261204T150405Z-1a2b3c`: sortable, unique, and named for its file. */
const runIdOf = (name: string, now: number) => {
  const stem = path
    .basename(name)
    .replace(/\.[^.]*$/, "")
    .replace(/[^\w.-]+/g, "_")
    .replace(/^[^A-Za-z0-9]+/, "")
    .slice(0, 60)
  const stamp = new Date(now).toISOString().replace(/[-:]|\.\d+/g, "")
  return `${stem.length > 0 ? stem : "upload"}-${stamp}-${randomBytes(3).toString("hex")}`
}

const fieldsOf = (fields: Map<string, string>) => {
  const text = (k: string) => {
    const v = fields.get(k)?.trim()
    return v === undefined || v.length === 0 ? undefined : v
  }
  return {
    processor: text("processor"),
    system: fields.get("prompt")?.trim() || undefined,
    model: text("model"),
    concurrency: text("concurrency")
  }
}

/**
 * The handler. Interrupted while the file arrives (the client went away), it leaves nothing behind;
 * once the file is whole, the run is recorded to its end even if the client has gone.
 *
 * @since 0.1.0
 */
export const handle = (options: UploadOptions) =>
  Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    const type = request.headers["content-type"] ?? ""
    if (!type.toLowerCase().startsWith("multipart/form-data")) {
      return yield* refuse(415, `expected multipart/form-data with a file field, got ${type || "no content type"}`)
    }
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "sluice-upload-"))),
      (d) => Effect.sync(() => fs.rmSync(d, { recursive: true, force: true }))
    )
    const fields = new Map<string, string>()
    let upload: { readonly file: string; readonly name: string; readonly kind: "csv" | "jsonl" } | undefined
    yield* request.multipartStream.pipe(
      Multipart.withLimitsStream({ maxTotalSize: Option.some(options.maxBytes), maxParts: Option.some(16) }),
      Stream.runForEach((part): Effect.Effect<void, Multipart.MultipartError | Refused> => {
        if (part._tag === "Field") return Effect.sync(() => void fields.set(part.key, part.value))
        if (part.key !== "file" || upload !== undefined) return Stream.runDrain(part.content)
        const name = part.name.length > 0 ? part.name : "upload"
        const kind = kindOf(name, part.contentType)
        if (kind === undefined) {
          return Effect.fail(
            refuse(
              415,
              `${name} is neither JSONL (.jsonl, .ndjson) nor CSV (.csv): upload one of those (content type ${part.contentType || "none"})`
            )
          )
        }
        // The reader picks CSV by the extension, so the spooled copy carries the right one.
        const file = path.join(dir, kind === "csv" ? "upload.csv" : "upload.jsonl")
        upload = { file, name, kind }
        return Effect.tryPromise({
          try: (signal) => pipeline(NodeMultipart.fileToReadable(part), fs.createWriteStream(file), { signal }),
          catch: (e) => refuse(400, `the upload could not be read: ${(e as Error).message}`)
        })
      }),
      Effect.catchTag("MultipartError", (e) =>
        Effect.fail(
          e.reason === "BodyTooLarge" || e.reason === "FileTooLarge"
            ? refuse(413, `the upload is larger than ${options.maxBytes} bytes`)
            : refuse(400, `the upload is not a well-formed multipart form (${e.reason})`)
        )
      )
    )
    if (upload === undefined) return yield* refuse(400, `the form has no file: send it in the field "file"`)
    const refused = sniff(upload.file, upload.kind, upload.name)
    if (refused !== undefined) return yield* refused

    const f = fieldsOf(fields)
    let concurrency: number | undefined
    if (f.concurrency !== undefined) {
      concurrency = Number(f.concurrency)
      if (!Number.isInteger(concurrency) || concurrency < 1)
        return yield* refuse(400, `concurrency: expected a positive integer, got ${f.concurrency}`)
    }
    const config = {
      ...options.defaults,
      ...(f.processor === undefined ? {} : { processor: f.processor }),
      ...(f.model === undefined ? {} : { model: f.model }),
      ...(f.system === undefined ? {} : { system: f.system }),
      source: `upload:${upload.name}`,
      ...(concurrency === undefined ? {} : { concurrency })
    }
    const decoded = yield* Effect.either(RunConfig.decode(config))
    if (decoded._tag === "Left") {
      return yield* refuse(400, `settings: ${decoded.left.message.split("\n").slice(-1)[0]!.trim()}`)
    }
    const id = runIdOf(upload.name, yield* Clock.currentTimeMillis)
    yield* Effect.uninterruptible(record(id, config, upload.file, concurrency))
    return HttpServerResponse.redirect(`/runs/${encodeURIComponent(id)}`, { status: 303 })
  }).pipe(
    Effect.scoped,
    Effect.catchTag("Refused", (e) => Effect.succeed(HttpServerResponse.text(`${e.message}\n`, { status: e.status })))
  )

const BATCH = 1000

/** Stores the file's records, waking the workers after the first batch and once the whole file is in. */
const record = (id: string, config: Record<string, unknown>, file: string, concurrency: number | undefined) =>
  Effect.gen(function* () {
    const store = yield* Store
    const progress = yield* Progress
    const engine = yield* Engine
    yield* store.openRun(id, config)
    if (concurrency !== undefined) yield* store.addMetrics(id, { concurrency })
    let first = true
    const read = yield* FileSource.records(file).pipe(
      Stream.grouped(BATCH),
      Stream.runForEach((chunk) =>
        Effect.zipRight(
          store.record(id, Array.from(chunk)),
          first
            ? Effect.zipRight(
                Effect.sync(() => (first = false)),
                engine.wake
              )
            : Effect.void
        )
      ),
      Effect.either
    )
    if (read._tag === "Left" && read.left._tag !== "StoreError") {
      return yield* refuse(400, `the upload could not be read to its end: ${read.left.message}`)
    }
    if (read._tag === "Left") return yield* read.left
    yield* store.markFetched(id)
    const counts = yield* store.counts(id)
    yield* progress.update(id, (p) => ({ ...p, counts, sourceDone: true }))
    yield* engine.wake
  }).pipe(Effect.catchTag("StoreError", (e) => Effect.fail(refuse(503, `the store did not answer: ${e.message}`))))
