/**
 * Hostile load from one address (127.0.0.9) against one relay, while an honest client (the
 * proxy, from 127.0.0.1) builds circuits through that relay as its guard and fetches data:
 *  - a CREATE2 flood hits the per-address creation rate limit (token bucket: burst 90, 3/s):
 *    the first ~90 are answered CREATED2, the rest DESTROY RESOURCELIMIT;
 *  - a cell flood (100,000 frames: RELAY cells for unknown circuit ids, garbage RELAY cells on
 *    its own circuits, padding), then a malformed frame: the relay answers/destroys, closes
 *    the flooder's link, keeps bounded memory, and the honest client's circuits keep working.
 */
import tls from "node:tls";
import { create } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CircuitState } from "../../gen/meowonion/v1/control_pb.js";
import { DestroyReason, FrameSchema, HandshakeType } from "../../gen/meowonion/v1/link_pb.js";
import { type Link, connectLink } from "../../src/link/link.js";
import { RELAY_BODY_LEN } from "../../src/onion/frame.js";
import { ntorClientStart, relayIdFromIdentity } from "../../src/onion/ntor.js";
import { type DestServer, expectedSha256, startDestServer } from "../helpers/dest-server.js";
import { type TestNetwork, controlClient, fetchConsensusFrom, startTestNetwork } from "../helpers/network.js";
import { rssKiB } from "../helpers/proc-stats.js";
import { killAll, removeTempDirs, sleep, waitFor } from "../helpers/procs.js";
import { socketOf } from "../helpers/raw-client.js";
import { fetchGenerated } from "../helpers/socks-client.js";

const FLOODER = "127.0.0.9";

/** connectLink from another loopback address (the relay sees a different client address). */
async function linkFrom(localAddress: string, host: string, port: number, identity: Uint8Array): Promise<Link> {
  const original = tls.connect;
  const patched = (options: tls.ConnectionOptions) => original({ ...options, localAddress } as tls.ConnectionOptions);
  (tls as { connect: unknown }).connect = patched;
  try {
    return await connectLink({ host, port, expectedIdentity: identity });
  } finally {
    (tls as { connect: typeof tls.connect }).connect = original;
  }
}

async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  for (const line of text.split("\n")) if (line.startsWith(name)) sum += Number(line.split(" ").at(-1));
  return sum;
}

describe("floods from one address", () => {
  let net: TestNetwork;
  let dest: DestServer;
  let flood: Link | undefined;

  beforeAll(async () => {
    dest = await startDestServer("127.0.0.1");
    net = await startTestNetwork({ relays: 4, exits: 2, exitPolicy: "accept 127.0.0.0/8:*", relaySpec: (i) => (i === 3 ? { metrics: true } : {}) });
  }, 120_000);

  afterAll(async () => {
    flood?.close();
    await killAll();
    await dest?.close();
    await removeTempDirs();
  });

  it("a CREATE2 flood hits the rate limit; then a cell flood is absorbed; honest circuits keep working", async () => {
    const victim = net.relays[3];
    const consensus = (await fetchConsensusFrom(net.dir))!;
    const entry = consensus.relays.find((r) => Buffer.from(r.identityKey).toString("hex") === victim.identity)!;
    const control = controlClient(net.proxy!.controlUrl);
    const key = (r: { identity: string }) => Buffer.from(r.identity, "hex");
    const honestPath = [key(victim), key(net.relays[2]), key(net.relays[0])];
    const rssBefore = await rssKiB(victim.proc.pid);

    flood = await linkFrom(FLOODER, entry.ipv4Address, entry.orPort, entry.identityKey);
    const created = new Set<number>();
    const refused = new Map<number, DestroyReason>();
    flood.onFrames = (frames) => {
      for (const frame of frames) {
        if (frame.command.case === "created2") created.add(frame.circuitId);
        if (frame.command.case === "destroy") refused.set(frame.circuitId, frame.command.value.reason);
      }
    };

    // CREATE2 flood: 400 valid ntor onionskins as fast as the link takes them.
    const relayId = relayIdFromIdentity(entry.identityKey);
    const ids: number[] = [];
    const t0 = Date.now();
    for (let i = 0; i < 400; i++) {
      const id = flood.allocateCircuitId((x) => ids.includes(x));
      ids.push(id);
      const { onionskin } = ntorClientStart(relayId, entry.ntorOnionKey);
      flood.send(create(FrameSchema, { circuitId: id, command: { case: "create2", value: { handshakeType: HandshakeType.NTOR, handshakeData: onionskin } } }));
    }
    // Meanwhile the honest client builds circuits with the victim as guard.
    const honest = await control.buildCircuit({ path: honestPath });
    expect(honest.circuit?.state).toBe(CircuitState.OPEN);
    await waitFor("every CREATE2 answered", 30_000, () => (created.size + refused.size >= 400 ? true : undefined));
    const elapsedS = (Date.now() - t0) / 1000;
    const limited = [...refused.values()].filter((r) => r === DestroyReason.RESOURCELIMIT).length;
    // Burst 90 plus 3/s refill (and slack for timing).
    expect(created.size).toBeLessThanOrEqual(90 + Math.ceil(3 * elapsedS) + 5);
    expect(created.size).toBeGreaterThanOrEqual(80);
    expect(limited).toBe(400 - created.size);
    const honestAgain = await control.buildCircuit({ path: honestPath });
    expect(honestAgain.circuit?.state).toBe(CircuitState.OPEN);

    // Cell flood, from the same address, without reading the answers.
    socketOf(flood).pause();
    const garbage = new Uint8Array(RELAY_BODY_LEN);
    const mine = [...created];
    const proxy = net.proxy!;
    const target = { proxyHost: proxy.socksHost, proxyPort: proxy.socksPort, host: "127.0.0.1", port: dest.port, timeoutMs: 60_000 };
    let sent = 0;
    const flooding = (async () => {
      for (let round = 0; round < 100 && !flood!.isClosed; round++) {
        for (let i = 0; i < 1000; i++) {
          garbage[0] = i & 0xff;
          if (i % 3 === 0) flood!.sendRelay((0x80000000 | (round * 1000 + i + 1)) >>> 0, garbage); // unknown circuit id
          else if (i % 3 === 1 && mine.length > 0) flood!.sendRelay(mine[i % mine.length], garbage); // garbage on its circuits
          else flood!.send(create(FrameSchema, { circuitId: 0, command: { case: "padding", value: { data: garbage.subarray(0, 100) } } }));
          sent++;
        }
        await sleep(1); // let the socket drain a little
      }
    })();
    // The honest client fetches through a circuit with the victim as guard during the flood.
    const during = await fetchGenerated({ ...target, username: "during-flood" }, 2 * 1024 * 1024, "flood-during");
    expect(during.sha256).toBe(expectedSha256(2 * 1024 * 1024, "flood-during"));
    await flooding;
    // A malformed frame closes the flooder's link.
    const errorsBefore = await metric(victim.metricsPort!, "meowonion_relay_link_errors_total");
    socketOf(flood).resume();
    socketOf(flood).write(Buffer.from([0x05, 0xff, 0xff, 0xff, 0xff, 0xff]));
    await waitFor("the flooder's link closed", 15_000, () => (flood!.isClosed ? true : undefined));
    await waitFor("the link error counted", 10_000, async () => ((await metric(victim.metricsPort!, "meowonion_relay_link_errors_total")) > errorsBefore ? true : undefined));

    const rssAfter = await rssKiB(victim.proc.pid);
    expect(victim.proc.alive).toBe(true);
    const after = await fetchGenerated({ ...target, username: "after-flood" }, 512 * 1024, "flood-after");
    expect(after.sha256).toBe(expectedSha256(512 * 1024, "flood-after"));
    console.log(
      `floods: CREATE2 x400 in ${elapsedS.toFixed(1)} s -> ${created.size} CREATED2, ${limited} DESTROY RESOURCELIMIT; ` +
        `cell flood ${sent} frames; victim RSS ${Math.round(rssBefore / 1024)} -> ${Math.round(rssAfter / 1024)} MiB; honest fetches OK`,
    );
    expect(rssAfter - rssBefore).toBeLessThan(200 * 1024);
  }, 180_000);
});
