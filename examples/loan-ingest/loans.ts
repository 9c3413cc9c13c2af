/**
 * A deterministic generator of a realistic loan CSV: the same arguments give the same bytes.
 * Some fields need CSV quoting (a comma in a dealer's name, a quote in a borrower's), and the
 * `faulty` rows carry a VIN one character short, which the loan function rejects.
 */
import * as fs from "node:fs"

/** The CSV's columns, in order. */
export const COLUMNS = [
  "id",
  "borrower",
  "vehicle_make",
  "vehicle_model",
  "vehicle_year",
  "vin",
  "amount",
  "term_months",
  "apr_pct",
  "credit_score",
  "dealer",
  "submitted"
] as const

export interface GenerateOptions {
  /** Loans to generate. Default 40. */
  readonly count?: number | undefined
  /** Row indexes (0-based) whose VIN is broken, so the loan function throws. Default: [13]. */
  readonly faulty?: ReadonlyArray<number> | undefined
  readonly seed?: number | undefined
}

/** mulberry32: a tiny seeded PRNG, so the data is the same on every machine. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const FIRST = ["Maria", "James", "Aisha", "Wei", "Olga", "Carlos", "Priya", "Tomás", "Fatima", "Liam", "Yuki", "Noah"]
const LAST = [
  "García",
  "Smith",
  "O'Brien",
  "Chen",
  "Ivanova",
  "Okafor",
  "Patel",
  "Müller",
  "Haddad",
  "Kowalski",
  "Tanaka",
  "Johnson"
]
const VEHICLES: ReadonlyArray<readonly [string, string]> = [
  ["Toyota", "Corolla"],
  ["Toyota", "RAV4"],
  ["Honda", "Civic"],
  ["Honda", "CR-V"],
  ["Ford", "F-150"],
  ["Chevrolet", "Silverado"],
  ["Tesla", "Model 3"],
  ["BMW", "X3"],
  ["Volkswagen", "Golf"],
  ["Hyundai", "Tucson"],
  ["Subaru", "Outback"],
  ["Kia", "Sportage"]
]
const DEALERS = [
  "Northside Motors",
  "Smith & Sons, Ltd.",
  "Bay Auto Group",
  "Lakeview Cars",
  '"Drive Home" Auto',
  "Prairie Ford"
]
const TERMS = [36, 48, 60, 72]
const VIN_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"

const pick = <A>(next: () => number, xs: ReadonlyArray<A>): A => xs[Math.floor(next() * xs.length)]!

const csvField = (value: string): string => (/[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value)

/** The loans as rows keyed by column. */
export const generateLoans = (options: GenerateOptions = {}): Array<Record<(typeof COLUMNS)[number], string>> => {
  const next = prng(options.seed ?? 2024)
  const faulty = new Set(options.faulty ?? [13])
  return Array.from({ length: options.count ?? 40 }, (_, i) => {
    const [make, model] = pick(next, VEHICLES)
    let vin = Array.from({ length: 17 }, () => pick(next, [...VIN_CHARS])).join("")
    if (faulty.has(i)) vin = vin.slice(0, 16)
    const day = 1 + Math.floor(next() * 28)
    return {
      id: `LN-${String(1001 + i)}`,
      borrower: `${pick(next, LAST)}, ${pick(next, FIRST)}`,
      vehicle_make: make,
      vehicle_model: model,
      vehicle_year: String(2015 + Math.floor(next() * 10)),
      vin,
      amount: (Math.round((8_000 + next() * 57_000) * 100) / 100).toFixed(2),
      term_months: String(pick(next, TERMS)),
      apr_pct: (3 + Math.round(next() * 900) / 100).toFixed(2),
      credit_score: String(540 + Math.floor(next() * 281)),
      dealer: pick(next, DEALERS),
      submitted: `2025-03-${String(day).padStart(2, "0")}`
    }
  })
}

/** The loans as CSV text: a header, then one line per loan (CRLF, as the loan team's export writes it). */
export const toCsv = (rows: ReadonlyArray<Record<string, string>>): string =>
  [COLUMNS.join(","), ...rows.map((r) => COLUMNS.map((c) => csvField(r[c] ?? "")).join(","))].join("\r\n") + "\r\n"

/** Writes a generated loan CSV; returns the number of loans. */
export const writeLoansCsv = (file: string, options: GenerateOptions = {}): number => {
  const rows = generateLoans(options)
  fs.writeFileSync(file, toCsv(rows))
  return rows.length
}
