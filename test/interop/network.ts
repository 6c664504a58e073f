/**
 * A mixed local network for interop tests: MeowOnion's directory authority, TypeScript relays
 * and Python relays (interop/python) as separate processes, optionally MeowOnion's proxy, and
 * an HTTP destination. Helpers force a circuit through chosen relays (ControlService
 * BuildCircuit with an explicit path) and fetch through it with curl.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import type { ManagedProcess } from "../helpers/procs.js";
import { removeTempDirs } from "../helpers/procs.js";
import {
  type DirectoryNode,
  type ProxyNode,
  type RelayNode,
  controlClient,
  startDirectoryNode,
  startProxyNode,
  startRelayNode,
  waitForConsensus,
} from "../helpers/network.js";
import { type HttpDestination, startHttpDestination } from "./http-destination.js";
import { type PythonRelay, startPythonRelay } from "./python.js";

export const LOOPBACK_EXITS = "accept 127.0.0.0/8:*,reject *:*";
const HOST = { host: "127.0.0.1" };

export interface RelaySpec {
  nickname: string;
  exit?: boolean;
}

export interface InteropNetwork {
  dir: DirectoryNode;
  ts: RelayNode[];
  py: PythonRelay[];
  proxy?: ProxyNode;
  dest: HttpDestination;
  /** The identity (hex) of the relay with this nickname. */
  identity(nickname: string): string;
  stop(): Promise<void>;
}

export async function startInteropNetwork(o: { ts: RelaySpec[]; py: RelaySpec[]; proxy: boolean }): Promise<InteropNetwork> {
  const procs: ManagedProcess[] = [];
  let dest: HttpDestination | undefined;
  const stop = async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await dest?.close();
    await removeTempDirs();
  };
  try {
    dest = await startHttpDestination();
    const dir = await startDirectoryNode(HOST, { intervalS: 2, heartbeatTimeoutS: 20 });
    procs.push(dir.proc);
    const policy = (r: RelaySpec) => (r.exit ? LOOPBACK_EXITS : undefined);
    const [ts, py] = await Promise.all([
      Promise.all(o.ts.map((r) => startRelayNode(dir, { nickname: r.nickname, exitPolicy: policy(r), where: HOST }).then((n) => (procs.push(n.proc), n)))),
      Promise.all(o.py.map((r) => startPythonRelay(dir, { nickname: r.nickname, exitPolicy: policy(r) }).then((n) => (procs.push(n.proc), n)))),
    ]);
    await waitForConsensus(dir, [...ts, ...py].map((r) => r.identity));
    const proxy = o.proxy ? await startProxyNode(dir, HOST) : undefined;
    if (proxy) procs.push(proxy.proc);
    const identity = (nickname: string) => {
      const r = [...ts, ...py].find((x) => x.nickname === nickname);
      if (!r) throw new Error(`no relay ${nickname}`);
      return r.identity;
    };
    return { dir, ts, py, proxy, dest, identity, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Fetch `bytes` from the destination with curl through MeowOnion's proxy on a circuit through
 * exactly `path` (nicknames, guard first): build it with ControlService BuildCircuit, close
 * every other circuit so the stream can only take this one, and check afterwards that it
 * carried the bytes. Returns the SHA-256 of what curl received.
 */
export async function curlThroughPath(net: InteropNetwork, path: string[], bytes: number): Promise<string> {
  const proxy = net.proxy!;
  const control = controlClient(proxy.controlUrl);
  const built = await control.buildCircuit({ path: path.map((n) => Buffer.from(net.identity(n), "hex")) }, { timeoutMs: 20_000 });
  const id = built.circuit!.id;
  for (const c of (await control.listCircuits({})).circuits) {
    if (c.id !== id) await control.closeCircuit({ id: c.id }).catch(() => undefined);
  }
  const sha256 = await curl(`${proxy.socksHost}:${proxy.socksPort}`, net.dest.url(bytes));
  const carried = (await control.listCircuits({})).circuits.find((c) => c.id === id);
  if (!carried || carried.bytesReceived < BigInt(bytes)) {
    throw new Error(`the circuit through ${path.join(" → ")} carried ${carried?.bytesReceived ?? 0} bytes, not the ${bytes} fetched`);
  }
  return sha256;
}

/** `curl --socks5-hostname PROXY URL`, hashing what it writes to stdout. */
export function curl(socks: string, url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("curl", ["--silent", "--show-error", "--fail", "--max-time", "180", "--socks5-hostname", socks, url], { stdio: ["ignore", "pipe", "pipe"] });
    const hash = createHash("sha256");
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => hash.update(chunk));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve(hash.digest("hex")) : reject(new Error(`curl exited ${code}: ${stderr.trim()}`))));
  });
}
