/**
 * `onion_service_connect_ms_p50` / `_p90` and `onion_service_bulk_mb_per_s`: an onion service
 * run by the proxy of a `meowonion network --processes` (from source, as bench/network.ts runs
 * it: authority, 5 relays, proxy) through its ControlService (AddOnionService), in front of an
 * HTTP server in this process, and reached through fresh proxy processes of the same network.
 * The workloads are bench:compare's (./compare/onion-service.ts), which measures Tor's onion
 * service the same way.
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { DEFAULT_EXITS, DEFAULT_RELAYS } from "../src/network/network.js";
import { measureOnionService, onionServicePorts, type OnionServiceParams } from "./compare/onion-service.js";
import { startServers } from "./compare/servers.js";
import { round } from "./compare/stats.js";
import { startOurs, type NetworkUnderTest } from "./compare/targets.js";
import { firstByteWhenReady } from "./compare/workloads.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const READY_TIMEOUT_MS = 120_000;

/** 15 fresh clients, then 50 MB after 50 MB of warm-up: about a minute on 2 cores. */
const PARAMS: OnionServiceParams = {
  connects: 15,
  bulkBytes: 50_000_000,
  warmupBytes: 50_000_000,
  gapMs: 100,
  transferCapMs: 30_000,
  readyTimeoutMs: READY_TIMEOUT_MS,
};

export async function benchOnionService(): Promise<Record<string, number>> {
  const say = (msg: string) => process.stderr.write(`bench: ${msg.trim()}\n`);
  const servers = await startServers();
  const dst = { httpPort: servers.httpPort, echoPort: servers.echoPort };
  let net: NetworkUnderTest | undefined;
  try {
    net = await startOurs({ root: ROOT, build: "source", relays: DEFAULT_RELAYS, exits: DEFAULT_EXITS, readyTimeoutMs: READY_TIMEOUT_MS });
    await firstByteWhenReady(net, dst, Date.now() + READY_TIMEOUT_MS, "onion-service-bench-ready");
    const service = await net.onionService!(onionServicePorts(dst));
    const { values, notes } = await measureOnionService(service, dst, PARAMS, "bench", say);
    for (const note of notes) say(note);
    return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, round(v)]));
  } finally {
    await net?.stop();
    await servers.close();
  }
}
