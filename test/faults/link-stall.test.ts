/**
 * Fault: a link stalls — a client stops reading its TLS link to its guard while exits keep
 * sending on 150 circuits. The guard (run with a 2 MiB memory ceiling for queued cells, so the
 * policy is reached in seconds; the default is 256 MiB) must keep its memory bounded and close
 * circuits with the OLDEST queued data (DESTROY RESOURCELIMIT, Tor's OOM handler), while other
 * clients' circuits through the same guard keep working.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DestroyReason } from "../../gen/meowonion/v1/link_pb.js";
import { type DestServer, expectedSha256, startDestServer } from "../helpers/dest-server.js";
import { type TestNetwork, fetchConsensusFrom, startTestNetwork } from "../helpers/network.js";
import { rssKiB } from "../helpers/proc-stats.js";
import { killAll, removeTempDirs, sleep, waitFor } from "../helpers/procs.js";
import { ClientChannelManager, relayByIdentity, socketOf } from "../helpers/raw-client.js";
import { type ClientCircuit } from "../../src/proxy/circuit.js";
import { fetchGenerated } from "../helpers/socks-client.js";
import { buildCircuit } from "../../src/proxy/build.js";

const CEILING = 2 * 1024 * 1024;
const CIRCUITS = 150;

async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  for (const line of text.split("\n")) if (line.startsWith(name)) sum += Number(line.split(" ").at(-1));
  return sum;
}

describe("fault: a link stalls (peer stops reading)", () => {
  let net: TestNetwork;
  let dest: DestServer;
  let channels: ClientChannelManager | undefined;

  beforeAll(async () => {
    dest = await startDestServer("127.0.0.1");
    net = await startTestNetwork({
      relays: 3,
      exits: 1,
      exitPolicy: "accept 127.0.0.0/8:*",
      // relay2 is the guard under test: small memory ceiling, metrics on.
      relaySpec: (i) => (i === 2 ? { limits: { maxQueuedBytes: CEILING, createBurst: 1000, createRatePerSecond: 1000 }, metrics: true } : process.env.FAULT_DEBUG ? { metrics: true } : {}),
    });
  }, 120_000);

  afterAll(async () => {
    channels?.close();
    await killAll();
    await dest?.close();
    await removeTempDirs();
  });

  it("memory stays bounded, the OOM policy closes the stalled circuits, others continue", async () => {
    const [exit, middle, guard] = net.relays;
    const consensus = (await fetchConsensusFrom(net.dir))!;
    const path = [guard, middle, exit].map((r) => relayByIdentity(consensus, r.identity));
    const rssBefore = await rssKiB(guard.proc.pid);

    channels = new ClientChannelManager();
    const circuits: ClientCircuit[] = [];
    const closeReasons: DestroyReason[] = [];
    // Each circuit may have 1000 cells (~0.5 MB) in flight; the kernel's socket buffers on
    // loopback absorb up to ~36 MB (tcp_rmem max 32 MiB here) before the guard sees congestion,
    // so 150 circuits are needed to pile data up at the guard.
    for (let batch = 0; batch < CIRCUITS / 10; batch++) {
      const built = await Promise.all(Array.from({ length: 10 }, () => buildCircuit(channels!, path, { timeoutMs: 60_000 })));
      for (const c of built) {
        c.once("close", (reason) => closeReasons.push(reason));
        circuits.push(c);
      }
    }
    // Two streams per circuit, each asking for far more than the windows let through.
    const streams = (
      await Promise.all(
        circuits.map(async (c) => {
          const pair = [];
          for (let j = 0; j < 2; j++) {
            const s = await c.openStream("127.0.0.1", dest.port, { timeoutMs: 60_000 });
            s.on("error", () => undefined);
            pair.push(s);
          }
          return pair;
        }),
      )
    ).flat();
    // Stop reading the link, then ask every stream for data: what the exits send piles up at the guard.
    socketOf((await channels.channel(path[0])).link).pause();
    for (const [i, s] of streams.entries()) s.write(`GEN ${64 * 1024 * 1024} stall-${i}\n`);

    let peakRss = rssBefore;
    const destroyedBefore = await metric(guard.metricsPort!, 'meowonion_relay_circuits_destroyed_total{reason="RESOURCELIMIT"}');
    const oom = await waitFor("the guard's OOM policy to close circuits", 60_000, async () => {
      peakRss = Math.max(peakRss, await rssKiB(guard.proc.pid));
      const n = await metric(guard.metricsPort!, 'meowonion_relay_circuits_destroyed_total{reason="RESOURCELIMIT"}');
      if (process.env.FAULT_DEBUG) console.log("queued", await metric(guard.metricsPort!, "meowonion_relay_queued_bytes"), "circuits", await metric(guard.metricsPort!, "meowonion_relay_circuits"), "rss", await rssKiB(guard.proc.pid), "exit bytes read", await metric(exit.metricsPort ?? 0, "meowonion_relay_exit_bytes_read_total").catch(() => -1), "exit cells out", await metric(exit.metricsPort ?? 0, "meowonion_relay_cells_out_total").catch(() => -1), "guard cells out", await metric(guard.metricsPort!, "meowonion_relay_cells_out_total"), "dest conns", dest.connections());
      return n > destroyedBefore ? n - destroyedBefore : undefined;
    }, 200);
    // Queued bytes are back under the ceiling; memory stayed bounded.
    const queued = await metric(guard.metricsPort!, "meowonion_relay_queued_bytes");
    expect(queued).toBeLessThanOrEqual(CEILING);

    // Meanwhile another client through the same guard is served.
    const proxy = net.proxy!;
    const target = { proxyHost: proxy.socksHost, proxyPort: proxy.socksPort, host: "127.0.0.1", port: dest.port, timeoutMs: 30_000 };
    const other = await fetchGenerated(target, 1024 * 1024, "stall-other");
    expect(other.sha256).toBe(expectedSha256(1024 * 1024, "stall-other"));

    for (let t = 0; t < 10; t++) {
      peakRss = Math.max(peakRss, await rssKiB(guard.proc.pid));
      await sleep(100);
    }
    // Resume reading: the client learns why its circuits died.
    socketOf((await channels.channel(path[0])).link).resume();
    await waitFor("DESTROY RESOURCELIMIT seen by the stalled client", 30_000, () => (closeReasons.includes(DestroyReason.RESOURCELIMIT) ? true : undefined));
    console.log(
      `link-stall fault: guard RSS ${Math.round(rssBefore / 1024)} MiB before, peak ${Math.round(peakRss / 1024)} MiB during the stall; ` +
        `${oom} circuits closed by the OOM policy (RESOURCELIMIT), queued bytes after ${queued}; other client OK`,
    );
    expect(peakRss - rssBefore).toBeLessThan(150 * 1024);
  }, 180_000);
});
