/**
 * A whole network on 127.0.0.1 in this process, for the proxy's end-to-end tests and
 * benchmarks: one authority (1 s voting period), relays publishing to it, and a proxy started
 * once the consensus lists every relay Running and Valid. Everything uses port 0 and a fresh
 * temporary directory that close() removes.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Consensus } from "../../gen/meowonion/v1/consensus_pb.js";
import { startDirectory, type DirectoryServer } from "../directory/server.js";
import { startRelay, type RelayHandle } from "../relay/relay.js";
import { ConsensusFollower } from "./consensus.js";
import { isUsable } from "./path.js";
import { type ProxyHandle, type ProxyOptions, startProxy } from "./proxy.js";

export interface LocalRelaySpec {
  nickname: string;
  /** Text form, e.g. "accept 127.0.0.0/8:*,reject *:*"; default: not an exit. */
  exitPolicy?: string;
}

export interface LocalNetwork {
  directory: DirectoryServer;
  relays: RelayHandle[];
  proxy: ProxyHandle;
  /** Proxy data directory (guard state). */
  proxyDataDir: string;
  close(): Promise<void>;
}

export const LOOPBACK_EXIT_POLICY = "accept 127.0.0.0/8:*,reject *:*";

export async function startLocalNetwork(options: {
  relays: LocalRelaySpec[];
  proxy?: Partial<Omit<ProxyOptions, "directories">>;
}): Promise<LocalNetwork> {
  const dir = await mkdtemp(join(tmpdir(), "meowonion-proxy-net-"));
  const stops: (() => Promise<unknown> | void)[] = [() => rm(dir, { recursive: true, force: true })];
  const close = async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  };
  try {
    const directory = await startDirectory({
      host: "127.0.0.1",
      port: 0,
      dataDir: join(dir, "authority"),
      intervalMs: 1_000,
      heartbeatTimeoutMs: 30_000,
    });
    stops.push(() => directory.close());
    const pins = [{ url: directory.url, key: directory.publicKey }];

    const relays: RelayHandle[] = [];
    for (const spec of options.relays) {
      const relay = await startRelay({
        host: "127.0.0.1",
        port: 0,
        dataDir: join(dir, spec.nickname),
        directories: pins,
        nickname: spec.nickname,
        exitPolicy: spec.exitPolicy,
        heartbeatSeconds: 5,
      });
      stops.push(() => relay.close());
      relays.push(relay);
    }
    await consensusListing(pins, relays.length);

    const proxyDataDir = join(dir, "proxy");
    const proxy = await startProxy({
      directories: pins,
      socks: { host: "127.0.0.1", port: 0 },
      control: { host: "127.0.0.1", port: 0 },
      dataDir: proxyDataDir,
      enforceDistinctSubnets: false,
      ...options.proxy,
    });
    stops.push(() => proxy.close());
    return { directory, relays, proxy, proxyDataDir, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Resolves once a consensus lists `count` usable relays (driven by WatchConsensus). */
async function consensusListing(pins: { url: string; key: Uint8Array }[], count: number): Promise<Consensus> {
  const follower = new ConsensusFollower(pins, { backoffInitialMs: 100 });
  try {
    return await new Promise<Consensus>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no consensus listed ${count} usable relays within 60 s`)), 60_000);
      follower.on("consensus", (c) => {
        if (c.relays.filter(isUsable).length < count) return;
        clearTimeout(timer);
        resolve(c);
      });
      follower.start();
    });
  } finally {
    follower.close();
  }
}
