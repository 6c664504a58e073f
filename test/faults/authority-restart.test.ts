/**
 * Fault: the (only) directory authority is SIGKILLed and restarted. Expect: while it is down,
 * relays keep running and the proxy keeps building NEW circuits and serving streams with the
 * last valid consensus; the restarted authority has the same key and state (descriptors are
 * durable), lists every relay again, and the proxy resyncs to a newer consensus from it.
 */
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DestServer, expectedSha256, startDestServer } from "../helpers/dest-server.js";
import { type TestNetwork, controlClient, restartDirectoryNode, startTestNetwork, waitForConsensus } from "../helpers/network.js";
import { killAll, removeTempDirs, sleep, waitFor } from "../helpers/procs.js";
import { fetchGenerated } from "../helpers/socks-client.js";

describe("fault: authority SIGKILLed and restarted", () => {
  let net: TestNetwork;
  let dest: DestServer;

  beforeAll(async () => {
    dest = await startDestServer("127.0.0.1");
    // A 10 s voting interval: a consensus stays valid for 30 s, longer than the outage.
    net = await startTestNetwork({ relays: 4, exits: 2, exitPolicy: "accept 127.0.0.0/8:*", intervalS: 10 });
  }, 120_000);

  afterAll(async () => {
    await killAll();
    await dest?.close();
    await removeTempDirs();
  });

  it("relays and clients carry on with the last valid consensus and resync after the restart", async () => {
    const proxy = net.proxy!;
    const control = controlClient(proxy.controlUrl);
    const before = await control.getStatus({});
    const validAfterBefore = timestampMs(before.consensusValidAfter!);
    const target = { proxyHost: proxy.socksHost, proxyPort: proxy.socksPort, host: "127.0.0.1", port: dest.port, timeoutMs: 30_000 };

    net.dir.proc.signal("SIGKILL");
    await net.dir.proc.exited;
    // Down: new circuits (a fresh isolation key each) and streams still work.
    for (let i = 0; i < 3; i++) {
      const seed = `authority-down-${i}`;
      const r = await fetchGenerated({ ...target, username: `down${i}` }, 128 * 1024, seed);
      expect(r.sha256).toBe(expectedSha256(128 * 1024, seed));
      await sleep(500);
    }
    expect(net.relays.every((r) => r.proc.alive)).toBe(true);
    expect(proxy.proc.alive).toBe(true);

    const restarted = await restartDirectoryNode(net.dir);
    expect(restarted.key).toBe(net.dir.key);
    expect(restarted.url).toBe(net.dir.url);
    // Every relay is back in the restarted authority's consensus...
    await waitForConsensus(restarted, net.relays.map((r) => r.identity), 60_000, true);
    // ...and the proxy follows it.
    const resynced = await waitFor("the proxy holding a newer consensus", 60_000, async () => {
      const status = await control.getStatus({});
      return timestampMs(status.consensusValidAfter!) > validAfterBefore ? status : undefined;
    }, 500);
    expect(resynced.relaysKnown).toBe(4);
    const after = await fetchGenerated({ ...target, username: "after" }, 256 * 1024, "authority-after");
    expect(after.sha256).toBe(expectedSha256(256 * 1024, "authority-after"));
    net.dir = restarted;
  }, 180_000);
});
