/** A minimal SOCKS5 server for testing SOCKS clients: it records what it was asked. */
import { createServer, type Socket } from "node:net";
import type { Cleanups } from "./cleanups.js";
import { listen } from "./relay.js";

export interface MiniSocks {
port: number;
/** "user=…" and "connect=atyp:host:port" entries, in order. */
seen: string[];
}

/**
 * Answers methods (username/password when `requireAuth`), then CONNECT with `reply`, or with
 * success plus "hi " in the same write and an echo of the stream.
 */
export async function miniSocks(cleanups: Cleanups, options: { requireAuth?: boolean; reply?: number } = {}): Promise<MiniSocks> {
  const seen: string[] = [];
  const server = createServer((c: Socket) => {
    let buf = Buffer.alloc(0);
    let stage = 0;
    c.on("error", () => undefined);
    c.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (stage === 0 && buf.length >= 2 && buf.length >= 2 + buf[1]) {
        const methods = [...buf.subarray(2, 2 + buf[1])];
        buf = buf.subarray(2 + buf[1]);
        const method = options.requireAuth ? (methods.includes(2) ? 2 : 0xff) : 0;
        c.write(Buffer.from([5, method]));
        stage = method === 2 ? 1 : 2;
      }
      if (stage === 1 && buf.length >= 3 && buf.length >= 3 + buf[1] + buf[2 + buf[1]]) {
        seen.push(`user=${buf.subarray(2, 2 + buf[1]).toString()}`);
        buf = buf.subarray(3 + buf[1] + buf[2 + buf[1]]);
        c.write(Buffer.from([1, 0]));
        stage = 2;
      }
      if (stage === 2 && buf.length >= 5) {
        const atyp = buf[3];
        const length = atyp === 1 ? 4 : atyp === 4 ? 16 : 1 + buf[4];
        if (buf.length < 4 + length + 2) return;
        const host = atyp === 1 ? [...buf.subarray(4, 8)].join(".") : atyp === 3 ? buf.subarray(5, 4 + length).toString() : "v6";
        seen.push(`connect=${atyp}:${host}:${buf.readUInt16BE(4 + length)}`);
        buf = buf.subarray(4 + length + 2);
        if (options.reply !== undefined) {
          c.end(Buffer.from([5, options.reply, 0, 1, 0, 0, 0, 0, 0, 0]));
          return;
        }
        // A domain-type bound address, and stream bytes right behind the reply.
        c.write(Buffer.concat([Buffer.from([5, 0, 0, 3, 4]), Buffer.from("bind"), Buffer.from([0, 80]), Buffer.from("hi ")]));
        stage = 3;
      }
      if (stage === 3 && buf.length > 0) {
        c.write(buf);
        buf = Buffer.alloc(0);
      }
    });
  });
  return { port: await listen(server, cleanups), seen };
}
