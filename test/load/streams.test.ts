/**
 * Load: LOAD_STREAMS concurrent streams (default 100; `npm run soak`: 1,000) through a
 * 5-relay network of separate processes for LOAD_SECONDS (default 5; soak: 60). Every stream
 * echoes random chunks through the destination and checks every byte that comes back. Before
 * and after, each relay's resident memory (VmRSS) and open file descriptors (/proc/PID/fd) are
 * read: after the load they must be back near the baseline (no leaked sockets, no growth).
 */
import { randomBytes } from "node:crypto";
import type net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DestServer, startDestServer } from "../helpers/dest-server.js";
import { type TestNetwork, startTestNetwork } from "../helpers/network.js";
import { snapshot } from "../helpers/proc-stats.js";
import { killAll, removeTempDirs, sleep, waitFor } from "../helpers/procs.js";
import { socksConnect } from "../../src/proxy/socks-client.js";

const STREAMS = Number(process.env.LOAD_STREAMS ?? 100);
const SECONDS = Number(process.env.LOAD_SECONDS ?? 5);
const PER_CIRCUIT = 50;

interface StreamStats {
  bytes: number;
  rounds: number;
  error?: string;
}

/** Echo random chunks until `until`, checking every byte; resolves with what was checked. */
function echoLoop(socket: net.Socket, until: number): Promise<StreamStats> {
  return new Promise((resolve) => {
    const stats: StreamStats = { bytes: 0, rounds: 0 };
    let expected = Buffer.alloc(0);
    let done = false;
    const finish = (error?: string) => {
      if (done) return;
      done = true;
      if (error) stats.error = error;
      socket.destroy();
      resolve(stats);
    };
    const next = () => {
      if (Date.now() >= until) {
        socket.end();
        return;
      }
      expected = randomBytes(1024 + Math.floor(Math.random() * 15 * 1024));
      socket.write(expected);
    };
    let got = 0;
    socket.on("data", (chunk: Buffer) => {
      if (!chunk.equals(expected.subarray(got, got + chunk.length))) return finish(`corrupted echo after ${stats.bytes + got} bytes`);
      got += chunk.length;
      if (got === expected.length) {
        stats.bytes += got;
        stats.rounds++;
        got = 0;
        next();
      }
    });
    socket.on("end", () => finish(got === 0 ? undefined : "ended mid-chunk"));
    socket.on("error", (e) => finish(e.message));
    socket.on("close", () => finish(got === 0 ? undefined : "closed mid-chunk"));
    socket.write("ECHO\n");
    next();
  });
}

describe(`load: ${STREAMS} concurrent streams for ${SECONDS} s`, () => {
  let net: TestNetwork;
  let dest: DestServer;

  beforeAll(async () => {
    dest = await startDestServer("127.0.0.1");
    net = await startTestNetwork({ relays: 5, exits: 2, exitPolicy: "accept 127.0.0.0/8:*" });
  }, 180_000);

  afterAll(async () => {
    await killAll();
    await dest?.close();
    await removeTempDirs();
  });

  it("every byte checked; relay memory and descriptors return to baseline", async () => {
    const proxy = net.proxy!;
    const keys = Math.ceil(STREAMS / PER_CIRCUIT);
    const connect = (i: number) =>
      socksConnect({ proxyHost: proxy.socksHost, proxyPort: proxy.socksPort, host: "127.0.0.1", port: dest.port, username: `load${i % keys}`, timeoutMs: 120_000 });
    // Warm up: one short stream per isolation key builds the circuits (and links) the load uses.
    await Promise.all(Array.from({ length: keys }, async (_, i) => echoLoop(await connect(i), Date.now() + 200)));
    await sleep(2000);
    const pids = net.relays.map((r) => r.proc.pid);
    const before = await Promise.all(pids.map(snapshot));

    const started = Date.now();
    const sockets = await Promise.all(Array.from({ length: STREAMS }, (_, i) => connect(i)));
    const connectedMs = Date.now() - started;
    const until = Date.now() + SECONDS * 1000;
    const during = Promise.all(pids.map(async (pid) => {
      await sleep((SECONDS * 1000) / 2);
      return snapshot(pid);
    }));
    const results = await Promise.all(sockets.map((s) => echoLoop(s, until)));
    const mid = await during;

    const failed = results.filter((r) => r.error !== undefined);
    expect(failed.map((r) => r.error)).toEqual([]);
    const bytes = results.reduce((n, r) => n + r.bytes, 0);
    expect(results.every((r) => r.rounds > 0)).toBe(true);

    // Settle: streams ended, exits closed their destination sockets.
    const after = await waitFor("descriptors back near the baseline", 60_000, async () => {
      const now = await Promise.all(pids.map(snapshot));
      return now.every((s, i) => s.fds <= before[i].fds + 4) ? now : undefined;
    }, 1000);
    const report = net.relays.map((r, i) => `${r.nickname}: fds ${before[i].fds}->${mid[i].fds}->${after[i].fds}, RSS ${Math.round(before[i].rssKiB / 1024)}->${Math.round(mid[i].rssKiB / 1024)}->${Math.round(after[i].rssKiB / 1024)} MiB`);
    console.log(
      `load: ${STREAMS} streams connected in ${connectedMs} ms, ${SECONDS} s of echo, ${results.reduce((n, r) => n + r.rounds, 0)} round trips, ` +
        `${bytes} bytes sent and ${bytes} echoed bytes checked (${(bytes / SECONDS / 1e6).toFixed(1)} MB/s each way)\n  ${report.join("\n  ")}`,
    );
    for (const [i, s] of after.entries()) {
      // V8 keeps some heap it grew into; a leak of per-stream state would grow far beyond this.
      expect(s.rssKiB - before[i].rssKiB, `${net.relays[i].nickname} RSS`).toBeLessThan(96 * 1024);
    }
  }, Math.max(300_000, SECONDS * 1000 * 3 + 120_000));
});
