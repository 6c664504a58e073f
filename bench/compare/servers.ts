/**
 * Destination servers for the workloads, on 127.0.0.1 (the only address the exits allow):
 * - an HTTP/1.1 server: GET /bytes/N answers N bytes (Content-Length, keep-alive allowed);
 * - a TCP echo server: every byte is sent back (TCP_NODELAY on).
 * Both run in the benchmark process and serve both networks alike.
 */
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from "node:net";
import { randomFillSync } from "node:crypto";

const CHUNK = randomFillSync(Buffer.alloc(64 * 1024));

export interface BenchServers {
  httpPort: number;
  echoPort: number;
  close(): Promise<void>;
}

/** Parse "/bytes/N" to N; undefined for any other path or a bad N. */
export function parseBytesPath(path: string): number | undefined {
  const m = /^\/bytes\/(\d{1,12})$/.exec(path);
  return m ? Number(m[1]) : undefined;
}

function listen(server: Server | HttpServer): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port));
  });
}

export async function startServers(): Promise<BenchServers> {
  const sockets = new Set<Socket>();
  const http = createHttpServer((req, res) => {
    const n = parseBytesPath(req.url ?? "");
    if (req.method !== "GET" || n === undefined) {
      res.writeHead(404, { "content-type": "text/plain" }).end("GET /bytes/N\n");
      return;
    }
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(n) });
    let left = n;
    const pump = (): void => {
      while (left > 0) {
        const len = Math.min(left, CHUNK.length);
        left -= len;
        const ok = res.write(len === CHUNK.length ? CHUNK : CHUNK.subarray(0, len));
        if (!ok) {
          res.once("drain", pump);
          return;
        }
      }
      res.end();
    };
    pump();
  });
  http.on("connection", (s: Socket) => {
    s.setNoDelay(true);
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  const echo = createTcpServer((s) => {
    s.setNoDelay(true);
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => s.destroy());
    s.pipe(s);
  });
  const [httpPort, echoPort] = await Promise.all([listen(http), listen(echo)]);
  return {
    httpPort,
    echoPort,
    async close() {
      for (const s of sockets) s.destroy();
      await Promise.all([
        new Promise<void>((r) => http.close(() => r())),
        new Promise<void>((r) => echo.close(() => r())),
      ]);
    },
  };
}
