/**
 * The onion-service workloads, run the same way against any network that has onion services
 * (Tor's `.onion`, our `.meow`): a service in front of the HTTP destination, published by the
 * network's own client through its control API, and reached through the SOCKS ports of fresh
 * clients (one more process each: Tor's client, our proxy).
 *
 *   onion_service_connect_ms_p50/p90  a client that has never asked for the service (no
 *                                     descriptor, no circuit to it), bootstrapped and used once
 *                                     through an exit like any started client: from the SOCKS
 *                                     request for `<address>:80` to the first byte of the answer
 *                                     to a 1-byte GET. Descriptor fetch, introduction, rendezvous,
 *                                     BEGIN and one round trip through the joined circuits.
 *   onion_service_bulk_mb_per_s       one stream's download from the service (the client's hops
 *                                     to the rendezvous point, the service's from it), on a
 *                                     rendezvous circuit that an untimed warm-up transfer set up.
 *
 * Used by bench:compare (./run.ts) and by `npm run bench` (../onion-service.ts).
 */
import { bulk, firstByteWhenReady, freshFirstByte, type Destinations, type SocksTarget } from "./workloads.js";
import { percentile } from "./stats.js";

/** The service's virtual port for the HTTP destination. */
export const ONION_SERVICE_HTTP_PORT = 80;

/** A virtual port of an onion service and where its streams go ("HOST:PORT"). */
export interface OnionServicePortSpec {
  virtualPort: number;
  target: string;
}

/** A client of the network, its own process, started for the onion-service workloads. */
export interface OnionClient extends SocksTarget {
  stop(): Promise<void>;
}

export interface OnionServiceUnderTest {
  /** The name clients ask for: `<56 characters>.onion` or `.meow`. */
  host: string;
  /** Start a client process that has never been used (ready to build circuits). */
  freshClient(): Promise<OnionClient>;
}

export interface OnionServiceParams {
  /** Fresh clients, one connect each. */
  connects: number;
  bulkBytes: number;
  /** Moved untimed over the bulk stream's rendezvous circuit first (at least 1 byte, which sets the circuit up). */
  warmupBytes: number;
  /** Pause before each timed connect (see Params.opGapMs in ./run.ts). */
  gapMs: number;
  transferCapMs: number;
  readyTimeoutMs: number;
}

export interface OnionServiceFigures {
  values: Record<string, number>;
  notes: string[];
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A service in front of the HTTP destination `dst` (on 127.0.0.1). */
export function onionServicePorts(dst: Destinations): OnionServicePortSpec[] {
  return [{ virtualPort: ONION_SERVICE_HTTP_PORT, target: `127.0.0.1:${dst.httpPort}` }];
}

/**
 * The connects, then the bulk transfer. A connect that fails is noted and left out of the
 * median (the step fails if none succeeds). `tag` makes SOCKS usernames unique across runs.
 */
export async function measureOnionService(
  service: OnionServiceUnderTest,
  dst: Destinations,
  p: OnionServiceParams,
  tag: string,
  log: (msg: string) => void,
): Promise<OnionServiceFigures> {
  const viaService: Destinations = { ...dst, httpPort: ONION_SERVICE_HTTP_PORT };
  const notes: string[] = [];
  const connects: number[] = [];
  const values: Record<string, number> = {};
  let client: OnionClient | undefined;
  /** Stop the client in use, start a fresh one and bring it to where a started client is. */
  const freshClient = async (i: number): Promise<OnionClient> => {
    await client?.stop();
    client = undefined;
    client = await service.freshClient();
    await firstByteWhenReady(client, dst, Date.now() + p.readyTimeoutMs, `${tag}-onion-ready-${i}`);
    return client;
  };
  try {
    for (let i = 0; i < p.connects; i++) {
      const c = await freshClient(i);
      await sleep(p.gapMs);
      try {
        connects.push(await freshFirstByte(c, viaService, `${tag}-onion-${i}`, service.host));
      } catch (e) {
        notes.push(`${tag}: onion-service connect ${i + 1} failed (${e instanceof Error ? e.message : String(e)})`);
      }
    }
    if (connects.length === 0) throw new Error(`every onion-service connect failed: ${notes.join("; ")}`);
    values.onion_service_connect_ms_p50 = percentile(connects, 50);
    values.onion_service_connect_ms_p90 = percentile(connects, 90);
    log(`    onion service: ${connects.length} connects, ${connects.map((ms) => Math.round(ms)).join(", ")} ms`);

    const c = client ?? (await freshClient(p.connects));
    const username = `${tag}-onion-bulk`;
    await bulk(c, viaService, Math.max(1, p.warmupBytes), username, p.transferCapMs, service.host);
    const r = await bulk(c, viaService, p.bulkBytes, username, p.transferCapMs, service.host);
    values.onion_service_bulk_mb_per_s = r.mbPerS;
    if (r.capped) notes.push(`${tag}: onion-service bulk stopped after ${p.transferCapMs / 1000} s at ${(r.bytes / 1e6).toFixed(0)} MB`);
    return { values, notes };
  } finally {
    await client?.stop();
  }
}
