/**
 * Dovecot for the IMAP tests, made present once by the global setup: the system's when installed;
 * else, as root on a machine with apt-get, `dovecot-imapd` is installed (about 15 s, once per machine).
 * When neither works the setup says so in one line and the IMAP tests fail, each with the line that
 * installs it (`examples/offer-desk/dovecot.ts`): they are never skipped.
 *
 * `SLUICE_TEST_INSTALL=0` forbids installing anything (e.g. on a workstation run as root).
 */
import * as fs from "node:fs"
import { cannotInstall, exec, install } from "./Apt.js"
import * as path from "node:path"
import { INSTALL, SEARCH_DIRS } from "../../examples/offer-desk/dovecot.js"

const find = (): string | undefined =>
  [...(process.env["PATH"] ?? "").split(path.delimiter), ...SEARCH_DIRS]
    .filter((d) => d.length > 0)
    .map((d) => path.join(d, "dovecot"))
    .find((f) => {
      try {
        fs.accessSync(f, fs.constants.X_OK)
        return true
      } catch {
        return false
      }
    })

const versionOf = async (bin: string) => (await exec(bin, ["--version"], 10_000)).trim().split(" ")[0] ?? "?"

/** Finds or installs Dovecot, telling `say` what it does in one line. Never throws. */
export const provision = async (say: (text: string, end?: boolean) => void): Promise<void> => {
  const found = find()
  if (found !== undefined) {
    say(`Dovecot ${await versionOf(found).catch(() => "?")}, the system's (${found})`)
    return
  }
  const why = cannotInstall()
  if (why !== undefined) {
    say(`Dovecot is not installed and ${why}: the IMAP tests will fail. Install it with: ${INSTALL}`)
    return
  }
  say("Dovecot is not installed: installing dovecot-imapd with apt-get (once, about 15 s) ... ", false)
  const started = Date.now()
  try {
    await install("dovecot-imapd", 600_000)
    const bin = find()
    if (bin === undefined) throw new Error("apt-get succeeded, yet no dovecot executable was found")
    const seconds = ((Date.now() - started) / 1000).toFixed(1)
    say(`done in ${seconds} s: Dovecot ${await versionOf(bin).catch(() => "?")} (${bin})`)
  } catch (error) {
    say(`failed: ${(error as Error).message}. The IMAP tests will fail. Install it with: ${INSTALL}`)
  }
}
