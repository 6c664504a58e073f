/**
 * The workloads, run the same way against any network through its SOCKS port with one
 * client (./socks.ts) against our local servers (./servers.ts).
 */
import type { Socket } from "node:net";
import { socksConnect } from "../../src/proxy/socks-client.js";
import { percentile } from "./stats.js";

export interface SocksTarget {
  socksHost: string;
  socksPort: number;
}

export interface Destinations {
  httpPort: number;
  echoPort: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const CONNECT_TIMEOUT_MS = 60_000;
/** Where the destination servers listen (the exits allow 127.0.0.1 only). */
export const DESTINATION_HOST = "127.0.0.1";

export interface GetResult {
  /** ms from the request being written to the first byte of the response. */
  firstByteMs: number;
  /** ms from the request being written to the last byte of the body. */
  totalMs: number;
  /** performance.now() at the first byte. */
  firstByteAt: number;
  bodyBytes: number;
  /** True if maxMs ran out before the whole body arrived. */
  capped: boolean;
}

/** Parse a response head; returns Content-Length and where the body starts, or undefined if incomplete. */
export function parseResponseHead(buf: Buffer): { status: number; contentLength: number; bodyStart: number } | undefined {
  const end = buf.indexOf("\r\n\r\n");
  if (end < 0) return undefined;
  const head = buf.subarray(0, end).toString("latin1");
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? NaN);
  const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  if (!Number.isFinite(status) || !cl) throw new Error(`bad HTTP response head: ${head.slice(0, 200)}`);
  return { status, contentLength: Number(cl[1]), bodyStart: end + 4 };
}

/**
 * GET /bytes/N on an open stream (keep-alive); resolves once the whole body has arrived, or
 * with what arrived so far (`capped`) once `maxMs` have passed (the stream is then unusable).
 */
export function httpGet(sock: Socket, n: number, maxMs?: number): Promise<GetResult> {
  return new Promise((resolve, reject) => {
    let head: Buffer | undefined = Buffer.alloc(0);
    let need = -1;
    let got = 0;
    let t1 = 0;
    const onData = (chunk: Buffer): void => {
      if (t1 === 0) t1 = performance.now();
      if (head !== undefined) {
        head = Buffer.concat([head, chunk]);
        let parsed;
        try {
          parsed = parseResponseHead(head);
        } catch (e) {
          return done(e as Error);
        }
        if (!parsed) return;
        if (parsed.status !== 200) return done(new Error(`HTTP ${parsed.status}`));
        need = parsed.contentLength;
        got = head.length - parsed.bodyStart;
        head = undefined;
      } else {
        got += chunk.length;
      }
      if (got >= need) done();
    };
    const onEnd = (): void => done(new Error(`stream closed after ${got} of ${need} body bytes`));
    let capped = false;
    const timer =
      maxMs === undefined
        ? undefined
        : setTimeout(() => {
            capped = true;
            done();
          }, maxMs);
    const done = (err?: Error): void => {
      if (timer) clearTimeout(timer);
      sock.off("data", onData);
      sock.off("error", onEnd);
      sock.off("close", onEnd);
      if (err) reject(err);
      else resolve({ firstByteMs: t1 - t0, totalMs: performance.now() - t0, bodyBytes: Math.max(0, got), firstByteAt: t1, capped });
    };
    sock.on("data", onData);
    sock.on("error", onEnd);
    sock.on("close", onEnd);
    const t0 = performance.now();
    sock.write(`GET /bytes/${n} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    sock.resume();
  });
}

function open(target: SocksTarget, port: number, username: string, host = DESTINATION_HOST): Promise<Socket> {
  return socksConnect({
    proxyHost: target.socksHost,
    proxyPort: target.socksPort,
    host,
    port,
    username,
    password: "x",
    timeoutMs: CONNECT_TIMEOUT_MS,
  });
}

export interface Throughput {
  /** MB/s, MB = 10^6 bytes. */
  mbPerS: number;
  bytes: number;
  /** The time cap ran out before all bytes arrived. */
  capped: boolean;
}

/** Bulk: N bytes over one stream (or what arrives within maxMs), from the HTTP server at `host` (default: ours, through an exit). */
export async function bulk(
  target: SocksTarget,
  dst: Destinations,
  bytes: number,
  username: string,
  maxMs?: number,
  host = DESTINATION_HOST,
): Promise<Throughput> {
  const sock = await open(target, dst.httpPort, username, host);
  try {
    const r = await httpGet(sock, bytes, maxMs);
    return { mbPerS: r.bodyBytes / 1e6 / (r.totalMs / 1000), bytes: r.bodyBytes, capped: r.capped };
  } finally {
    sock.destroy();
  }
}

/** Concurrent: `streams` streams of `bytes` each at once, one isolation key (so one circuit). Aggregate MB/s. */
export async function concurrent(
  target: SocksTarget,
  dst: Destinations,
  streams: number,
  bytes: number,
  username: string,
  maxMs?: number,
): Promise<Throughput> {
  // One stream first, so that its circuit is open before the others ask: all of them then
  // share that one circuit (Tor would otherwise launch a second circuit for pending streams).
  const first = await open(target, dst.httpPort, username);
  const rest = await Promise.allSettled(Array.from({ length: streams - 1 }, () => open(target, dst.httpPort, username)));
  const socks = [first, ...rest.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []))];
  const failed = rest.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) {
    for (const s of socks) s.destroy();
    throw failed.reason instanceof Error ? failed.reason : new Error(String(failed.reason));
  }
  try {
    const t0 = performance.now();
    const rs = await Promise.all(socks.map((s) => httpGet(s, bytes, maxMs)));
    const total = rs.reduce((a, r) => a + r.bodyBytes, 0);
    return { mbPerS: total / 1e6 / ((performance.now() - t0) / 1000), bytes: total, capped: rs.some((r) => r.capped) };
  } finally {
    for (const s of socks) s.destroy();
  }
}

export interface RttResult {
  /** Every round trip, ms. */
  samples: number[];
  p50: number;
  p90: number;
  max: number;
}

/**
 * Round trips of a small message (32 bytes) on one open stream to the echo server: `count`
 * of them, each sent when the previous answer is in and `gapMs` later (0: back to back).
 */
export async function roundTrips(
  target: SocksTarget,
  dst: Destinations,
  count: number,
  gapMs: number,
  username: string,
): Promise<RttResult> {
  const sock = await open(target, dst.echoPort, username);
  const msg = Buffer.alloc(32, 0x61);
  const samples: number[] = [];
  try {
    let pending: { resolve: () => void; reject: (e: Error) => void } | undefined;
    let got = 0;
    sock.on("data", (c: Buffer) => {
      got += c.length;
      if (got >= msg.length && pending) {
        got -= msg.length;
        const p = pending;
        pending = undefined;
        p.resolve();
      }
    });
    const fail = (): void => pending?.reject(new Error("echo stream closed"));
    sock.on("close", fail);
    sock.on("error", fail);
    sock.resume();
    // One warm-up round trip (the stream's first data), not counted.
    for (let i = 0; i <= count; i++) {
      if (gapMs > 0 && i > 0) await sleep(gapMs);
      const t0 = performance.now();
      await new Promise<void>((resolve, reject) => {
        pending = { resolve, reject };
        sock.write(msg);
      });
      if (i > 0) samples.push(performance.now() - t0);
    }
  } finally {
    sock.destroy();
  }
  return { samples, p50: percentile(samples, 50), p90: percentile(samples, 90), max: Math.max(...samples) };
}

/**
 * Fresh circuit + first byte: a new isolation key (a SOCKS username never used before) forces
 * a new circuit; ms from opening the SOCKS connection to the first byte of a 1-byte GET.
 */
export async function freshFirstByte(
  target: SocksTarget,
  dst: Destinations,
  username: string,
  host = DESTINATION_HOST,
): Promise<number> {
  const t0 = performance.now();
  const sock = await open(target, dst.httpPort, username, host);
  try {
    const r = await httpGet(sock, 1);
    return r.firstByteAt - t0;
  } finally {
    sock.destroy();
  }
}

/** Retry a fresh first byte until it works or the deadline passes (network just started). */
export async function firstByteWhenReady(
  target: SocksTarget,
  dst: Destinations,
  deadline: number,
  username: string,
): Promise<void> {
  let lastErr: unknown;
  for (let attempt = 0; Date.now() < deadline; attempt++) {
    try {
      await freshFirstByte(target, dst, `${username}-${attempt}`);
      return;
    } catch (e) {
      lastErr = e;
      await sleep(50);
    }
  }
  throw new Error(`network not usable before the deadline: ${String(lastErr)}`);
}
