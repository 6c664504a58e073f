/**
 * Memory per idle circuit at a relay, for Tor: the Tor client builds N circuits through one of
 * the test network's relays with `EXTENDCIRCUIT 0 $FP` (1 hop: the relay is the last hop) or
 * `EXTENDCIRCUIT 0 $FP,$FP2` (2 hops: it is the first of two and holds both circuit table
 * entries), and the relay's resident memory (VmRSS) is read before and after, each after the
 * circuits sat idle for a while. Tor has no garbage collector to run first; its freed memory
 * goes back to malloc. Ours: bench/idle-circuits.ts (the same shape with raw CREATE2/EXTEND2).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseStatusKb } from "./procs.js";
import type { TorNetwork } from "./tor-net.js";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function rssBytes(pid: number): number {
  const kb = parseStatusKb(readFileSync(`/proc/${pid}/status`, "utf8"), "VmRSS");
  if (kb === undefined) throw new Error(`no VmRSS for pid ${pid}`);
  return kb * 1024;
}

export interface TorIdleOptions {
  circuits: number;
  /** Also 2-hop circuits (the relay as first of two hops). */
  middle: boolean;
  /** EXTENDCIRCUIT in flight at once. */
  concurrency?: number;
  warmup?: number;
  settleMs?: number;
  log?: (msg: string) => void;
}

export interface TorIdleFigures {
  circuits: number;
  /** (RSS after − RSS before) / circuits, bytes. */
  rssBytes: number;
  before: number;
  after: number;
  buildMs: number;
}

/** The relay's identity fingerprint, from its data directory. */
function fingerprint(dataDir: string): string {
  const text = readFileSync(join(dataDir, "fingerprint"), "utf8").trim();
  const fp = text.split(/\s+/)[1];
  if (!fp || !/^[0-9A-F]{40}$/.test(fp)) throw new Error(`unexpected fingerprint file: ${text}`);
  return fp;
}

/**
 * Build `count` circuits along `path` (fingerprints) through the client's ControlPort,
 * `concurrency` at a time, each awaited until BUILT. Returns their ids.
 */
async function buildTorCircuits(net: TorNetwork, path: string[], count: number, concurrency: number): Promise<string[]> {
  const status = new Map<string, string>();
  const waiters = new Map<string, () => void>();
  const off = net.control.onEvent((e) => {
    const m = /^CIRC (\d+) (\w+)/.exec(e.lines[0] ?? "");
    if (m && (m[2] === "BUILT" || m[2] === "FAILED" || m[2] === "CLOSED") && !status.has(m[1]!)) {
      status.set(m[1]!, m[2]!);
      waiters.get(m[1]!)?.();
    }
  });
  const ids: string[] = [];
  const arg = path.map((fp) => `$${fp}`).join(",");
  let started = 0;
  const worker = async () => {
    while (started < count) {
      started++;
      const r = await net.control.ok(`EXTENDCIRCUIT 0 ${arg}`);
      const id = /^EXTENDED (\d+)/.exec(r.lines[0] ?? "")?.[1];
      if (!id) throw new Error(`EXTENDCIRCUIT: unexpected reply ${r.lines.join(" ")}`);
      if (!status.has(id)) {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`circuit ${id} not built within 60 s`)), 60_000);
          waiters.set(id, () => {
            clearTimeout(timer);
            resolve();
          });
        });
        waiters.delete(id);
      }
      if (status.get(id) !== "BUILT") throw new Error(`circuit ${id} ${status.get(id)}`);
      ids.push(id);
    }
  };
  try {
    await net.control.addEvents("CIRC");
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
    return ids;
  } finally {
    off();
  }
}

/**
 * RSS once it holds still: a relay that just joined the network is still fetching and caching
 * directory documents (its RSS grows by megabytes for a minute), which would count as circuits.
 * Stable: three readings a second apart within 64 KiB; at most `maxMs`.
 */
async function stableRss(pid: number, log: (msg: string) => void, maxMs = 60_000): Promise<number> {
  const readings = [rssBytes(pid)];
  const deadline = Date.now() + maxMs;
  for (;;) {
    await sleep(1_000);
    readings.push(rssBytes(pid));
    const last = readings.slice(-3);
    if (last.length === 3 && Math.max(...last) - Math.min(...last) <= 64 * 1024) return last[2]!;
    if (Date.now() > deadline) {
      log(`tor relay1: RSS still moving after ${maxMs / 1000} s (${last.map((r) => Math.round(r / 1024)).join(", ")} KiB)`);
      return last[last.length - 1]!;
    }
  }
}

/**
 * Measure at `relay1` of the test network (a middle relay): 1-hop circuits, then (with
 * `middle`) 2-hop circuits relay1 → relay2. The circuits stay open until the network stops
 * (each measurement builds on top of the previous one's baseline).
 */
export async function torIdleCircuits(net: TorNetwork, opts: TorIdleOptions): Promise<{ edge: TorIdleFigures; middle?: TorIdleFigures }> {
  const concurrency = opts.concurrency ?? 32;
  const warmup = opts.warmup ?? 2_000;
  const settleMs = opts.settleMs ?? 3_000;
  const log = opts.log ?? (() => undefined);
  const relay = net.nodes.find((n) => n.nickname === "relay1");
  const next = net.nodes.find((n) => n.nickname === "relay2");
  const pid = relay?.process?.pid;
  if (!relay || !next || pid === undefined) throw new Error("the Tor network has no relay1/relay2 to measure");
  const fp = fingerprint(relay.dataDir);
  const fp2 = fingerprint(next.dataDir);

  const measure = async (name: string, path: string[]): Promise<TorIdleFigures> => {
    // Warm-up circuits stay open: the worker threads' allocator arenas and Tor's tables grow to
    // their working size, and nothing freed is left for the measured circuits to reuse.
    await buildTorCircuits(net, path, warmup, concurrency);
    await sleep(settleMs);
    const before = await stableRss(pid, log);
    const t0 = performance.now();
    await buildTorCircuits(net, path, opts.circuits, concurrency);
    const buildMs = performance.now() - t0;
    log(`tor ${name}: ${opts.circuits} circuits built in ${Math.round(buildMs)} ms; idle ${settleMs} ms`);
    await sleep(settleMs);
    const after = rssBytes(pid);
    const f = { circuits: opts.circuits, rssBytes: (after - before) / opts.circuits, before, after, buildMs };
    log(`tor ${name}: ${Math.round(f.rssBytes)} B RSS per idle circuit at relay1`);
    return f;
  };
  const edge = await measure("edge (1-hop)", [fp]);
  return { edge, ...(opts.middle ? { middle: await measure("middle (2-hop)", [fp, fp2]) } : {}) };
}
