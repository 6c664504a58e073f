/**
 * Fault: the proxy's guard (entry) relay is SIGKILLed while circuits through it exist, one of
 * them having carried a finished stream and one carrying a live transfer. Expect: the proxy
 * process survives (its link to the guard breaks: every circuit on it closes with
 * CHANNEL_CLOSED), the live transfer is cut off without a corrupted byte, and new streams
 * work through another guard.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CircuitState } from "../../gen/meowonion/v1/control_pb.js";
import { DestroyReason } from "../../gen/meowonion/v1/link_pb.js";
import { busyCircuits, hex, recordEvents } from "../helpers/control.js";
import { type DestServer, expectedSha256, startDestServer } from "../helpers/dest-server.js";
import { type TestNetwork, controlClient, startTestNetwork } from "../helpers/network.js";
import { killAll, removeTempDirs, sleep, waitFor } from "../helpers/procs.js";
import { fetchGenerated } from "../helpers/socks-client.js";

describe("fault: guard relay SIGKILLed", () => {
  let net: TestNetwork;
  let dest: DestServer;

  beforeAll(async () => {
    dest = await startDestServer("127.0.0.1");
    net = await startTestNetwork({ relays: 5, exits: 2, exitPolicy: "accept 127.0.0.0/8:*" });
  }, 120_000);

  afterAll(async () => {
    await killAll();
    await dest?.close();
    await removeTempDirs();
  });

  it("the proxy survives, the transfer is cut off intact, new streams use another guard", async () => {
    const proxy = net.proxy!;
    const target = { proxyHost: proxy.socksHost, proxyPort: proxy.socksPort, host: "127.0.0.1", port: dest.port, timeoutMs: 30_000 };
    // A finished stream first, then a long one on the same circuit.
    const first = await fetchGenerated({ ...target, username: "g" }, 64 * 1024, "guard-first");
    expect(first.complete).toBe(true);
    const events = recordEvents(proxy.controlUrl);
    const live = fetchGenerated({ ...target, username: "g" }, 64 * 1024 * 1024, "guard-live");
    const [busy] = await waitFor("the live stream attached", 20_000, async () => {
      const c = await busyCircuits(proxy.controlUrl);
      return c.length > 0 ? c : undefined;
    });
    const guardKey = hex(busy.path[0].identityKey);
    const guard = net.relays.find((r) => r.identity === guardKey)!;
    await sleep(300);
    guard.proc.signal("SIGKILL");

    const closed = await waitFor("circuit closed", 10_000, () => events.circuits.find((e) => e.info.id === busy.id && e.info.state === CircuitState.CLOSED));
    expect(closed.info.closeReason).toBe(DestroyReason.CHANNEL_CLOSED);
    const cut = await live;
    expect(cut.intact).toBe(true);
    expect(cut.complete).toBe(false);
    // The proxy process is still alive and serves new streams.
    await sleep(1000);
    expect(proxy.proc.alive, `proxy died:\n${proxy.proc.stderr.slice(-3000)}`).toBe(true);
    const again = await fetchGenerated({ ...target, username: "after" }, 256 * 1024, "guard-after");
    expect(again.sha256).toBe(expectedSha256(256 * 1024, "guard-after"));
    const { circuits } = await controlClient(proxy.controlUrl).listCircuits({});
    expect(circuits.filter((c) => c.state === CircuitState.OPEN).every((c) => hex(c.path[0].identityKey) !== guardKey)).toBe(true);
    events.stop();
  }, 180_000);
});
