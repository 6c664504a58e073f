/**
 * Memory returns to baseline (issue: the load run saw a relay's RSS grow from 115 to 158 MiB
 * and stay there). Three load cycles through an in-process network of three relays, each
 * cycle: a fresh client, 6 circuits of 12 streams echoing 32 KB each, then everything closed.
 * After each cycle the live objects (after a full GC, v8.queryObjects) that make up circuits,
 * streams and links on both sides must be back at their baseline counts: none is retained.
 * Heap used and RSS are reported too: what stays above the baseline there is V8 keeping the
 * heap it grew to (its old space is not returned to the OS at once), not state kept alive.
 */
import { randomBytes } from "node:crypto";
import tls from "node:tls";
import v8 from "node:v8";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { Link } from "../../src/link/link.js";
import { Channel } from "../../src/link/channels.js";
import { HopWriter, RelayCircuit } from "../../src/relay/circuit.js";
import { EdgeStream, StreamEdge } from "../../src/edge/stream-edge.js";
import { ClientCircuit } from "../../src/proxy/circuit.js";
import { ClientStream } from "../../src/proxy/stream.js";
import { ClientChannelManager } from "../../src/proxy/channels.js";
import { buildCircuit } from "../../src/proxy/build.js";
import type { RelayHandle } from "../../src/relay/relay.js";
import { Cleanups } from "../helpers/cleanups.js";
import { echoServer } from "../helpers/relay.js";
import { LOCAL_EXIT_POLICY, startTestRelay, targetOf } from "../helpers/in-process-network.js";

const CIRCUITS = 6;
const STREAMS_PER_CIRCUIT = 12;
const BYTES_PER_STREAM = 32 * 1024;
const TRACKED = { Link, Channel, RelayCircuit, HopWriter, StreamEdge, EdgeStream, ClientCircuit, ClientStream, TLSSocket: tls.TLSSocket } as const;

const cleanups = new Cleanups();
let relays: RelayHandle[];
let echoPort: number;

beforeAll(async () => {
  relays = [
    await startTestRelay(cleanups, { nickname: "Guard" }),
    await startTestRelay(cleanups, { nickname: "Middle" }),
    await startTestRelay(cleanups, { nickname: "Exit", exitPolicy: LOCAL_EXIT_POLICY }),
  ];
  echoPort = await echoServer(cleanups);
});
afterAll(() => cleanups.run());

function counts(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, ctor] of Object.entries(TRACKED)) out[name] = v8.queryObjects(ctor, { format: "count" }) as number;
  return out;
}

function memory(): { heapMiB: number; rssMiB: number } {
  const { heapUsed, rss } = process.memoryUsage();
  return { heapMiB: Math.round(heapUsed / 2 ** 20), rssMiB: Math.round(rss / 2 ** 20) };
}

async function echo(stream: ClientStream): Promise<void> {
  const payload = randomBytes(BYTES_PER_STREAM);
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.once("end", resolve);
    stream.once("error", reject);
    stream.end(payload);
  });
  expect(Buffer.concat(chunks).equals(payload)).toBe(true);
}

/** One cycle: a fresh client, its circuits and streams, everything closed again. */
async function cycle(): Promise<void> {
  const channels = new ClientChannelManager();
  const circuits = await Promise.all(Array.from({ length: CIRCUITS }, () => buildCircuit(channels, relays.map(targetOf))));
  await Promise.all(
    circuits.map(async (circuit) => {
      const streams = await Promise.all(Array.from({ length: STREAMS_PER_CIRCUIT }, () => circuit.openStream("127.0.0.1", echoPort)));
      await Promise.all(streams.map(echo));
    }),
  );
  for (const circuit of circuits) circuit.destroy();
  channels.close();
}

/** The relays have freed the cycle's circuits and closed the client's links. */
async function settled(linksBefore: number[]): Promise<void> {
  await vi.waitFor(
    () => {
      expect(relays.map((r) => r.circuitCount)).toEqual(relays.map(() => 0));
      expect(relays.map((r) => r.linkCount)).toEqual(linksBefore);
    },
    { timeout: 15_000, interval: 50 },
  );
}

describe("memory after load", () => {
  it("circuits, streams and links return to their baseline counts after each of three load cycles", async () => {
    // Warm-up: the relay-to-relay links now exist (they stay open until idle) and every code
    // path has run once; the baseline is taken after it.
    await cycle();
    // Guard–middle and middle–exit stay; the client's link to the guard is gone.
    const links = [1, 2, 1];
    await settled(links);
    const baseline = counts();
    const report = [`baseline ${JSON.stringify(baseline)} ${JSON.stringify(memory())}`];
    for (let i = 1; i <= 3; i++) {
      const t0 = performance.now();
      await cycle();
      const t1 = performance.now();
      const loaded = memory();
      await settled(links);
      const t2 = performance.now();
      const after = counts();
      report.push(`timing cycle ${Math.round(t1 - t0)} settle ${Math.round(t2 - t1)} count ${Math.round(performance.now() - t2)} ms`);
      report.push(`cycle ${i}: peak-ish ${JSON.stringify(loaded)}, after ${JSON.stringify(after)} ${JSON.stringify(memory())}`);
      expect(after, `cycle ${i}`).toEqual(baseline);
    }
    console.log(report.join("\n"));
  }, 180_000);
});
