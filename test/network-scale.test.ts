/**
 * Scale (issue 27): a local network of SCALE_RELAYS relays (default 100; `npm run soak`:
 * 1,000) and 3 authorities, every node in this process, each relay on its own loopback
 * address. It must come up (readiness with progress), carry 20 fetches on 20 isolated
 * circuits with every byte checked, and stop cleanly (every relay's port closed).
 */
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generatedSha256 } from "../src/network/destination.js";
import { relayAddress } from "../src/network/loopback.js";
import { readyRelayCount, startNetwork, type RunningNetwork } from "../src/network/network.js";
import { parseHostPort } from "../src/common/host-port.js";
import { createControlClient } from "../src/proxy/tui/control.js";
import { httpGetThrough } from "./helpers/socks-client.js";

const RELAYS = Number(process.env.SCALE_RELAYS ?? 100);
const FETCHES = 20;
// Generous: a thousand relays in one process on a shared 2-core machine take minutes.
const START_TIMEOUT_MS = Math.max(240_000, RELAYS * 900);


function refused(address: string): Promise<boolean> {
  const { host, port } = parseHostPort(address);
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once("connect", () => {
      s.destroy();
      resolve(false);
    });
    s.once("error", () => resolve(true));
  });
}

describe(`a local network of ${RELAYS} relays and 3 authorities in one process`, () => {
  let network: RunningNetwork | undefined;
  const progress: string[] = [];

  beforeAll(async () => {
    network = await startNetwork({
      relays: RELAYS,
      exits: Math.max(2, Math.round(RELAYS / 10)),
      authorities: 3,
      socks: "127.0.0.1:0",
      control: "127.0.0.1:0",
      readyTimeoutMs: START_TIMEOUT_MS,
      onProgress: (line) => progress.push(line),
    });
  }, START_TIMEOUT_MS + 60_000);

  afterAll(async () => {
    await network?.close();
  }, 120_000);

  it("puts every relay on its own loopback address and reports readiness progress", () => {
    const hosts = network!.relays.map((r) => parseHostPort(r.orAddress).host);
    expect(new Set(hosts).size).toBe(RELAYS);
    expect(hosts.sort()).toEqual(Array.from({ length: RELAYS }, (_, i) => relayAddress(i)).sort());
    expect(progress.some((line) => line.startsWith(`waiting for a consensus listing ${readyRelayCount(RELAYS) === RELAYS ? "every relay" : `${readyRelayCount(RELAYS)} of the ${RELAYS}`}`))).toBe(true);
    expect(progress.some((line) => new RegExp(`^\\d+/${RELAYS} relays listed`).test(line))).toBe(true);
  });

  it(`fetches through ${FETCHES} isolated circuits, every byte checked`, async () => {
    const sizes = Array.from({ length: FETCHES }, (_, i) => 10_000 + i * 40_961);
    const results = await Promise.all(sizes.map((n, i) => httpGetThrough(network!.socksAddress, network!.httpUrl, `/bytes/${n}`, { username: `scale-${i}`, timeoutMs: 120_000 })));
    results.forEach((r, i) => expect(r).toEqual({ sha256: generatedSha256(sizes[i]), bytes: sizes[i] }));

    // Each isolation key had a circuit of its own.
    const control = createControlClient(network!.controlUrl);
    try {
      const { circuits } = await control.client.listCircuits({});
      const byKey = new Map<string, Set<bigint>>();
      for (const c of circuits) {
        if (!c.isolationKey.includes("scale-")) continue;
        const ids = byKey.get(c.isolationKey) ?? new Set<bigint>();
        ids.add(c.id);
        byKey.set(c.isolationKey, ids);
      }
      expect(byKey.size).toBe(FETCHES);
      const all = [...byKey.values()].flatMap((ids) => [...ids]);
      expect(new Set(all).size).toBe(all.length);
    } finally {
      control.close();
    }
  }, 300_000);

  it("stops cleanly: every relay's port is closed afterwards", async () => {
    const relays = network!.relays;
    await network!.close();
    network = undefined;
    const sample = relays.filter((_, i) => i % Math.max(1, Math.floor(relays.length / 50)) === 0);
    expect(await Promise.all(sample.map((r) => refused(r.orAddress)))).toEqual(sample.map(() => true));
  }, 120_000);
});
