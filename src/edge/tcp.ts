/** The TCP side of a stream's edge: exits and onion services connect their streams' targets alike. */
import net from "node:net";

/** A TCP connection (half-open allowed, TCP_NODELAY) once it is up; rejects with the socket's error. */
export function connectTcp(address: string, port: number, signal: AbortSignal): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: address, port, allowHalfOpen: true, noDelay: true, signal });
    socket.once("connect", () => {
      socket.off("error", reject);
      resolve(socket);
    });
    socket.once("error", reject);
  });
}
