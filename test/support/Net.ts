/**
 * Loopback helpers for tests.
 */
import { Effect } from "effect"
import * as net from "node:net"

/** A port on 127.0.0.1 that was free a moment ago (the OS picks it; nothing listens on it now). */
export const freePort = Effect.async<number>((resume) => {
  const server = net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const port = (server.address() as net.AddressInfo).port
    server.close(() => resume(Effect.succeed(port)))
  })
})
