/**
 * The pool's watched sockets (`PgSocket.ts`): a request left unanswered closes the connection as lost,
 * an answered one or an idle one stays open. Real sockets on loopback, a server that answers or not.
 */
import * as net from "node:net"
import { afterEach, describe, expect, it } from "vitest"
import { isConnectionLoss } from "../../src/Store/PgConnectionLoss.js"
import * as PgSocket from "../../src/Store/PgSocket.js"
import { SqlError } from "@effect/sql/SqlError"

const servers: Array<net.Server> = []
afterEach(() => {
  for (const s of servers.splice(0)) s.close()
})

/** A server that echoes what it is sent, or (`silent`) reads it and never answers, as a cut-off database. */
const serve = (silent: boolean) =>
  new Promise<number>((resolve) => {
    const server = net.createServer((c) => {
      c.on("data", (d) => (silent ? undefined : c.write(d)))
      c.on("error", () => undefined)
    })
    servers.push(server)
    server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port))
  })

const open = async (port: number, limitMs: number) => {
  const socket = PgSocket.watched(`${limitMs} millis`)() as net.Socket
  const closed = new Promise<Error | undefined>((resolve) => {
    let error: Error | undefined
    socket.on("error", (e) => (error = e))
    socket.on("close", () => resolve(error))
  })
  await new Promise<void>((resolve) => socket.connect(port, "127.0.0.1", resolve))
  return { socket, closed }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe("PgSocket.watched", () => {
  it("closes a connection whose request gets no answer, as a lost connection", async () => {
    const { socket, closed } = await open(await serve(true), 300)
    socket.write("SELECT 1")
    const error = await closed
    expect(error?.message).toContain("no answer from the database within 0.3 s")
    expect((error as NodeJS.ErrnoException).code).toBe("ETIMEDOUT")
    // The store reads it as the database out of reach, not as a failed statement.
    expect(isConnectionLoss(new SqlError({ message: "Failed to execute statement", cause: error }))).toBe(true)
  })

  it("keeps a connection that answers, and one that is idle", async () => {
    const answering = await open(await serve(false), 300)
    const idle = await open(await serve(true), 300)
    let open1 = true
    let open2 = true
    answering.closed.then(() => (open1 = false))
    idle.closed.then(() => (open2 = false))
    // Requests every 100 ms, each answered, for three times the limit; the idle one sends nothing.
    for (let i = 0; i < 9; i++) {
      answering.socket.write(`SELECT ${i}`)
      await sleep(100)
    }
    expect(open1).toBe(true)
    expect(open2).toBe(true)
    answering.socket.destroy()
    idle.socket.destroy()
  })
})
