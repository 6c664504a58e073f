/**
 * The destination of interop fetches: an HTTP/1.1 server answering GET /bytes/N with N
 * deterministic bytes (test/helpers/dest-server.ts's generator, seed "interop"), so that the
 * client checks them by SHA-256 without a copy.
 */
import http from "node:http";
import type net from "node:net";
import { Readable } from "node:stream";
import { expectedSha256, streamOf } from "../helpers/dest-server.js";

const SEED = "interop";

export interface HttpDestination {
  url(bytes: number): string;
  sha256(bytes: number): string;
  close(): Promise<void>;
}

function* generated(bytes: number): Generator<Buffer> {
  const next = streamOf(SEED);
  for (let left = bytes; left > 0; left -= 65536) yield next(Math.min(65536, left));
}

export async function startHttpDestination(): Promise<HttpDestination> {
  const server = http.createServer((req, res) => {
    const m = /^\/bytes\/(\d+)$/.exec(req.url ?? "");
    if (req.method !== "GET" || !m) {
      res.writeHead(404).end();
      return;
    }
    const bytes = Number(m[1]);
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(bytes) });
    Readable.from(generated(bytes)).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: (bytes) => `http://127.0.0.1:${port}/bytes/${bytes}`,
    sha256: (bytes) => expectedSha256(bytes, SEED),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
