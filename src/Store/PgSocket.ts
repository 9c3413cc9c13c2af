/**
 * The sockets of the PostgreSQL pool, each watched for an answer that does not come. When the network
 * drops (a pulled cable, a partition, a host that stops answering), a connection with a statement in
 * flight waits on TCP's retransmissions: minutes before the kernel gives up, and after the link is
 * back, seconds more of retransmission backoff. Worse, the driver hands a connection whose statement
 * was abandoned (`Reconnect.ts` times it out) back to the pool, so the next statement queues behind
 * the lost one on a socket that may never answer.
 *
 * A watched socket that has sent bytes and heard nothing back for `answerWithin` destroys itself with
 * `ETIMEDOUT`: the driver drops the connection from the pool, the statement on it fails as a lost
 * connection (`PgConnectionLoss.ts`, so the store says `Unavailable` and the worker waits it out), and
 * the next statement gets a fresh connection. An idle connection is never timed out: only silence
 * after a request counts. (Over TLS the driver writes through the socket's handle, past this watch:
 * there the watch sees only the opening request, and never closes a connection wrongly.)
 *
 * @since 0.1.0
 */
import { Duration } from "effect"
import * as net from "node:net"
import type { Duplex } from "node:stream"

/**
 * A socket factory for `pg` (`PgClient`'s `stream` option) whose sockets close after `answerWithin`
 * of silence following a request.
 *
 * @since 0.1.0
 */
export const watched =
  (answerWithin: Duration.DurationInput): (() => Duplex) =>
  () => {
    const limitMs = Duration.toMillis(answerWithin)
    const socket = new net.Socket()
    // Writes are seen by the byte count (`net` resets an overridden `write` on connect): bytes written
    // beyond those followed by an answer are a request awaiting one.
    let answeredUpTo = 0
    /** When a request not yet answered was first seen; undefined while nothing is awaited. */
    let awaitingSince: number | undefined
    socket.on("data", () => {
      // Any answer means the connection is alive; a multi-message answer keeps it so as it arrives.
      awaitingSince = undefined
      answeredUpTo = socket.bytesWritten
    })
    // Checked a few times per limit; the timer does not keep the process alive.
    const timer = setInterval(
      () => {
        const now = performance.now()
        if (awaitingSince === undefined) {
          if (socket.bytesWritten > answeredUpTo) awaitingSince = now
          return
        }
        if (now - awaitingSince < limitMs) return
        clearInterval(timer)
        const error = Object.assign(
          new Error(`no answer from the database within ${(limitMs / 1000).toFixed(1)} s: connection closed`),
          { code: "ETIMEDOUT" }
        )
        socket.destroy(error)
      },
      Math.max(100, Math.floor(limitMs / 4))
    )
    timer.unref()
    socket.once("close", () => clearInterval(timer))
    return socket
  }
