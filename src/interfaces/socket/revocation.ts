import type { LegwayIo } from './server.js';

/** Disconnects every socket, on either namespace, that was opened with the token `jti`. */
export function disconnectRevoked(io: LegwayIo, jti: string): void {
  for (const nsp of [io.of('/'), io.of('/operator')]) {
    for (const socket of nsp.sockets.values()) {
      if (socket.data.principal.jti === jti) socket.disconnect(true);
    }
  }
}
