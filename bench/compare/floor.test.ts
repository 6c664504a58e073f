/**
 * The Node.js TLS floor as a network under test: its four real processes carry a SOCKS stream
 * to our local servers and back, report a refused destination as SOCKS "connection refused",
 * complete ntor handshakes through the relays (a wrong reply would fail the client's AUTH
 * check), and are gone after stop(). No timing assertions.
 */
import { createHash } from "node:crypto";
import { connect, createServer, type AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { floorOnly, FLOOR_FIGURES, startFloor } from "./floor.js";
import { startServers, type BenchServers } from "./servers.js";
import { socksConnect, SocksError } from "../../src/proxy/socks-client.js";
import type { NetworkUnderTest } from "./targets.js";
import { DESTINATION_HOST, roundTrips } from "./workloads.js";

const ROOT = new URL("../..", import.meta.url).pathname;

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("Node.js TLS floor", () => {
  let floor: NetworkUnderTest;
  let servers: BenchServers;
  beforeAll(async () => {
    servers = await startServers();
    floor = await startFloor({ root: ROOT, readyTimeoutMs: 30_000 });
  }, 60_000);
  afterAll(async () => {
    const pids = floor?.processes().map((p) => p.pid) ?? [];
    await floor?.stop();
    await servers?.close();
    for (const pid of pids) expect(alive(pid)).toBe(false);
  });

  it("carries bytes both ways, intact, through its four processes", async () => {
    expect(floor.processes().map((p) => p.name)).toEqual(["floor exit", "floor relay 2", "floor relay 1", "floor entry"]);
    const sock = await socksConnect({ proxyHost: floor.socksHost, proxyPort: floor.socksPort, host: DESTINATION_HOST, port: servers.echoPort, username: "u" });
    const sent = Buffer.alloc(300_000);
    for (let i = 0; i < sent.length; i++) sent[i] = (i * 7919) & 0xff;
    const chunks: Buffer[] = [];
    let got = 0;
    const done = new Promise<void>((resolve) =>
      sock.on("data", (c: Buffer) => {
        chunks.push(c);
        got += c.length;
        if (got >= sent.length) resolve();
      }),
    );
    sock.resume();
    sock.write(sent);
    await done;
    sock.destroy();
    const hash = (b: Buffer) => createHash("sha256").update(b).digest("hex");
    expect(hash(Buffer.concat(chunks))).toBe(hash(sent));
    const rtt = await roundTrips(floor, servers, 5, 0, "rtt");
    expect(rtt.samples).toHaveLength(5);
  });

  it("answers SOCKS 'connection refused' when the exit cannot connect", async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const attempt = socksConnect({ proxyHost: floor.socksHost, proxyPort: floor.socksPort, host: DESTINATION_HOST, port });
    await expect(attempt).rejects.toBeInstanceOf(SocksError);
    await expect(attempt).rejects.toMatchObject({ reply: 5 });
  });

  it("drops a client that sends a malformed CONNECT, and goes on serving others", async () => {
    const raw = connect(floor.socksPort, floor.socksHost);
    const closed = new Promise<void>((resolve) => raw.on("close", () => resolve()));
    raw.on("error", () => undefined);
    raw.once("data", () => raw.write(Buffer.from([5, 1, 0, 9, 0, 0])));
    raw.write(Buffer.from([5, 1, 0]));
    await closed;
    const rtt = await roundTrips(floor, servers, 2, 0, "after");
    expect(rtt.samples).toHaveLength(2);
  });

  it("builds: three ntor handshakes through its relays over links kept open, each timed", async () => {
    expect(floor.streamsUseBuiltCircuits).toBe(false);
    const times: number[] = [];
    // More than one: the second and third reuse the chain of build links the first opened.
    for (let i = 0; i < 3; i++) times.push((await floor.buildCircuit!()).ms);
    for (const ms of times) expect(ms).toBeGreaterThan(0);
    const rtt = await roundTrips(floor, servers, 2, 0, "after-builds");
    expect(rtt.samples).toHaveLength(2);
  });

  it("keeps only the figures it stands for", () => {
    const out = floorOnly({ values: { bulk_mb_per_s: 1, ready_ms: 2, peak_rss_mb_relay: 3 }, notes: [], nodesPeakRssMb: { x: 1 }, pids: {}, bulkCpuCores: {}, errors: [] });
    expect(out.values).toEqual({ bulk_mb_per_s: 1 });
    expect(out.nodesPeakRssMb).toEqual({});
    expect(FLOOR_FIGURES).not.toContain("ready_ms");
  });
});
