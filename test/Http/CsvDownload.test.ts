/**
 * The dashboard's CSV download is safe to open in a spreadsheet: a cell that would start a formula
 * (`=`, `+`, `-`, `@`, tab, carriage return) comes out with a leading `'` (OWASP, "CSV Injection"), a
 * plain number stays a number, and every row is still there once, in input order. The rule itself on
 * its own, then over real HTTP on 127.0.0.1 with a CSV uploaded through the form.
 */
import { describe, expect, it } from "@effect/vitest"
import { parse } from "csv-parse/sync"
import { Context, Effect, Layer, Logger, LogLevel } from "effect"
import * as path from "node:path"
import * as Compose from "../../src/Cli/Compose.js"
import * as CsvCell from "../../src/Http/CsvCell.js"
import * as Service from "../../src/Service/Service.js"
import { tempDir } from "../support/Temp.js"
import { waitFor } from "../support/Wait.js"

describe("CSV cells", () => {
  it("a leading = + - @ tab or CR gets a ', a plain number does not, then RFC 4180 quoting", () => {
    expect(CsvCell.cell('=HYPERLINK("http://x.example","click")')).toBe(`"'=HYPERLINK(""http://x.example"",""click"")"`)
    expect(CsvCell.cell("+1+cmd|' /C calc'!A0")).toBe("'+1+cmd|' /C calc'!A0")
    expect(CsvCell.cell("-2+3")).toBe("'-2+3")
    expect(CsvCell.cell("@SUM(A1:A9)")).toBe("'@SUM(A1:A9)")
    expect(CsvCell.cell("\t=1+1")).toBe("'\t=1+1")
    expect(CsvCell.cell("\r=1+1")).toBe(`"'\r=1+1"`)
    for (const n of ["-12.5", "+3", "-0.5e3", "42"]) expect(CsvCell.cell(n)).toBe(n)
    for (const s of ["plain", "a=b", "x-1", "mail@example.com"]) expect(CsvCell.cell(s)).toBe(s)
    expect(CsvCell.cell("a,b")).toBe('"a,b"')
    expect(CsvCell.cell("")).toBe("")
  })
})

const DANGEROUS = ['=HYPERLINK("http://x.example","click")', "+1+2", "-2+3", "@SUM(A1:A9)", "\t=1+1"]

describe("GET /runs/<id>/results.csv (real HTTP on 127.0.0.1)", () => {
  it.scopedLive(
    "formula-like keys and outputs come out neutralized; numbers stay numbers; every row once, in order",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const db = path.join(dir, "s.db")
        const base = yield* Layer.build(
          Service.layer({ port: 0, pollMs: 50, defaults: { processor: "echo" } }).pipe(
            Layer.provide(
              Compose.llm({ baseUrl: "http://127.0.0.1:9/v1", timeoutMs: 1_000, rpm: 0, tpm: 0, cache: false }, { db })
            ),
            Layer.provide(Compose.store(db))
          )
        ).pipe(
          Effect.map((ctx) => Context.get(ctx, Service.Service).url),
          Effect.orDie,
          Logger.withMinimumLogLevel(LogLevel.Warning)
        )
        const quote = (s: string) => `"${s.replace(/"/g, '""')}"`
        const rows = [
          ...DANGEROUS.map((d, i) => `${quote(d)},${quote(d)},${i}`),
          "-12.5,minus twelve and a half,5",
          "plain,nothing to see,6"
        ]
        const text = `id,text,n\n${rows.join("\n")}\n`
        const uploaded = yield* Effect.promise(async () => {
          const form = new FormData()
          form.set("processor", "echo")
          form.set("file", new Blob([text], { type: "text/csv" }), "cells.csv")
          const res = await fetch(`${base}/runs`, {
            method: "POST",
            body: form,
            redirect: "manual",
            signal: AbortSignal.timeout(10_000)
          })
          return { status: res.status, location: res.headers.get("location") ?? "" }
        })
        expect(uploaded.status).toBe(303)
        const run = decodeURIComponent(uploaded.location.split("/")[2]!)
        yield* waitFor(
          Effect.promise(() =>
            fetch(`${base}/v1/runs/${encodeURIComponent(run)}`).then(
              (r) => r.json() as Promise<{ counts: { completed: number } }>
            )
          ),
          (v) => v.counts.completed === rows.length,
          30_000,
          "every row completed"
        )
        const body = yield* Effect.promise(() =>
          fetch(`${base}/runs/${encodeURIComponent(run)}/results.csv`, { signal: AbortSignal.timeout(10_000) }).then(
            (r) => r.text()
          )
        )
        const table = parse(body, { relax_column_count: false }) as Array<Array<string>>
        expect(table[0]).toEqual(["row", "key", "status", "output", "error_tag", "error_message", "attempts"])
        const data = table.slice(1)
        expect(data.map((r) => r[0])).toEqual(rows.map((_, i) => String(i + 1)))
        expect(data.map((r) => r[2])).toEqual(rows.map(() => "completed"))
        // The keys were the formulas: each comes out behind a ', whole; the number and the plain key as they were.
        expect(data.map((r) => r[1])).toEqual([...DANGEROUS.map((d) => `'${d}`), "-12.5", "plain"])
        // No cell anywhere starts a formula unless it is a plain number.
        for (const r of data)
          for (const c of r) if (/^[=+\-@\t\r]/.test(c)) expect(c, JSON.stringify(r)).toMatch(/^[+-]?\d+(\.\d+)?$/)
      }),
    { timeout: 60_000 }
  )
})
