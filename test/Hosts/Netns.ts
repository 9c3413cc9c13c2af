/**
 * Hosts as Linux network namespaces. Each host has its own addresses; hosts meet on two private
 * bridges that live in a namespace of their own (the switch), so nothing is added to the machine's
 * own network: the database network 10.213.1.0/24 and the upstream network 10.213.2.0/24. A worker
 * host has a leg on each, so cutting its database link leaves its upstream link alone.
 *
 * Every name carries this process's pid: a sweep at start removes what an earlier run left behind
 * when it died (its pid is gone), and `remove` kills every process in our namespaces and deletes them.
 */
import { execFile, execFileSync } from "node:child_process"
import * as crypto from "node:crypto"

const PREFIX = "sluice-hosts-"

/** Runs a command; resolves its stdout, rejects with its stderr. */
export const sh = (file: string, args: ReadonlyArray<string>, timeoutMs = 30_000): Promise<string> =>
  new Promise((resolve, reject) =>
    execFile(file, args, { timeout: timeoutMs }, (error, stdout, stderr) =>
      error === null ? resolve(stdout) : reject(new Error(`${file} ${args.join(" ")}: ${stderr || error.message}`))
    )
  )

/**
 * Whether this machine can run the hosts: `undefined` when it can, else why not, in one line. It can
 * when it is Linux, we are root, and a network namespace can be made and removed (a container without
 * the capability cannot). `SLUICE_HOSTS=skip` turns them off on a machine that could.
 */
export const unsupported = (): string | undefined => {
  if (process.env["SLUICE_HOSTS"] === "skip") return "SLUICE_HOSTS=skip"
  if (process.platform !== "linux") return `network namespaces need Linux (this is ${process.platform})`
  if (process.getuid?.() !== 0) return `network namespaces need root (this is uid ${process.getuid?.()})`
  const probe = `${PREFIX}${process.pid}-probe`
  try {
    execFileSync("ip", ["netns", "add", probe], { stdio: "pipe", timeout: 10_000 })
  } catch (error) {
    const why = String((error as { stderr?: unknown }).stderr ?? "").trim() || (error as Error).message
    return `\`ip netns add\` does not work here: ${why.split("\n")[0]}`
  } finally {
    try {
      execFileSync("ip", ["netns", "delete", probe], { stdio: "pipe", timeout: 10_000 })
    } catch {
      // not made
    }
  }
  return undefined
}

/** Whether a process lives (EPERM: it does, as another user). */
export const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** Kills every process in a namespace, then deletes it. */
const removeNamespace = async (ns: string) => {
  const pids = (await sh("ip", ["netns", "pids", ns]).catch(() => ""))
    .split(/\s+/)
    .filter((p) => p.length > 0)
    .map(Number)
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL")
    } catch {
      // gone already
    }
  }
  await sh("ip", ["netns", "delete", ns]).catch(() => undefined)
}

/** Our namespaces, by the pid that made them. */
const ours = async () =>
  (await sh("ip", ["netns", "list"]))
    .split("\n")
    .map((l) => l.split(" ")[0]!)
    .filter((n) => n.startsWith(PREFIX))

/** Removes the namespaces of earlier runs whose process has died. Returns how many. */
export const sweep = async (): Promise<number> => {
  let n = 0
  for (const ns of await ours()) {
    const pid = Number(ns.slice(PREFIX.length).split("-")[0])
    if (Number.isFinite(pid) && pid !== process.pid && !alive(pid)) {
      await removeNamespace(ns)
      n++
    }
  }
  return n
}

/** One host: its namespace and its addresses. */
export interface Host {
  readonly name: string
  readonly ns: string
  /** On the database network, if it has a leg there. */
  readonly dbAddress?: string | undefined
  /** On the upstream network, if it has a leg there. */
  readonly apiAddress?: string | undefined
  /** The switch-side end of its database leg: set it down to cut the host off from the database. */
  readonly dbPort?: string | undefined
}

export interface Topology {
  readonly id: string
  readonly hosts: Record<string, Host>
  readonly remove: () => Promise<void>
}

export interface HostSpec {
  readonly name: string
  /** Last octet of its addresses. */
  readonly octet: number
  readonly db: boolean
  readonly api: boolean
}

/**
 * Makes the switch and the hosts. On failure, removes whatever it made before failing.
 */
export const create = async (specs: ReadonlyArray<HostSpec>): Promise<Topology> => {
  const id = `${process.pid}-${crypto.randomBytes(3).toString("hex")}`
  const made: Array<string> = []
  const remove = async () => {
    for (const ns of made.reverse()) await removeNamespace(ns)
  }
  const ip = (...args: Array<string>) => sh("ip", args)
  try {
    const sw = `${PREFIX}${id}-switch`
    await ip("netns", "add", sw)
    made.push(sw)
    for (const br of ["brdb", "brapi"]) {
      await ip("-n", sw, "link", "add", br, "type", "bridge")
      await ip("-n", sw, "link", "set", br, "up")
    }
    const hosts: Record<string, Host> = {}
    for (const spec of specs) {
      const ns = `${PREFIX}${id}-${spec.name}`
      await ip("netns", "add", ns)
      made.push(ns)
      await ip("-n", ns, "link", "set", "lo", "up")
      const legs: Array<[string, string, string]> = []
      if (spec.db) legs.push(["db", "brdb", `10.213.1.${spec.octet}`])
      if (spec.api) legs.push(["api", "brapi", `10.213.2.${spec.octet}`])
      for (const [leg, br, address] of legs) {
        const port = `${leg}-${spec.name}`.slice(0, 15)
        await ip("link", "add", `eth-${leg}`, "netns", ns, "type", "veth", "peer", "name", port, "netns", sw)
        await ip("-n", sw, "link", "set", port, "master", br, "up")
        await ip("-n", ns, "addr", "add", `${address}/24`, "dev", `eth-${leg}`)
        await ip("-n", ns, "link", "set", `eth-${leg}`, "up")
      }
      hosts[spec.name] = {
        name: spec.name,
        ns,
        dbAddress: spec.db ? `10.213.1.${spec.octet}` : undefined,
        apiAddress: spec.api ? `10.213.2.${spec.octet}` : undefined,
        dbPort: spec.db ? `db-${spec.name}`.slice(0, 15) : undefined
      }
    }
    return { id, hosts, remove }
  } catch (error) {
    await remove()
    throw error
  }
}

/** Cuts (or restores) a host's database link at the switch, as a pulled cable would. */
export const setDbLink = (topology: Topology, host: Host, up: boolean): Promise<string> =>
  sh("ip", ["-n", `${PREFIX}${topology.id}-switch`, "link", "set", host.dbPort!, up ? "up" : "down"])

/** The pids of every process in a host's namespace. */
export const pidsOf = async (host: Host): Promise<Array<number>> =>
  (await sh("ip", ["netns", "pids", host.ns]))
    .split(/\s+/)
    .filter((p) => p.length > 0)
    .map(Number)
