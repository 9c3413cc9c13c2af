/**
 * What the global setup needs to make a system package present: running a command with apt's last
 * words as its error, whether installing is possible here, and `apt-get install` that waits for
 * another run's lock. Shared by the Dovecot and Chromium provisioning.
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"

/** Runs `file`; on failure, the error names the command and the last line it printed. */
export const exec = (file: string, args: ReadonlyArray<string>, timeoutMs: number) =>
  new Promise<string>((resolve, reject) =>
    execFile(
      file,
      args,
      {
        timeout: timeoutMs,
        maxBuffer: 64 * 1024 * 1024,
        env: { ...process.env, DEBIAN_FRONTEND: "noninteractive", LC_ALL: "C" }
      },
      (error, stdout, stderr) => {
        if (error === null) return resolve(stdout)
        // apt's last words say what went wrong.
        const last =
          `${stdout}\n${stderr}`
            .trim()
            .split("\n")
            .filter((l) => l.trim().length > 0)
            .at(-1) ?? ""
        reject(
          new Error(`${path.basename(file)} ${args.at(-1)} failed (${error.code ?? error.signal}): ${last.trim()}`)
        )
      }
    )
  )

/** Why installing is not possible here, or undefined when it is. */
export const cannotInstall = (): string | undefined => {
  if (process.env["SLUICE_TEST_INSTALL"] === "0") return "SLUICE_TEST_INSTALL=0 forbids installing it"
  if (process.getuid?.() !== 0) return "only root can install it"
  if (!fs.existsSync("/usr/bin/apt-get")) return "this system has no apt-get"
  return undefined
}

/** `apt-get update`, then installs `pkg`. Another test run may hold apt's lock: it waits for it rather than fail. */
export const install = async (pkg: string, timeoutMs: number): Promise<void> => {
  const lock = ["-o", "DPkg::Lock::Timeout=300"]
  await exec("/usr/bin/apt-get", [...lock, "-q", "update"], 300_000)
  await exec("/usr/bin/apt-get", [...lock, "-q", "-y", "install", pkg], timeoutMs)
}
