/**
 * A TCP forwarder that holds every chunk for a fixed delay in each direction, keeping order: the
 * latency between the worker hosts and the database, since this kernel has no `netem` qdisc. With a
 * delay of 0 it is a plain forwarder (the simulator listens on loopback only; this exposes it on its
 * host's address).
 *
 * Run in a host's network namespace: `node --import tsx DelayProxy.ts <listen host:port> <target
 * host:port> <delay ms each way>`. It prints "ready" once listening. When either side closes, the
 * other is closed after what was already in flight: a database restart reaches the client as one.
 */
import * as net from "node:net"

const [listen, target, delayArg] = process.argv.slice(2)
if (listen === undefined || target === undefined) {
  process.stderr.write("usage: DelayProxy <listen host:port> <target host:port> [delay ms each way]\n")
  process.exit(2)
}
const split = (hostPort: string) => {
  const at = hostPort.lastIndexOf(":")
  return { host: hostPort.slice(0, at), port: Number(hostPort.slice(at + 1)) }
}
const delayMs = Number(delayArg ?? 0)
const from = split(listen)
const to = split(target)

/** Copies `source` into `sink`, each chunk `delayMs` after it arrived; ends `sink` after the last one. */
const pipeDelayed = (source: net.Socket, sink: net.Socket) => {
  if (delayMs <= 0) {
    source.pipe(sink)
    return
  }
  const queue: Array<{ readonly due: number; readonly chunk: Buffer | null }> = []
  let timer: NodeJS.Timeout | undefined
  const pump = () => {
    timer = undefined
    const now = performance.now()
    while (queue.length > 0 && queue[0]!.due <= now) {
      const { chunk } = queue.shift()!
      if (chunk === null) sink.end()
      else if (!sink.destroyed) sink.write(chunk)
    }
    if (queue.length > 0) timer = setTimeout(pump, Math.max(0, queue[0]!.due - now))
    // Back-pressure: a long queue pauses the source until it drains.
    if (queue.length < 64 && source.isPaused()) source.resume()
  }
  const push = (chunk: Buffer | null) => {
    queue.push({ due: performance.now() + delayMs, chunk })
    if (queue.length >= 256) source.pause()
    if (timer === undefined) timer = setTimeout(pump, delayMs)
  }
  source.on("data", (chunk: Buffer) => push(chunk))
  source.on("end", () => push(null))
}

const server = net.createServer((client) => {
  client.setNoDelay(true)
  const upstream = net.connect({ host: to.host, port: to.port })
  upstream.setNoDelay(true)
  const closeBoth = () => {
    client.destroy()
    upstream.destroy()
  }
  client.on("error", closeBoth)
  upstream.on("error", closeBoth)
  client.on("close", () => setTimeout(() => upstream.destroy(), delayMs))
  upstream.on("close", () => setTimeout(() => client.destroy(), delayMs))
  pipeDelayed(client, upstream)
  pipeDelayed(upstream, client)
})
server.on("error", (error) => {
  process.stderr.write(`DelayProxy: ${error.message}\n`)
  process.exit(1)
})
server.listen(from.port, from.host, () => process.stdout.write("ready\n"))
