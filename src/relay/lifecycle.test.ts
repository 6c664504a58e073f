/**
 * A relay's life: keys kept across restarts, onion key rotation with its grace period,
 * republishing, metrics, and idle links closing.
 */
import { once } from "node:events";
import { afterEach, describe, expect, it, vi } from "vitest";
import { DestroyReason } from "../../gen/meowonion/v1/link_pb.js";
import { echoServer } from "../../test/helpers/relay.js";
import { Cleanups, tempDir } from "../../test/helpers/cleanups.js";
import { LOCAL_EXIT_POLICY, consensusTargets, startTestDirectory, startTestRelay, targetOf } from "../../test/helpers/in-process-network.js";
import { ClientChannelManager } from "../proxy/channels.js";
import { buildCircuit } from "../proxy/build.js";

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

function clientChannels(): ClientChannelManager {
  const channels = new ClientChannelManager();
  cleanups.add(() => channels.close());
  return channels;
}

describe("relay lifecycle", () => {
  it("keeps its identity and onion key across a restart", async () => {
    const dataDir = await tempDir(cleanups);
    const first = await startTestRelay(cleanups, { dataDir });
    const identity = Buffer.from(first.identityKey);
    const onionKey = Buffer.from(first.ntorOnionKey);
    await first.close();
    const second = await startTestRelay(cleanups, { dataDir, port: first.port });
    expect(identity.equals(second.identityKey)).toBe(true);
    expect(onionKey.equals(second.ntorOnionKey)).toBe(true);
    // Clients holding the old descriptor still reach it.
    const circuit = await buildCircuit(clientChannels(), [targetOf(second)]);
    circuit.destroy();
  });

  it("rotates its onion key, republishes, and accepts the previous key for the grace period", async () => {
    const { server: directory } = await startTestDirectory(cleanups, { intervalMs: 500, heartbeatTimeoutMs: 5_000 });
    const pins = [{ url: directory.url, key: directory.publicKey }];
    const relays = [
      await startTestRelay(cleanups, { nickname: "Guard", directories: pins }),
      await startTestRelay(cleanups, { nickname: "Exit", directories: pins, exitPolicy: LOCAL_EXIT_POLICY }),
    ];
    const stale = await consensusTargets(directory, relays);
    await vi.waitFor(() => expect(relays[1].listed).toBe(true), { timeout: 5_000 }); // checked about once a heartbeat

    await relays[1].rotateOnionKey();
    expect(relays[1].listed).toBe(false); // the new descriptor is not in a consensus yet
    // A build from the old consensus (in flight during the rotation) still works.
    const circuit = await buildCircuit(clientChannels(), stale);
    circuit.destroy();
    // The new key reaches the consensus.
    const fresh = await consensusTargets(directory, relays);
    expect(Buffer.from(fresh[1].ntorOnionKey).equals(stale[1].ntorOnionKey)).toBe(false);
    await vi.waitFor(() => expect(relays[1].listed).toBe(true), { timeout: 5_000 }); // checked about once a heartbeat

    // Two rotations later the first key is gone: CREATE2 with it fails at that hop.
    await relays[1].rotateOnionKey();
    const attempt = buildCircuit(clientChannels(), stale);
    await expect(attempt).rejects.toMatchObject({ reason: DestroyReason.PROTOCOL, hop: 1 });
  });

  it("rotates on schedule (--onion-key-rotation)", async () => {
    const relay = await startTestRelay(cleanups, { onionKeyRotationSeconds: 0.3 });
    const first = Buffer.from(relay.ntorOnionKey);
    await vi.waitFor(() => expect(first.equals(relay.ntorOnionKey)).toBe(false), { timeout: 3_000 });
  });

  it("serves Prometheus metrics when asked to", async () => {
    const relays = [
      await startTestRelay(cleanups, { metrics: { host: "127.0.0.1", port: 0 } }),
      await startTestRelay(cleanups, { exitPolicy: LOCAL_EXIT_POLICY }),
    ];
    expect(relays[1].metricsPort).toBeUndefined();
    const circuit = await buildCircuit(clientChannels(), relays.map(targetOf));
    const stream = await circuit.openStream("127.0.0.1", await echoServer(cleanups));
    stream.resume().end("x");
    await once(stream, "end");
    const response = await fetch(`http://127.0.0.1:${relays[0].metricsPort}/metrics`);
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).toMatch(/^meowonion_relay_circuits 1$/m);
    expect(text).toMatch(/^meowonion_relay_circuits_created_total 1$/m);
    expect(text).toMatch(/^meowonion_relay_handshakes_total\{result="ok"\} 1$/m);
    expect(Number(/^meowonion_relay_cells_in_total (\d+)$/m.exec(text)?.[1])).toBeGreaterThan(3);
    expect(Number(/^meowonion_relay_cells_out_total (\d+)$/m.exec(text)?.[1])).toBeGreaterThan(3);
    expect(text).not.toContain("127.0.0.1:"); // no destinations in metrics
    circuit.destroy();
    expect((await fetch(`http://127.0.0.1:${relays[0].metricsPort}/other`)).status).toBe(404);
  });

  it("closes links that carry no circuit for the idle timeout", async () => {
    const relays = [
      await startTestRelay(cleanups, { limits: { linkIdleTimeoutMs: 200 } }),
      await startTestRelay(cleanups, { limits: { linkIdleTimeoutMs: 200 } }),
    ];
    const channels = clientChannels();
    const circuit = await buildCircuit(channels, relays.map(targetOf));
    const link = (await channels.channel(targetOf(relays[0]))).link;
    const linkClosed = once(link, "close");
    circuit.destroy();
    await linkClosed;
    // The next circuit opens a fresh link.
    const again = await buildCircuit(channels, relays.map(targetOf));
    expect((await channels.channel(targetOf(relays[0]))).link).not.toBe(link);
    again.destroy();
  });

  it("reuses one link per peer for every circuit", async () => {
    const relays = [await startTestRelay(cleanups), await startTestRelay(cleanups)];
    const channels = clientChannels();
    const a = await buildCircuit(channels, relays.map(targetOf));
    const link = (await channels.channel(targetOf(relays[0]))).link;
    const b = await buildCircuit(channels, relays.map(targetOf));
    expect((await channels.channel(targetOf(relays[0]))).link).toBe(link);
    expect(a.id).not.toBe(b.id);
    expect(relays[0].linkCount).toBe(2); // from the client, to the second relay
    expect(relays[1].linkCount).toBe(1); // both circuits share the first relay's link
    a.destroy();
    b.destroy();
  });
});
