import type { Socket as TcpSocket } from 'node:net';
import type { Server, Socket } from 'socket.io';

/** An engine.io connection (what socket.io calls a socket's `conn`). */
type Connection = Socket['conn'];

/**
 * Sends the packets of one engine.io flush in one TCP write. When events come in a burst (a group
 * commit announces its events back to back; a replay sends a batch at once), engine.io writes a
 * connection's first packet at once and buffers the others until that write completes, then
 * flushes them together; but ws writes each as its own frame, one syscall apiece, and the syscall
 * is most of what a delivery costs. Corking the TCP socket for the flush turns them into one
 * writev. It rests on engine.io's documented server event `flush` (emitted just before a buffer is
 * written) and on Node's `cork`: a connection opened directly as a WebSocket writes to the socket
 * of its first request, the HTTP upgrade (engine.io's `conn.request`). Connections that started
 * with long-polling keep their usual writes.
 */
export function coalesceFlushes(io: Server): void {
  io.engine.on('flush', (conn: Connection, buffer: readonly unknown[]) => {
    if (buffer.length < 2) return;
    const tcp = websocketTcp(conn);
    if (!tcp) return;
    tcp.cork();
    // The flush writes its frames synchronously after this event; they leave in one writev once
    // the current operation is done (also if a write threw on the way).
    process.nextTick(uncork, tcp);
  });
}

function uncork(tcp: TcpSocket): void {
  tcp.uncork();
}

/** The TCP socket a connection's WebSocket writes to, when it was opened directly as a WebSocket. */
function websocketTcp(conn: Connection): TcpSocket | undefined {
  if (conn.transport.name !== 'websocket') return undefined;
  const request = conn.request;
  return request.headers.upgrade?.toLowerCase() === 'websocket' ? request.socket : undefined;
}
