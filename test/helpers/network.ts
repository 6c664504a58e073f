/**
 * A whole MeowOnion network as separate OS processes started through the command line, as a
 * deployment would run it: one directory authority, N relays (the first `exits` of them exit
 * to the given policy), optionally a proxy. Every node can live in its own network namespace
 * with its own address (test/netns). Teardown kills every process by PID.
 */
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type { Consensus } from "../../gen/meowonion/v1/consensus_pb.js";
import { ControlService } from "../../gen/meowonion/v1/control_pb.js";
import { createDirectoryClient } from "../../src/netdoc/directory-client.js";
import { type ManagedProcess, startCli, startNode, tempDir, waitFor } from "./procs.js";
import { verifySignedConsensus } from "../../src/netdoc/consensus.js";

export interface NodeHost {
  /** Address the node listens on (and advertises). */
  host: string;
  /** Network namespace to run in, if any. */
  netns?: string;
}

export interface DirectoryNode {
  proc: ManagedProcess;
  url: string;
  key: string;
  dataDir: string;
  args: string[];
  where: NodeHost;
}

export interface RelayNode {
  proc: ManagedProcess;
  nickname: string;
  identity: string;
  or: string;
  dataDir: string;
  args: string[];
  where: NodeHost;
  metricsPort?: number;
}

export interface ProxyNode {
  proc: ManagedProcess;
  socksHost: string;
  socksPort: number;
  controlUrl: string;
  args: string[];
  where: NodeHost;
}

const READY_MS = 60_000;

export async function startDirectoryNode(where: NodeHost, options: { intervalS?: number; heartbeatTimeoutS?: number; port?: number; dataDir?: string } = {}): Promise<DirectoryNode> {
  const dataDir = options.dataDir ?? (await tempDir("dir"));
  const args = [
    "directory",
    "--listen", `${where.host}:${options.port ?? 0}`,
    "--data-dir", dataDir,
    "--interval", String(options.intervalS ?? 2),
    "--heartbeat-timeout", String(options.heartbeatTimeoutS ?? 20),
  ];
  const proc = startCli(args, { name: "directory", netns: where.netns });
  const m = await proc.waitForLine(/^directory ready url=(\S+) key=([0-9a-f]{64})$/, READY_MS);
  return { proc, url: m[1], key: m[2], dataDir, args, where };
}

/** Restart an authority with the same data directory and address (same key, same state). */
export async function restartDirectoryNode(node: DirectoryNode): Promise<DirectoryNode> {
  const port = Number(new URL(node.url).port);
  const args = node.args.map((a, i) => (node.args[i - 1] === "--listen" ? `${node.where.host}:${port}` : a));
  const proc = startCli(args, { name: "directory", netns: node.where.netns });
  const m = await proc.waitForLine(/^directory ready url=(\S+) key=([0-9a-f]{64})$/, READY_MS);
  return { ...node, proc, url: m[1], key: m[2], args };
}

export interface RelaySpec {
  nickname: string;
  /** Resource limits (src/relay/limits.ts): runs test/helpers/relay-main.ts instead of the CLI. */
  limits?: Record<string, number>;
  /** Serve Prometheus metrics on this address's port 0 (relay-main only). */
  metrics?: boolean;
  exitPolicy?: string;
  where: NodeHost;
  heartbeatS?: number;
  port?: number;
  dataDir?: string;
}

export async function startRelayNode(dir: DirectoryNode, spec: RelaySpec): Promise<RelayNode> {
  const dataDir = spec.dataDir ?? (await tempDir(`relay-${spec.nickname}`));
  const args = [
    "relay",
    "--listen", `${spec.where.host}:${spec.port ?? 0}`,
    "--advertise", spec.where.host,
    "--directory", dir.url,
    "--directory-key", dir.key,
    "--data-dir", dataDir,
    "--nickname", spec.nickname,
    "--heartbeat", String(spec.heartbeatS ?? 7),
  ];
  if (spec.exitPolicy) args.push("--exit-policy", spec.exitPolicy);
  if (spec.limits !== undefined || spec.metrics) {
    if (spec.metrics) args.push("--metrics", `${spec.where.host}:0`);
    const proc = startNode("test/helpers/relay-main.ts", args.slice(1), {
      name: `relay ${spec.nickname}`,
      netns: spec.where.netns,
      env: { MEOWONION_TEST_RELAY_LIMITS: JSON.stringify(spec.limits ?? {}) },
    });
    const m = await proc.waitForLine(/^relay ready or=(\S+) identity=([0-9a-f]{64}) nickname=(\S+)(?: metrics=(\d+))?$/, READY_MS);
    return { proc, nickname: m[3], identity: m[2], or: m[1], dataDir, args, where: spec.where, metricsPort: m[4] ? Number(m[4]) : undefined };
  }
  const proc = startCli(args, { name: `relay ${spec.nickname}`, netns: spec.where.netns });
  const m = await proc.waitForLine(/^relay ready or=(\S+) identity=([0-9a-f]{64}) nickname=(\S+)$/, READY_MS);
  return { proc, nickname: m[3], identity: m[2], or: m[1], dataDir, args, where: spec.where };
}

/** Start a relay again from its data directory and the same arguments (same identity, same port). */
export async function restartRelayNode(node: RelayNode): Promise<RelayNode> {
  const port = node.or.slice(node.or.lastIndexOf(":") + 1);
  const args = node.args.map((a, i) => (node.args[i - 1] === "--listen" ? `${node.where.host}:${port}` : a));
  const proc = startCli(args, { name: `relay ${node.nickname}`, netns: node.where.netns });
  const m = await proc.waitForLine(/^relay ready or=(\S+) identity=([0-9a-f]{64}) nickname=(\S+)$/, READY_MS);
  return { ...node, proc, identity: m[2], or: m[1], args };
}

export async function startProxyNode(dir: DirectoryNode, where: NodeHost, options: { sameSubnet?: boolean; extra?: string[] } = {}): Promise<ProxyNode> {
  const args = [
    "proxy",
    "--directory", dir.url,
    "--directory-key", dir.key,
    "--socks", `${where.host}:0`,
    "--control", `${where.host}:0`,
    "--headless",
    ...(options.sameSubnet === false ? [] : ["--allow-same-subnet"]),
    ...(options.extra ?? []),
  ];
  const proc = startCli(args, { name: "proxy", netns: where.netns });
  const m = await proc.waitForLine(/^proxy ready socks=(\S+):(\d+) control=(\S+)$/, READY_MS);
  return { proc, socksHost: m[1].replace(/^\[|\]$/g, ""), socksPort: Number(m[2]), controlUrl: m[3], args, where };
}

/** The authority's current consensus, verified with its key; undefined if it has none yet. */
export async function fetchConsensusFrom(dir: { url: string; key: string }): Promise<Consensus | undefined> {
  const client = createDirectoryClient(dir.url);
  try {
    const res = await client.rpc.getConsensus({}, { timeoutMs: 5000 });
    if (res.consensus === undefined) return undefined;
    return verifySignedConsensus(res.consensus, [Buffer.from(dir.key, "hex")]);
  } finally {
    client.close();
  }
}

/** Wait until the consensus lists exactly the relays whose identities are given (hex). */
export async function waitForConsensus(dir: { url: string; key: string }, identities: string[], timeoutMs = 60_000, exact = false): Promise<Consensus> {
  return waitFor(`consensus listing ${identities.length} relays`, timeoutMs, async () => {
    const c = await fetchConsensusFrom(dir);
    if (c === undefined) return undefined;
    const listed = new Set(c.relays.map((r) => Buffer.from(r.identityKey).toString("hex")));
    if (!identities.every((id) => listed.has(id))) return undefined;
    if (exact && listed.size !== identities.length) return undefined;
    return c;
  }, 250);
}

export function controlClient(url: string) {
  return createClient(ControlService, createConnectTransport({ baseUrl: url, httpVersion: "1.1" }));
}

export interface TestNetwork {
  dir: DirectoryNode;
  relays: RelayNode[];
  proxy?: ProxyNode;
}

export interface TestNetworkOptions {
  relays: number;
  /** Per-relay extras (limits, metrics), by index. */
  relaySpec?: (i: number) => Partial<RelaySpec>;
  exits: number;
  exitPolicy: string;
  /** Where node i runs: "dir", "relay0".., "proxy". Default 127.0.0.1 in this namespace. */
  placement?: (role: string) => NodeHost;
  proxy?: boolean;
  intervalS?: number;
  heartbeatTimeoutS?: number;
}

export async function startTestNetwork(o: TestNetworkOptions): Promise<TestNetwork> {
  const place = o.placement ?? (() => ({ host: "127.0.0.1" }));
  const dir = await startDirectoryNode(place("dir"), { intervalS: o.intervalS, heartbeatTimeoutS: o.heartbeatTimeoutS });
  const relays = await Promise.all(
    Array.from({ length: o.relays }, (_, i) =>
      startRelayNode(dir, { nickname: i < o.exits ? `exit${i}` : `relay${i}`, exitPolicy: i < o.exits ? o.exitPolicy : undefined, where: place(`relay${i}`), ...o.relaySpec?.(i) }),
    ),
  );
  await waitForConsensus(dir, relays.map((r) => r.identity));
  const proxy = o.proxy === false ? undefined : await startProxyNode(dir, place("proxy"));
  return { dir, relays, proxy };
}
