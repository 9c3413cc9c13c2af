/**
 * One cell of a CSV download, safe to open in a spreadsheet.
 *
 * Outputs, keys and error messages come from uploaded files and from a model: a cell that starts with
 * `=`, `+`, `-`, `@`, a tab or a carriage return is read as a formula by Excel, LibreOffice and Google
 * Sheets (`=HYPERLINK(…)`, `=cmd|' /C calc'!A0`). As OWASP's "CSV Injection" advises, such a cell gets
 * a leading `'`, which the spreadsheet shows as text and does not evaluate. A plain number (`-12.5`,
 * `+3`) is not a formula and is left as it is, so numeric columns stay numbers. Then the cell is quoted
 * when RFC 4180 requires it.
 *
 * @since 0.1.0
 */

const FORMULA_START = /^[=+\-@\t\r]/
const PLAIN_NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/

/**
 * The text a spreadsheet shows as written: `'` before what would start a formula.
 *
 * @since 0.1.0
 */
export const neutralize = (s: string): string => (FORMULA_START.test(s) && !PLAIN_NUMBER.test(s) ? `'${s}` : s)

/**
 * A CSV field: neutralized, then quoted when it holds a quote, comma, line break or edge whitespace.
 *
 * @since 0.1.0
 */
export const cell = (s: string): string => {
  const text = neutralize(s)
  return /[",\r\n]/.test(text) || text !== text.trim() ? `"${text.replace(/"/g, '""')}"` : text
}
