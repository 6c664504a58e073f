/**
 * The library client next to the SOCKS port, on one local network in this process (one
 * authority, five relays, the proxy of startInProcessNetwork for SOCKS, a MeowOnion client),
 * both warm (bootstrapped, their circuit in use) and measured alike, interleaved (library, then
 * SOCKS, request by request and run by run) so that the machine's drift falls on both:
 *
 *   library_fetch_first_byte_ms_p50  client.fetch(url) to the first byte of the body, every
 *                                    request on a new stream (the server closes each connection)
 *   socks_fetch_first_byte_ms_p50    the same fetch (undici's) over SOCKS5 connections to the port
 *   library_bulk_mb_per_s            one client.connect stream downloading 64 MB, median of 3 (after one warm-up)
 *   socks_bulk_mb_per_s              the same through the SOCKS port
 */
import { once } from "node:events";
import http from "node:http";
import net from "node:net";
import { Agent, fetch } from "undici";
import { MeowOnion } from "../src/index.js";
import { socksConnect } from "../src/proxy/socks-client.js";
import { FIVE_RELAYS, startInProcessNetwork } from "../test/helpers/in-process-network.js";

const REQUESTS = 100;
const WARMUP = 5;
const BULK_BYTES = 64 * 1024 * 1024;
const BULK_RUNS = 3;
const CHUNK = Buffer.alloc(64 * 1024, 0x6d);

function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
}

const round = (value: number, digits: number) => Math.round(value * 10 ** digits) / 10 ** digits;

async function listen(server: net.Server): Promise<number> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return (server.address() as net.AddressInfo).port;
}

/** Milliseconds from `fetchOnce()` to the first byte of the body. */
async function firstByteMs(fetchOnce: () => ReturnType<typeof fetch>): Promise<number> {
  const started = performance.now();
  const response = await fetchOnce();
  const reader = response.body!.getReader();
  await reader.read();
  const elapsed = performance.now() - started;
  await reader.cancel();
  return elapsed;
}

/** MB/s of one download of BULK_BYTES over the stream `open` gives. */
async function bulkMbPerS(open: () => Promise<NodeJS.ReadableStream & { destroy(): void }>): Promise<number> {
  const started = performance.now();
  const stream = await open();
  let received = 0;
  stream.on("data", (chunk: Buffer) => (received += chunk.length));
  stream.resume(); // socksConnect hands its socket over paused
  await once(stream, "end");
  stream.destroy();
  if (received !== BULK_BYTES) throw new Error(`bulk run got ${received} of ${BULK_BYTES} bytes`);
  return BULK_BYTES / 1e6 / ((performance.now() - started) / 1000);
}

/** Each of `ways` measured `runs` times, taking turns; the median of each (after `warmup` turns). */
async function interleaved(ways: (() => Promise<number>)[], runs: number, warmup: number): Promise<number[]> {
  const results: number[][] = ways.map(() => []);
  for (let i = 0; i < warmup + runs; i++) {
    for (const [w, measure] of ways.entries()) {
      const value = await measure();
      if (i >= warmup) results[w].push(value);
    }
  }
  return results.map(median);
}

export async function benchLibrary(): Promise<Record<string, number>> {
  const network = await startInProcessNetwork({ relays: FIVE_RELAYS });
  // Every response closes its connection: each request opens a new stream.
  const page = http.createServer((_req, res) => res.writeHead(200, { connection: "close" }).end("m"));
  const source = net.createServer((socket) => {
    socket.on("error", () => undefined);
    let left = BULK_BYTES;
    const pump = () => {
      while (left > 0) {
        left -= CHUNK.length;
        if (!socket.write(CHUNK)) return void socket.once("drain", pump);
      }
      socket.end();
    };
    pump();
  });
  const client = await MeowOnion.createBootstrapped({ directories: [{ url: network.directory.url, key: network.directory.publicKey }], enforceDistinctSubnets: false });
  const socksDispatcher = new Agent({
    connect: (options, callback) => {
      socksConnect({ proxyHost: "127.0.0.1", proxyPort: network.proxy.socksPort, host: options.hostname, port: Number(options.port) || 80 }).then(
        (socket) => callback(null, socket),
        (error: Error) => callback(error, null),
      );
    },
  });
  try {
    const pageUrl = `http://127.0.0.1:${await listen(page)}/`;
    const sourcePort = await listen(source);
    await network.proxy.ready;
    const [libraryFirstByte, socksFirstByte] = await interleaved(
      [() => firstByteMs(() => client.fetch(pageUrl)), () => firstByteMs(() => fetch(pageUrl, { dispatcher: socksDispatcher }))],
      REQUESTS,
      WARMUP,
    );
    const [libraryBulk, socksBulk] = await interleaved(
      [
        () => bulkMbPerS(() => client.connect("127.0.0.1", sourcePort)),
        () => bulkMbPerS(() => socksConnect({ proxyHost: "127.0.0.1", proxyPort: network.proxy.socksPort, host: "127.0.0.1", port: sourcePort })),
      ],
      BULK_RUNS,
      1,
    );
    return {
      library_fetch_first_byte_ms_p50: round(libraryFirstByte, 3),
      socks_fetch_first_byte_ms_p50: round(socksFirstByte, 3),
      library_bulk_mb_per_s: round(libraryBulk, 1),
      socks_bulk_mb_per_s: round(socksBulk, 1),
    };
  } finally {
    await socksDispatcher.close();
    await client.close();
    await new Promise((resolve) => page.close(resolve));
    await new Promise((resolve) => source.close(resolve));
    await network.close();
  }
}
