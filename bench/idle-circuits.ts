/**
 * Memory per idle circuit at a relay, measured with real processes on 127.0.0.1: a directory
 * and relays, each `node --import tsx src/cli.ts …` in its own process (started with
 * `--expose-gc` and bench/mem-preload.mjs); this process opens TLS links to them and builds
 * circuits with raw CREATE2 frames (real ntor, both sides) and, for middle circuits, EXTEND2.
 *
 *   relay_idle_circuit_bytes             (RSS after − RSS before) / N at a relay holding N idle
 *                                        1-hop circuits (this relay is the circuit's last hop)
 *   relay_idle_circuit_heap_bytes        the same for the relay's JS heap + external memory
 *                                        (process.memoryUsage() heapUsed + external)
 *   relay_idle_middle_circuit_bytes      RSS per circuit at a relay holding N idle 2-hop
 *                                        circuits as their first hop: each is in two circuit
 *                                        tables (client side and next hop) and went through
 *                                        EXTEND2/EXTENDED2
 *   relay_idle_middle_circuit_heap_bytes the same, JS heap + external
 *
 * "Before" and "after" are read inside the relay right after full garbage collections (SIGUSR2
 * to the preload, which calls gc() and reads /proc/self/status VmRSS), each after the circuits
 * sat idle for a while. Before: links open, a warm-up batch of circuits built (and left open:
 * nothing freed for the measured ones to reuse). Two things would otherwise swamp a figure of
 * a few hundred bytes per circuit, and are held constant:
 *   - V8 grows its young generation with the allocation rate (up to 32 MB) and keeps it: the
 *     measured relays run with --max-semi-space-size=1, so it is the same in both readings;
 *   - each ntor handshake leaves native garbage (key objects) that only a full collection
 *     frees, and glibc keeps the pages of a pile of it: the relay collects garbage after every
 *     1,000 circuits (gcEvery), as it would over the minutes real circuits take to arrive.
 * What stays in the RSS figure is what the circuits hold, JS and native (node's Hash objects
 * are OpenSSL contexts that the JS heap figures do not show), plus the allocators' overhead.
 *
 * The links from this process authenticate with a relay identity (a fresh Ed25519 key per
 * link), as a guard's links to a middle relay do: circuits from anonymous clients are
 * rate-limited per address (3/s, burst 90, Tor's default). One link carries at most
 * maxCircuitsPerLink (4096) circuits, so N circuits take ⌈N/4000⌉ links, and the middle relay
 * extends to as many next relays.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { create } from "@bufbuild/protobuf";
import { DestroyReason, type Frame, FrameSchema, HandshakeType } from "../gen/meowonion/v1/link_pb.js";
import { RelayCommand } from "../gen/meowonion/v1/relay_pb.js";
import { type Link, connectLink } from "../src/link/link.js";
import { type ChildNode, NODE_FLAGS, spawnNode } from "../src/network/child.js";
import { ntorClientFinish, ntorClientStart, relayIdFromIdentity } from "../src/onion/ntor.js";
import { decodeRelayMessage, encodeRelayMessage } from "../src/onion/relay-cell.js";
import { ClientCircuitCrypto, KeystreamPool } from "../src/onion/relay-crypto.js";
import { generateEd25519KeyPair } from "../src/onion/signing.js";
import type { RelayTarget } from "../src/proxy/circuit.js";
import { listedTargets } from "../test/helpers/in-process-network.js";
import { formatHostPort } from "../src/common/host-port.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const PRELOAD = pathToFileURL(join(ROOT, "bench", "mem-preload.mjs")).href;
/** Circuits per link (the relay refuses more than 4096 on one link). */
const PER_LINK = 4000;
const READY_TIMEOUT_MS = 120_000;
const BUILD_TIMEOUT_MS = 60_000;

export interface IdleCircuitOptions {
  /** Circuits to build (default 10,000). */
  circuits?: number;
  /** Also measure 2-hop circuits at their first hop (default true). */
  middle?: boolean;
  /** CREATE2 (or EXTEND2) in flight at once. */
  concurrency?: number;
  /** Circuits built (and left open) before the baseline: JIT, lazily created structures. */
  warmup?: number;
  /** How long circuits sit idle before a reading. */
  settleMs?: number;
  /**
   * Collect garbage in the relay after every this many circuits while building (0: never).
   * Each handshake leaves native garbage (key objects) that only a full collection frees; a
   * burst of thousands piles it up, and the allocator keeps the pages, so without this the RSS
   * figure is mostly the handshakes' garbage high-water mark rather than what circuits hold.
   */
  gcEvery?: number;
  log?: (msg: string) => void;
}

/** A relay's memory as its preload reports it after gc(). */
export interface MemReading {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  /** V8 heap spaces: bytes used and committed. */
  spaces: Record<string, { used: number; size: number }>;
}

export interface IdleCircuitFigures {
  circuits: number;
  /** RSS growth per circuit, bytes. */
  rssBytes: number;
  /** JS heap (heapUsed) + external growth per circuit, bytes. */
  heapExternalBytes: number;
  heapBytes: number;
  externalBytes: number;
  before: MemReading;
  after: MemReading;
  /** Wall time to build the N circuits, ms. */
  buildMs: number;
}

export interface IdleCircuitResult {
  edge: IdleCircuitFigures;
  middle?: IdleCircuitFigures;
}

/** Per-circuit figures from two readings. */
export function perCircuit(before: MemReading, after: MemReading, circuits: number): Omit<IdleCircuitFigures, "before" | "after" | "buildMs" | "circuits"> {
  const heap = (after.heapUsed - before.heapUsed) / circuits;
  const external = (after.external - before.external) / circuits;
  return { rssBytes: (after.rss - before.rss) / circuits, heapBytes: heap, externalBytes: external, heapExternalBytes: heap + external };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface MeasuredRelay {
  node: ChildNode;
  memFile: string;
  seq: number;
}

/** Ask the relay's preload for a reading (it runs gc() first) and wait for the answer. */
async function readMemory(relay: MeasuredRelay): Promise<MemReading> {
  const want = ++relay.seq;
  process.kill(relay.node.pid, "SIGUSR2");
  const deadline = Date.now() + 30_000;
  for (;;) {
    const text = await readFile(relay.memFile, "utf8").catch(() => "");
    if (text) {
      const r = JSON.parse(text) as MemReading & { seq: number; gc: boolean };
      if (r.seq === want) {
        if (!r.gc) throw new Error("the relay has no gc(): --expose-gc did not reach it");
        return { rss: r.rss, heapUsed: r.heapUsed, heapTotal: r.heapTotal, external: r.external, arrayBuffers: r.arrayBuffers, spaces: r.spaces };
      }
    }
    if (Date.now() > deadline) throw new Error(`relay ${relay.node.name} did not report its memory`);
    await sleep(20);
  }
}

/** Circuits built by hand on relay-authenticated links to one first hop. */
class CircuitDriver {
  readonly #pending = new Map<number, { resolve: (frame: Frame) => void; reject: (e: Error) => void }>();
  readonly #ids = new Set<number>();

  private constructor(readonly links: Link[]) {
    for (const link of links) {
      link.onFrames = (frames) => {
        for (const frame of frames) {
          const waiter = this.#pending.get(frame.circuitId);
          if (waiter === undefined) continue;
          this.#pending.delete(frame.circuitId);
          if (frame.command.case === "destroy") waiter.reject(new Error(`circuit destroyed: ${DestroyReason[frame.command.value.reason]}`));
          else waiter.resolve(frame);
        }
      };
      link.on("close", () => {
        for (const w of this.#pending.values()) w.reject(new Error("link closed"));
        this.#pending.clear();
      });
    }
  }

  static async open(first: RelayTarget, links: number): Promise<CircuitDriver> {
    const opened = await Promise.all(
      Array.from({ length: links }, () =>
        connectLink({ host: first.host, port: first.port, expectedIdentity: first.identityKey, identity: generateEd25519KeyPair(), timeoutMs: 30_000 }),
      ),
    );
    return new CircuitDriver(opened);
  }

  #reply(id: number): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error("no reply within the build timeout"));
      }, BUILD_TIMEOUT_MS);
      this.#pending.set(id, {
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
  }

  /** Build one circuit on link `i % links` through `first` (and extended to `next`); returns its id. */
  async build(i: number, first: RelayTarget, next?: RelayTarget): Promise<{ link: Link; id: number }> {
    const link = this.links[i % this.links.length];
    const id = link.allocateCircuitId((candidate) => this.#ids.has(candidate));
    this.#ids.add(id);
    const hop1 = ntorClientStart(relayIdFromIdentity(first.identityKey), first.ntorOnionKey);
    let reply = this.#reply(id);
    link.send(create(FrameSchema, { circuitId: id, command: { case: "create2", value: { handshakeType: HandshakeType.NTOR, handshakeData: hop1.onionskin } } }));
    const created = await reply;
    if (created.command.case !== "created2") throw new Error(`expected CREATED2, got ${created.command.case}`);
    const km = ntorClientFinish(hop1.state, created.command.value.handshakeData);
    if (next === undefined) return { link, id };
    const crypto = new ClientCircuitCrypto(new KeystreamPool());
    crypto.addHop(km);
    const hop2 = ntorClientStart(relayIdFromIdentity(next.identityKey), next.ntorOnionKey);
    const body = encodeRelayMessage({
      command: RelayCommand.EXTEND2,
      streamId: 0,
      body: {
        linkSpecifiers: [
          { specifier: { case: "address", value: formatHostPort(next.host, next.port) } },
          { specifier: { case: "identityKey", value: next.identityKey } },
        ],
        create2: { handshakeType: HandshakeType.NTOR, handshakeData: hop2.onionskin },
      },
    });
    reply = this.#reply(id);
    link.sendRelay(id, crypto.encryptOutbound(body, 0), true);
    const extended = await reply;
    if (extended.command.case !== "relay") throw new Error(`expected EXTENDED2, got ${extended.command.case}`);
    crypto.decryptInbound(extended.command.value);
    const message = decodeRelayMessage(extended.command.value);
    if (message.command !== RelayCommand.EXTENDED2) throw new Error(`expected EXTENDED2, got ${RelayCommand[message.command]}`);
    ntorClientFinish(hop2.state, message.body.handshakeData);
    return { link, id };
  }

  /** Build `count` circuits, `concurrency` at a time; circuit i goes to next[i % next.length]. */
  async buildMany(count: number, concurrency: number, first: RelayTarget, next: RelayTarget[]): Promise<{ link: Link; id: number }[]> {
    const built: { link: Link; id: number }[] = [];
    let started = 0;
    const worker = async () => {
      while (started < count) {
        const i = started++;
        built.push(await this.build(i, first, next.length > 0 ? next[i % next.length] : undefined));
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
    return built;
  }

  close(): void {
    for (const link of this.links) link.close();
  }
}

/**
 * Start a directory and the relays, build the circuits, read the relays' memory. Everything
 * started is stopped (by PID) before returning, also on failure.
 */
export async function measureIdleCircuits(options: IdleCircuitOptions = {}): Promise<IdleCircuitResult> {
  const count = options.circuits ?? 10_000;
  const wantMiddle = options.middle ?? true;
  const concurrency = options.concurrency ?? 64;
  const warmup = options.warmup ?? 300;
  const settleMs = options.settleMs ?? 3_000;
  const gcEvery = options.gcEvery ?? 1_000;
  const log = options.log ?? (() => undefined);
  const links = Math.ceil((count + warmup) / PER_LINK);
  const dir = await mkdtemp(join(tmpdir(), "meowonion-bench-idle-"));
  const children: ChildNode[] = [];
  const drivers: CircuitDriver[] = [];
  try {
    const start = async (kind: string, name: string, args: string[], env: NodeJS.ProcessEnv = {}, nodeFlags?: readonly string[]) => {
      const child = await spawnNode({
        name,
        kind,
        args,
        logFile: join(dir, `${name}.log`),
        readyTimeoutMs: READY_TIMEOUT_MS,
        env: { MEOWONION_LOG_LEVEL: "warn", ...env },
        nodeFlags,
      });
      children.push(child);
      return child;
    };
    const directory = await start("directory", "directory", ["--listen", "127.0.0.1:0", "--data-dir", join(dir, "directory"), "--interval", "1"]);
    const pins = ["--directory", directory.fields.url, "--directory-key", directory.fields.key];
    const relay = async (nickname: string, measured: boolean): Promise<MeasuredRelay> => {
      const memFile = join(dir, `${nickname}.mem.json`);
      const env: NodeJS.ProcessEnv = measured
        ? {
            NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --expose-gc --import ${PRELOAD}`.trim(),
            MEOWONION_BENCH_MEM_FILE: memFile,
          }
        : {};
      // A young generation of fixed, small size: V8 grows it with the allocation rate and keeps
      // it, which would show in one reading and not the other.
      const nodeFlags = measured ? [...NODE_FLAGS, "--max-semi-space-size=1"] : undefined;
      const node = await start("relay", nickname, ["--listen", "127.0.0.1:0", ...pins, "--data-dir", join(dir, nickname), "--nickname", nickname, "--heartbeat", "1"], env, nodeFlags);
      return { node, memFile, seq: 0 };
    };
    const edgeRelay = relay("IdleEdge", true);
    const middleRelay = wantMiddle ? relay("IdleMiddle", true) : undefined;
    const nextRelays = wantMiddle ? Array.from({ length: links }, (_, i) => relay(`IdleNext${i + 1}`, false)) : [];
    const edge = await edgeRelay;
    const middle = await middleRelay;
    const nexts = await Promise.all(nextRelays);
    const all = [edge, ...(middle ? [middle] : []), ...nexts];
    const hex = (text: string) => Buffer.from(text, "hex");
    const targets = await listedTargets(directory.fields.url, hex(directory.fields.key), all.map((r) => hex(r.node.fields.identity)), [], READY_TIMEOUT_MS);
    const [edgeTarget, ...rest] = targets;
    const middleTarget = middle ? rest.shift() : undefined;
    const nextTargets = rest;

    const measure = async (name: string, measured: MeasuredRelay, first: RelayTarget, next: RelayTarget[]): Promise<IdleCircuitFigures> => {
      const driver = await CircuitDriver.open(first, links);
      drivers.push(driver);
      // Warm-up: code paths compiled, the links to the next relays opened. Its circuits stay
      // open: nothing they held is freed for the measured circuits to reuse.
      await driver.buildMany(warmup, concurrency, first, next);
      await sleep(settleMs);
      const before = await readMemory(measured);
      const t0 = performance.now();
      for (let built = 0; built < count; ) {
        const batch = gcEvery > 0 ? Math.min(gcEvery, count - built) : count;
        await driver.buildMany(batch, concurrency, first, next);
        built += batch;
        if (gcEvery > 0 && built < count) await readMemory(measured);
      }
      const buildMs = performance.now() - t0;
      log(`${name}: ${count} circuits built in ${Math.round(buildMs)} ms; idle ${settleMs} ms`);
      await sleep(settleMs);
      const after = await readMemory(measured);
      const figures = { circuits: count, ...perCircuit(before, after, count), before, after, buildMs };
      log(`${name}: ${Math.round(figures.rssBytes)} B RSS, ${Math.round(figures.heapExternalBytes)} B heap+external per idle circuit`);
      return figures;
    };
    const result: IdleCircuitResult = { edge: await measure("edge (1-hop)", edge, edgeTarget, []) };
    if (middle && middleTarget) result.middle = await measure("middle (2-hop)", middle, middleTarget, nextTargets);
    return result;
  } finally {
    for (const d of drivers) d.close();
    await Promise.all(children.reverse().map((c) => c.stop()));
    await rm(dir, { recursive: true, force: true });
  }
}

/** `npm run bench` suite. */
export async function benchIdleCircuits(): Promise<Record<string, number>> {
  const r = await measureIdleCircuits({ log: (m) => process.stderr.write(`  ${m}\n`) });
  return {
    relay_idle_circuit_bytes: Math.round(r.edge.rssBytes),
    relay_idle_circuit_heap_bytes: Math.round(r.edge.heapExternalBytes),
    ...(r.middle
      ? {
          relay_idle_middle_circuit_bytes: Math.round(r.middle.rssBytes),
          relay_idle_middle_circuit_heap_bytes: Math.round(r.middle.heapExternalBytes),
        }
      : {}),
  };
}
