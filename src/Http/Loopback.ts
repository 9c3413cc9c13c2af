/**
 * Whether a host name or address is the local machine only. A service bound anywhere else needs a
 * token (see `Auth.ts`).
 *
 * @since 0.1.0
 */
import * as net from "node:net"

/**
 * True for addresses only this machine can reach: `localhost`, `127.0.0.0/8`, `::1` (and the
 * IPv4-mapped `::ffff:127.x.y.z`). `0.0.0.0`, `::` and every other address are reachable from outside.
 *
 * @since 0.1.0
 */
export const isLoopback = (host: string): boolean => {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, "$1")
  if (h === "localhost" || h.endsWith(".localhost")) return true
  if (net.isIPv4(h)) return h.startsWith("127.")
  if (net.isIPv6(h)) {
    if (h === "::1" || h === "0:0:0:0:0:0:0:1") return true
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h)
    return mapped !== null && mapped[1]!.startsWith("127.")
  }
  return false
}
