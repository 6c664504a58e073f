/**
 * An onion service outlives its HSDirs: every relay holding its descriptor for the current
 * period is stopped; once the consensus drops them, the service uploads to the relays that
 * are now responsible, and a fresh client still reaches it by name. (14 relays, so that the
 * 8 responsible ones can go and circuits still have relays to use.)
 */
import { createHash, randomBytes } from "node:crypto";
import { createServer, type AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { watchConsensus } from "../src/netdoc/directory-client.js";
import type { OnionService } from "../src/proxy/onion/service.js";
import { startProxy } from "../src/proxy/proxy.js";
import { Cleanups } from "./helpers/cleanups.js";
import { LOCAL_EXIT_POLICY, startInProcessNetwork, type InProcessNetwork } from "./helpers/in-process-network.js";
import { waitFor } from "./helpers/procs.js";
import { echoThrough } from "./helpers/socks-client.js";

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("an onion service whose HSDirs all go", () => {
  const cleanups = new Cleanups();
  let network: InProcessNetwork;
  let service: OnionService;

  beforeAll(async () => {
    const echo = createServer({ allowHalfOpen: true }, (socket) => socket.pipe(socket));
    await new Promise<void>((resolve) => echo.listen(0, "127.0.0.1", resolve));
    cleanups.add(() => new Promise<void>((resolve) => echo.close(() => resolve())));
    network = await startInProcessNetwork({
      relays: Array.from({ length: 14 }, (_, i) => ({ nickname: `r${i + 1}`, exitPolicy: i < 2 ? LOCAL_EXIT_POLICY : undefined })),
      directory: { heartbeatTimeoutMs: 4_000 },
      relayHeartbeatSeconds: 1,
    });
    cleanups.add(() => network.close());
    service = await network.proxy.addOnionService({ ports: [{ virtualPort: 7, host: "127.0.0.1", port: (echo.address() as AddressInfo).port }] });
  }, 180_000);

  afterAll(() => cleanups.run());

  it("republishes to the next HSDirs and is still reached by a fresh client", async () => {
    const storedAt = service.status().storedAt;
    const period = Math.max(...Object.keys(storedAt).map(Number));
    const holders = new Set(storedAt[period]);
    expect(holders.size).toBe(8); // 2 replicas × spread 4
    for (const relay of network.relays) if (holders.has(hex(relay.identityKey))) await relay.close();

    const newHolders = await waitFor("the descriptor on HSDirs that are still up", 60_000, () => {
      const now = service.status().storedAt[period] ?? [];
      return now.length > 0 && now.every((h) => !holders.has(h)) ? now : undefined;
    }, 250);
    expect(newHolders.length).toBeGreaterThan(0);
    await consensusWithout(holders);

    const client = await startProxy({
      directories: [{ url: network.directory.url, key: network.directory.publicKey }],
      socks: { host: "127.0.0.1", port: 0 },
      enforceDistinctSubnets: false,
    });
    cleanups.add(() => client.close());
    const payload = randomBytes(100_000);
    const echoed = await echoThrough({ proxyHost: client.socksHost, proxyPort: client.socksPort, host: service.address, port: 7, timeoutMs: 60_000 }, payload);
    expect(sha256(echoed)).toBe(sha256(payload));
  }, 120_000);

  /** Returns once the authority's consensus lists none of `gone` (the fresh client must not start on a consensus still naming them). */
  async function consensusWithout(gone: Set<string>): Promise<void> {
    const abort = AbortSignal.timeout(60_000);
    for await (const { consensus } of watchConsensus([network.directory.url], [network.directory.publicKey], { signal: abort })) {
      if (!consensus.relays.some((r) => gone.has(hex(r.identityKey)))) return;
    }
    throw new Error("the consensus still lists stopped relays after 60 s");
  }
});
