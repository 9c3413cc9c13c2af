/**
 * A Node HTTP server whose `close()` ends in bounded time, whoever is connected.
 *
 * `NodeHttpServer` stops the service by `server.close()`, which stops listening and then waits for every
 * open connection to end. Node (20) closes only the connections that finished a request and wait for the
 * next one; a connection on which no request has started yet is not "idle" to it. Browsers open such
 * connections ahead of need (Chromium keeps a spare socket or two to a page it polls), and a poll that
 * arrives after the app's handler was removed is never answered: either kept `sluice serve` running
 * after SIGTERM until Node's own 60 s header timeout, or for as long as the page stayed open.
 *
 * So on `close()` this server:
 * - ends every connection with no request in flight at once;
 * - lets a request in flight finish, answers it with `Connection: close` and ends its connection after;
 * - answers a request that still arrives on an open connection `503` with `Connection: close`;
 * - and after `graceMs` ends whatever is left.
 *
 * The workers have drained by then (the service closes its HTTP server last), so what is cut is at most
 * a page render or an upload, which the client repeats.
 *
 * @since 0.1.0
 */
import * as http from "node:http"
import type * as net from "node:net"

/** How long requests in flight get to finish once the server closes. */
export const DEFAULT_GRACE_MS = 2_000

/**
 * A server for `NodeHttpServer.layer(() => make(), …)`.
 *
 * @since 0.1.0
 */
export const make = (graceMs: number = DEFAULT_GRACE_MS): http.Server => {
  const server = http.createServer()
  // The answers under way on each open connection (empty: none has started, or the last one is done).
  const connections = new Map<net.Socket, Set<http.ServerResponse>>()
  let closing = false

  server.on("connection", (socket: net.Socket) => {
    connections.set(socket, new Set())
    socket.once("close", () => connections.delete(socket))
  })
  server.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    const socket = req.socket
    const open = connections.get(socket)
    if (open === undefined) return
    open.add(res)
    if (closing) res.shouldKeepAlive = false
    res.once("close", () => {
      open.delete(res)
      if (closing && open.size === 0) socket.end()
    })
  })

  const close = server.close.bind(server)
  server.close = (callback?: (err?: Error) => void) => {
    if (!closing) {
      closing = true
      // The app's handler is gone once the server closes (it was added after the server started and is
      // removed before it closes): from here this server answers alone, and says it is stopping.
      if (server.listenerCount("request") === 1) {
        server.on("request", (_req: http.IncomingMessage, res: http.ServerResponse) => {
          res.shouldKeepAlive = false
          res.writeHead(503, { "content-type": "text/plain; charset=utf-8", "retry-after": "2" })
          res.end("the service is stopping\n")
        })
      }
      for (const [socket, open] of connections) {
        if (open.size === 0) socket.destroy()
        else for (const res of open) if (!res.headersSent) res.shouldKeepAlive = false
      }
      const timer = setTimeout(() => {
        for (const socket of connections.keys()) socket.destroy()
      }, graceMs)
      timer.unref()
      server.once("close", () => clearTimeout(timer))
    }
    return close(callback)
  }
  return server
}
