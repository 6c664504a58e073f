/**
 * The in-process network builder for tests and benchmarks: a directory authority, relays and a
 * proxy in this process on 127.0.0.1 port 0, each in a temporary data directory, with the
 * consensus entries of relays as circuit targets. Everything started is stopped by the
 * Cleanups it was registered with (or the network's close()).
 */
import { type DirectoryOptions, type DirectoryServer, startDirectory } from "../../src/directory/server.js";
import { createDirectoryClient, type DirectoryClient, watchConsensus } from "../../src/netdoc/directory-client.js";
import { LOCAL_EXIT_POLICY, LOCAL_TIMING } from "../../src/network/launcher.js";
import { onionServicePeriodsOf } from "../../src/onion/hs/time-period.js";
import { type RelayTarget, relayTargetOf } from "../../src/proxy/circuit.js";
import { awaitUsableRelays } from "../../src/proxy/consensus.js";
import { type ProxyHandle, type ProxyOptions, startProxy } from "../../src/proxy/proxy.js";
import { type RelayHandle, type RelayOptions, startRelay } from "../../src/relay/relay.js";
import { Cleanups, tempDir } from "./cleanups.js";

export { LOCAL_EXIT_POLICY };

export async function startTestDirectory(
  cleanups: Cleanups,
  options: Partial<DirectoryOptions> = {},
): Promise<{ server: DirectoryServer; client: DirectoryClient; dataDir: string }> {
  const dataDir = options.dataDir ?? (await tempDir(cleanups));
  const server = await startDirectory({
    host: "127.0.0.1",
    port: 0,
    dataDir,
    intervalMs: 1_000,
    heartbeatTimeoutMs: 3_000,
    hsDirUptimeMs: 0,
    onionServicePeriods: onionServicePeriodsOf(LOCAL_TIMING.hsPeriodMinutes),
    ...options,
  });
  cleanups.add(() => server.close());
  const client = createDirectoryClient(server.url);
  cleanups.add(() => client.close());
  return { server, client, dataDir };
}

export function targetOf(relay: RelayHandle): RelayTarget {
  return { nickname: relay.nickname, identityKey: relay.identityKey, ntorOnionKey: relay.ntorOnionKey, host: relay.host, port: relay.port };
}

/** A relay on 127.0.0.1:0 with its own temporary data directory, closed on cleanup. */
export async function startTestRelay(cleanups: Cleanups, options: Partial<RelayOptions> = {}): Promise<RelayHandle> {
  const relay = await startRelay({
    host: "127.0.0.1",
    port: 0,
    dataDir: options.dataDir ?? (await tempDir(cleanups, "meowonion-relay-test-")),
    heartbeatSeconds: 0.5,
    ...options,
  });
  cleanups.add(() => relay.close());
  return relay;
}

/** Entries for `identities`, in order, once a consensus verified against `key` lists them all with these onion keys (if given). */
export async function listedTargets(
  url: string,
  key: Uint8Array,
  identities: Uint8Array[],
  onionKeys: Uint8Array[] = [],
  timeoutMs = 60_000,
): Promise<RelayTarget[]> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    for await (const { consensus } of watchConsensus([url], [key], { signal: abort.signal })) {
      const entries = identities.map((id) => consensus.relays.find((e) => Buffer.from(e.identityKey).equals(id)));
      const current = entries.every((e, i) => e !== undefined && (onionKeys[i] === undefined || Buffer.from(e.ntorOnionKey).equals(onionKeys[i])));
      if (current) return entries.map((e) => relayTargetOf(e!));
    }
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
  throw new Error(`relays not listed in the consensus within ${timeoutMs} ms`);
}

/** The consensus entries of in-process relays, once listed with their current onion keys. */
export function consensusTargets(directory: DirectoryServer, relays: RelayHandle[]): Promise<RelayTarget[]> {
  return listedTargets(
    directory.url,
    directory.publicKey,
    relays.map((r) => r.identityKey),
    relays.map((r) => r.ntorOnionKey),
  );
}

export interface InProcessRelaySpec {
  nickname: string;
  /** Text form, e.g. "accept 127.0.0.0/8:*,reject *:*"; default: not an exit. */
  exitPolicy?: string;
}

/** The usual test network: two exits that may reach 127.0.0.0/8, three middles. */
export const FIVE_RELAYS: InProcessRelaySpec[] = [
  { nickname: "Exit1", exitPolicy: LOCAL_EXIT_POLICY },
  { nickname: "Exit2", exitPolicy: LOCAL_EXIT_POLICY },
  { nickname: "Middle3" },
  { nickname: "Middle4" },
  { nickname: "Middle5" },
];

export interface InProcessNetwork {
  directory: DirectoryServer;
  relays: RelayHandle[];
  proxy: ProxyHandle;
  /** Proxy data directory (guard state). */
  proxyDataDir: string;
  close(): Promise<void>;
}

/**
 * One authority (1 s voting period), `relays` publishing to it, and a proxy started once the
 * consensus lists every relay Running and Valid.
 */
export async function startInProcessNetwork(options: {
  relays: InProcessRelaySpec[];
  proxy?: Partial<Omit<ProxyOptions, "directories">>;
  directory?: Partial<DirectoryOptions>;
  /** How often relays heartbeat (default 5 s; with a short directory heartbeat timeout, lower). */
  relayHeartbeatSeconds?: number;
}): Promise<InProcessNetwork> {
  const cleanups = new Cleanups();
  try {
    const { server: directory } = await startTestDirectory(cleanups, { heartbeatTimeoutMs: 30_000, ...options.directory });
    const pins = [{ url: directory.url, key: directory.publicKey }];
    const relays: RelayHandle[] = [];
    for (const spec of options.relays) {
      relays.push(
        await startTestRelay(cleanups, {
          directories: pins,
          nickname: spec.nickname,
          exitPolicy: spec.exitPolicy,
          heartbeatSeconds: options.relayHeartbeatSeconds ?? 5,
          // Every client here (the proxy, its onion services, a test's second proxy) connects from
          // 127.0.0.1: the per-address CREATE2 budget (Tor's DoS defence, 90 at once) would count
          // them all as one client, and a guard they share would refuse the rest as a flood.
          limits: { createBurst: 1_000 },
        }),
      );
    }
    await awaitUsableRelays(pins, relays.length, { timeoutMs: 60_000 });
    const proxyDataDir = await tempDir(cleanups, "meowonion-proxy-");
    const proxy = await startProxy({
      directories: pins,
      socks: { host: "127.0.0.1", port: 0 },
      control: { host: "127.0.0.1", port: 0 },
      dataDir: proxyDataDir,
      enforceDistinctSubnets: false,
      ...options.proxy,
    });
    cleanups.add(() => proxy.close());
    return { directory, relays, proxy, proxyDataDir, close: () => cleanups.run() };
  } catch (err) {
    await cleanups.run();
    throw err;
  }
}
