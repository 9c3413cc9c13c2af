/**
 * ============================================================================================
 *  DO NOT TOUCH — the loan team's per-loan function, exactly as it runs in production.
 *  It is synchronous and it blocks: it parses and checks the loan, hashes it (CPU), and asks the
 *  valuation service for the vehicle's value through the legacy synchronous client, which holds
 *  the calling thread for 50–150 ms. Wrap it, schedule it, run it elsewhere; never change it.
 * ============================================================================================
 *
 * The blocking call is modelled honestly: `Atomics.wait` on a SharedArrayBuffer parks the calling
 * thread the way a synchronous socket read does — no CPU used, nothing else runs on that thread.
 * Everything is deterministic per loan (the wait, the valuation, the decision), so two runs of the
 * same loans produce the same bytes whatever thread, order or concurrency they ran with.
 */
import { createHash } from "node:crypto"

/** A loan as read from the CSV: the header's fields, as text. */
export type LoanRow = Readonly<Record<string, string>>

/** The loan's data cannot be processed: retrying will not change that. */
export class LoanDataError extends Error {
  override readonly name = "LoanDataError"
}

/** What the function returns for a loan. */
export interface ProcessedLoan {
  readonly id: string
  readonly borrower: string
  readonly vehicle: string
  readonly vin: string
  readonly amount: number
  readonly termMonths: number
  readonly aprPct: number
  readonly monthlyPayment: number
  readonly valuation: number
  readonly ltvPct: number
  readonly riskScore: number
  readonly decision: "approve" | "review" | "decline"
  readonly digest: string
}

/** Parked on by the legacy synchronous client; nobody ever notifies it, so every wait times out. */
const parking = new Int32Array(new SharedArrayBuffer(4))

const fnv1a = (text: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/** How long the valuation call blocks for this loan: 50–150 ms, fixed per loan. */
export const valuationCallMs = (loan: LoanRow): number => 50 + (fnv1a(`${loan["id"]}|${loan["vin"]}`) % 101)

/** List prices the valuation service starts from, by make. */
const BASE_PRICE: Readonly<Record<string, number>> = {
  Toyota: 31_000,
  Honda: 29_500,
  Ford: 36_000,
  Chevrolet: 34_000,
  Tesla: 47_000,
  BMW: 52_000,
  Volkswagen: 30_500,
  Hyundai: 27_000,
  Subaru: 31_500,
  Kia: 26_500
}

/** The legacy synchronous valuation client: blocks the calling thread until the service answers. */
const valuationService = (loan: LoanRow, make: string, year: number): number => {
  Atomics.wait(parking, 0, 0, valuationCallMs(loan))
  const base = BASE_PRICE[make] ?? 30_000
  const age = Math.max(0, 2025 - year)
  const condition = 0.9 + (fnv1a(loan["vin"] ?? "") % 21) / 100
  return Math.round(base * Math.pow(0.87, age) * condition)
}

const VIN = /^[A-HJ-NPR-Z0-9]{17}$/

const field = (loan: LoanRow, name: string): string => {
  const value = loan[name]
  if (value === undefined || value.trim() === "")
    throw new LoanDataError(`loan ${loan["id"] ?? "?"}: ${name} is missing`)
  return value.trim()
}

const number = (loan: LoanRow, name: string): number => {
  const text = field(loan, name)
  const n = Number(text)
  if (!Number.isFinite(n))
    throw new LoanDataError(`loan ${loan["id"]}: ${name} ${JSON.stringify(text)} is not a number`)
  return n
}

/** The per-loan function. Synchronous; blocks its thread for the valuation call. */
export const processLoan = (loan: LoanRow): ProcessedLoan => {
  const id = field(loan, "id")
  const borrower = field(loan, "borrower")
  const make = field(loan, "vehicle_make")
  const model = field(loan, "vehicle_model")
  const year = number(loan, "vehicle_year")
  const vin = field(loan, "vin")
  if (!VIN.test(vin)) throw new LoanDataError(`loan ${id}: VIN ${JSON.stringify(vin)} is not 17 valid characters`)
  const amount = number(loan, "amount")
  if (amount <= 0) throw new LoanDataError(`loan ${id}: amount must be positive`)
  const termMonths = number(loan, "term_months")
  const aprPct = number(loan, "apr_pct")
  const creditScore = number(loan, "credit_score")

  // The compliance digest: a few thousand rounds of SHA-256 over the canonical record (CPU work).
  const canonical = Object.keys(loan)
    .sort()
    .map((k) => `${k}=${loan[k]}`)
    .join("\u001f")
  let digest = createHash("sha256").update(canonical).digest()
  for (let i = 0; i < 2_000; i++) digest = createHash("sha256").update(digest).update(canonical).digest()

  const valuation = valuationService(loan, make, year)

  const r = aprPct / 1200
  const monthlyPayment =
    Math.round((r === 0 ? amount / termMonths : (amount * r) / (1 - Math.pow(1 + r, -termMonths))) * 100) / 100
  const ltvPct = Math.round((amount / valuation) * 1000) / 10
  const riskScore = Math.round((850 - creditScore) * 0.4 + Math.max(0, ltvPct - 80) * 0.5 + termMonths / 12)
  const decision =
    creditScore >= 680 && ltvPct <= 100 ? "approve" : creditScore >= 600 && ltvPct <= 125 ? "review" : "decline"

  return {
    id,
    borrower,
    vehicle: `${year} ${make} ${model}`,
    vin,
    amount,
    termMonths,
    aprPct,
    monthlyPayment,
    valuation,
    ltvPct,
    riskScore,
    decision,
    digest: digest.toString("hex").slice(0, 16)
  }
}
