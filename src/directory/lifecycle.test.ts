/**
 * End to end over real sockets: publish (which counts as a heartbeat) → reachability test (a
 * real link handshake) → listed in the consensus with its flags → heartbeats stop → dropped.
 * Relays lying about their address never get in. WatchConsensus is the event source throughout.
 */
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { afterEach, describe, expect, it } from "vitest";
import { RelayFlag } from "../../gen/meowonion/v1/consensus_pb.js";
import { hex } from "../netdoc/descriptor.js";
import { parseExitPolicy } from "../netdoc/exit-policy.js";
import { freePort, listed, makeRelay, waitForConsensus, type TestRelay } from "../../test/helpers/directory.js";
import { verifySignedConsensus } from "../netdoc/consensus.js";
import { Cleanups } from "../../test/helpers/cleanups.js";
import { startTestDirectory } from "../../test/helpers/in-process-network.js";

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

/** Heartbeats every `everyMs` until the returned function is called. */
function keepBeating(send: () => Promise<unknown>, everyMs: number): () => void {
  let stopped = false;
  const loop = async () => {
    while (!stopped) {
      await send().catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  };
  void loop();
  const stop = () => {
    stopped = true;
  };
  cleanups.add(stop);
  return stop;
}

describe("relay lifecycle", () => {
  it("publish (alive as of then) → reachable → listed with flags → heartbeats → silent → dropped", async () => {
    const { server, client } = await startTestDirectory(cleanups, { intervalMs: 500, heartbeatTimeoutMs: 1_500, stableAfterMs: 1_000 });
    const keys = [server.publicKey];
    const relay = await makeRelay(cleanups, { nickname: "Lifecycle" });
    // The stored publication counts as the first heartbeat: tested and listed without one.
    await client.rpc.publishDescriptor({ descriptor: relay.descriptor() });
    const withRelay = await waitForConsensus(client, keys, (c) => listed(c, relay));
    const stop = keepBeating(() => client.rpc.heartbeat(relay.heartbeat()), 300);
    const entry = withRelay.relays.find((r) => hex(r.identityKey) === relay.keyHex)!;
    expect(entry.nickname).toBe("Lifecycle");
    expect(entry.orPort).toBe(relay.listener!.port);
    expect(entry.flags).toEqual(expect.arrayContaining([RelayFlag.RUNNING, RelayFlag.VALID, RelayFlag.FAST, RelayFlag.EXIT]));
    // Advertises 1 MB/s but has observed no traffic: weighted at the 20 KB/s cap.
    expect(entry.bandwidthWeight).toBe(20_000n);
    expect(withRelay.totals?.total).toBe(20_000n);
    expect(withRelay.totals?.exit).toBe(20_000n);

    // After stable-after of continuous Running, Stable and (sole Fast relay) Guard.
    const stable = await waitForConsensus(client, keys, (c) => c.relays.some((r) => r.flags.includes(RelayFlag.GUARD)));
    expect(stable.relays[0].flags).toEqual([RelayFlag.RUNNING, RelayFlag.VALID, RelayFlag.FAST, RelayFlag.STABLE, RelayFlag.GUARD, RelayFlag.EXIT]);
    expect(stable.totals?.guard).toBe(20_000n);

    stop();
    const dropped = await waitForConsensus(client, keys, (c) => !listed(c, relay));
    expect(dropped.relays).toHaveLength(0);
  });

  it("does not count a descriptor published longer ago than the heartbeat timeout as a heartbeat", async () => {
    const { server, client } = await startTestDirectory(cleanups, { intervalMs: 500, heartbeatTimeoutMs: 1_500 });
    const keys = [server.publicKey];
    const relay = await makeRelay(cleanups, { nickname: "Stale" });
    await client.rpc.publishDescriptor({ descriptor: relay.descriptor({ published: timestampFromMs(Date.now() - 10_000) }) });
    // Two rounds later (the first consensus may predate the publication): still not listed.
    const first = await waitForConsensus(client, keys, () => true);
    const later = await waitForConsensus(client, keys, (c) => timestampMs(c.validAfter!) > timestampMs(first.validAfter!));
    expect(listed(later, relay)).toBe(false);
    keepBeating(() => client.rpc.heartbeat(relay.heartbeat()), 300);
    await waitForConsensus(client, keys, (c) => listed(c, relay));
  });

  it("never lists relays that lie about their address, while honest ones get in", async () => {
    const { server, client } = await startTestDirectory(cleanups, { intervalMs: 500, heartbeatTimeoutMs: 1_500 });
    const keys = [server.publicKey];
    const honest = await makeRelay(cleanups, { nickname: "Honest" });
    // Points at the honest relay's listener, which proves a different identity.
    const impersonator = await makeRelay(cleanups, { listen: false, nickname: "Impersonator" });
    // Points at a port where nothing listens.
    const absent = await makeRelay(cleanups, { listen: false, nickname: "Absent" });
    const liars: [TestRelay, number][] = [
      [impersonator, honest.listener!.port],
      [absent, await freePort()], // nothing listens there
    ];
    await client.rpc.publishDescriptor({ descriptor: honest.descriptor() });
    for (const [liar, port] of liars) await client.rpc.publishDescriptor({ descriptor: liar.descriptor({ orPort: port }) });
    for (const r of [honest, impersonator, absent]) keepBeating(() => client.rpc.heartbeat(r.heartbeat()), 250);

    await waitForConsensus(client, keys, (c) => listed(c, honest));
    // Let several more consensuses (and reachability retries) go by: the liars stay out.
    let seen = 0;
    await waitForConsensus(client, keys, (c) => {
      expect(listed(c, impersonator) || listed(c, absent)).toBe(false);
      return ++seen >= 4;
    });
    expect(server.registry.isRunning(impersonator.keyHex)).toBe(false);
    expect(server.registry.isRunning(absent.keyHex)).toBe(false);
    expect((await client.rpc.heartbeat(impersonator.heartbeat())).running).toBe(false);
  });

  it("WatchConsensus delivers the current consensus at once and each new one after", async () => {
    const { server, client } = await startTestDirectory(cleanups, { intervalMs: 400 });
    const abort = new AbortController();
    cleanups.add(() => abort.abort());
    const validAfters: bigint[] = [];
    for await (const update of client.rpc.watchConsensus({}, { signal: abort.signal })) {
      const consensus = verifySignedConsensus(update.consensus!, [server.publicKey]);
      validAfters.push(consensus.validAfter!.seconds * 1000n + BigInt(consensus.validAfter!.nanos / 1e6));
      if (validAfters.length === 3) break;
    }
    expect(validAfters[1] - validAfters[0]).toBeGreaterThanOrEqual(400n);
    expect(validAfters[2] - validAfters[1]).toBeGreaterThanOrEqual(400n);
  });

  it("lists an exit-less relay without the Exit flag", async () => {
    const { server, client } = await startTestDirectory(cleanups, { intervalMs: 500 });
    const relay = await makeRelay(cleanups);
    await client.rpc.publishDescriptor({ descriptor: relay.descriptor({ exitPolicy: parseExitPolicy("reject *:*") }) });
    keepBeating(() => client.rpc.heartbeat(relay.heartbeat()), 300);
    const c = await waitForConsensus(client, [server.publicKey], (x) => listed(x, relay));
    expect(c.relays[0].flags).not.toContain(RelayFlag.EXIT);
    expect(c.totals?.exit).toBe(0n);
  });
});
