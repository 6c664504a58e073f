/**
 * A running directory authority: its key, durable store, relay registry, voting engine and
 * the Connect server, wired together. `meowonion directory` (main.ts), tests and benchmarks
 * all start authorities through startDirectory().
 */
import { mkdir, open, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { file_meowonion_v1_directory } from "../../gen/meowonion/v1/directory_pb.js";
import { componentLogger, type Logger } from "../common/log.js";
import { loadOrCreateKey } from "../common/key-store.js";
import { startRpcServer } from "../common/rpc-server.js";
import { ed25519PublicFromPrivate, generateEd25519KeyPair, type Ed25519KeyPair } from "../onion/signing.js";
import { VoteDescriptorChecker } from "./consensus.js";
import { hex } from "../netdoc/descriptor.js";
import type { PeerConfig } from "./peers.js";
import { linkProbe, type ReachProbe } from "./reachability.js";
import { RelayRegistry } from "./registry.js";
import { sleep } from "../common/sleep.js";
import { directoryRoutes } from "./service.js";
import { SourceBudget, type BudgetOptions } from "./source-budget.js";
import { loadStatusPage, statusPageHandler, STATUS_PAGE_DIR } from "./status-page.js";
import { DirectoryStore } from "./store.js";
import { createSignatureVerifier } from "./verify-pool.js";
import { MAX_AUTHORITIES, Voting } from "./voting.js";
import { SharedRandomMemory } from "./shared-random.js";
import { DEFAULT_TIME_PERIOD_PARAMS, type TimePeriodParams } from "../onion/hs/time-period.js";

export const DEFAULT_INTERVAL_MS = 60_000;
export const DEFAULT_HEARTBEAT_TIMEOUT_MS = 90_000;
/** Tor's authorities re-test every relay on a 1280 s cycle; a passed test counts about that long. */
export const DEFAULT_REACHABILITY_WINDOW_MS = 1_200_000;
export const DEFAULT_STABLE_AFTER_MS = 600_000;
/** Tor's MinUptimeHidServDirectoryV2: 96 hours. */
export const DEFAULT_HSDIR_UPTIME_MS = 96 * 3600_000;
export const AUTHORITY_KEY_FILE = "authority.key";
const LOCK_FILE = "directory.pid";
// At start, relays that were heartbeating get this long to pass their reachability test
// before the first consensus is made without them.
const STARTUP_TEST_WAIT_MS = 5_000;

export interface DirectoryOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  dataDir: string;
  /** The other authorities (all authorities must list each other). */
  peers?: PeerConfig[];
  /** Voting period. Default 60 s. */
  intervalMs?: number;
  /** A relay without an accepted heartbeat for this long is not Running. Default 90 s. */
  heartbeatTimeoutMs?: number;
  /**
   * A passed reachability test counts this long (at least the heartbeat timeout); relays are
   * re-tested after a quarter to a half of it. Default 20 minutes.
   */
  reachabilityWindowMs?: number;
  /** Continuous Running time for the Stable flag. Default 10 minutes. */
  stableAfterMs?: number;
  /** Continuous Running time for the HSDir flag. Default 96 hours; 0 (test networks): every relay that serves. */
  hsDirUptimeMs?: number;
  /** Onion-service time periods (and those of the shared random value). Default Tor's: 1440 / 720 minutes. */
  onionServicePeriods?: TimePeriodParams;
  /** Reachability test; the real link handshake unless replaced (benchmarks). */
  probe?: ReachProbe;
  /** Relays held at most. Default 10,000. */
  maxRelays?: number;
  budget?: BudgetOptions;
  /** Where the authority logs (default: the process's root logger). */
  logger?: Logger;
}

export interface DirectoryServer {
  /** http://HOST:PORT with the bound port. */
  url: string;
  host: string;
  port: number;
  /** The authority's Ed25519 public key (what clients pin). */
  publicKey: Uint8Array;
  /** True if this start created the key. */
  keyCreated: boolean;
  keyPath: string;
  registry: RelayRegistry;
  voting: Voting;
  close(): Promise<void>;
}

interface Timing {
  intervalMs: number;
  heartbeatTimeoutMs: number;
  stableAfterMs: number;
}

export async function startDirectory(options: DirectoryOptions): Promise<DirectoryServer> {
  const timing: Timing = {
    intervalMs: options.intervalMs ?? DEFAULT_INTERVAL_MS,
    heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? DEFAULT_HEARTBEAT_TIMEOUT_MS,
    stableAfterMs: options.stableAfterMs ?? DEFAULT_STABLE_AFTER_MS,
  };
  for (const [name, value] of Object.entries(timing)) {
    if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number of milliseconds`);
  }
  await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  const unlock = await lockDataDir(options.dataDir);
  try {
    return await start(options, timing, unlock);
  } catch (err) {
    await unlock();
    throw err;
  }
}

async function start(options: DirectoryOptions, timing: Timing, unlock: () => Promise<void>): Promise<DirectoryServer> {
  const { intervalMs, heartbeatTimeoutMs, stableAfterMs } = timing;
  const keyPath = join(options.dataDir, AUTHORITY_KEY_FILE);
  const { secret, created } = await loadOrCreateKey(keyPath, "ed25519-identity-secret", () => generateEd25519KeyPair().privateKey);
  const identity: Ed25519KeyPair = { publicKey: ed25519PublicFromPrivate(secret), privateKey: secret };
  const peers = checkPeers(options.peers ?? [], identity.publicKey);
  const log = componentLogger("directory", { authority: hex(identity.publicKey).slice(0, 16) }, options.logger);

  const sharedRandom = await SharedRandomMemory.open(options.dataDir);
  const store = await DirectoryStore.open(options.dataDir, { maxRelays: options.maxRelays, log });
  const verifier = createSignatureVerifier();
  const checker = new VoteDescriptorChecker();
  for (const relay of store.relays.values()) checker.remember(relay.valid);
  let voting: Voting | undefined;
  const registry = new RelayRegistry(store, {
    heartbeatTimeoutMs,
    reachabilityWindowMs: options.reachabilityWindowMs ?? DEFAULT_REACHABILITY_WINDOW_MS,
    probe: options.probe ?? linkProbe(log),
    verifier,
    log,
    onViewChange: () => voting?.requestRound(),
    onStored: (v) => checker.remember(v),
  });
  const onionService = options.onionServicePeriods ?? DEFAULT_TIME_PERIOD_PARAMS;
  if (!(Number.isInteger(onionService.lengthMinutes) && onionService.lengthMinutes > 0 && Number.isInteger(onionService.rotationOffsetMinutes))) {
    throw new Error("onion-service periods are a positive whole number of minutes, with a whole-minute offset");
  }
  voting = new Voting({
    identity,
    peers,
    intervalMs,
    stableAfterSeconds: stableAfterMs / 1000,
    hsDirUptimeSeconds: (options.hsDirUptimeMs ?? DEFAULT_HSDIR_UPTIME_MS) / 1000,
    onionService,
    sharedRandom,
    registry,
    checker,
    log,
  });
  const budget = new SourceBudget(options.budget ?? {}, log);

  let rpc;
  try {
    const page = await loadStatusPage();
    if (page.size === 0) log.warn({ dir: STATUS_PAGE_DIR }, "status page not built (npm run build): / answers 503");
    rpc = await startRpcServer({
      host: options.host,
      port: options.port,
      files: [file_meowonion_v1_directory],
      register: directoryRoutes(registry, voting),
      interceptors: [budget.interceptor()],
      fallback: statusPageHandler(page),
      log,
    });
  } catch (err) {
    voting.close();
    registry.stop();
    await verifier.close();
    await store.close();
    throw err;
  }

  // Upkeep often enough to notice a missed heartbeat or a new period promptly.
  const tickMs = Math.min(1_000, Math.max(50, Math.min(intervalMs, heartbeatTimeoutMs) / 10));
  let ticker: NodeJS.Timeout | undefined;
  let closed = false;
  const closing = new AbortController();
  const started = (async () => {
    await Promise.race([registry.testRecentlyHeard(), sleep(STARTUP_TEST_WAIT_MS, closing.signal)]);
    if (closed) return;
    ticker = setInterval(() => {
      registry.tick();
      voting!.tick();
    }, tickMs);
    voting!.requestRound();
  })();

  log.info({ url: rpc.url, statusPage: `${rpc.url}/`, peers: peers.length, intervalMs, heartbeatTimeoutMs, stableAfterMs, relays: store.relays.size }, "directory authority listening");
  return {
    url: rpc.url,
    host: rpc.host,
    port: rpc.port,
    publicKey: identity.publicKey,
    keyCreated: created,
    keyPath,
    registry,
    voting,
    close: async () => {
      if (closed) return;
      closed = true;
      closing.abort();
      clearInterval(ticker);
      voting!.close();
      registry.stop();
      await rpc.close();
      await started;
      await verifier.close();
      await store.close();
      await unlock();
      log.info("directory authority stopped");
    },
  };
}

function checkPeers(peers: PeerConfig[], ownKey: Uint8Array): PeerConfig[] {
  if (peers.length + 1 > MAX_AUTHORITIES) throw new Error(`at most ${MAX_AUTHORITIES - 1} peers are supported`);
  const seen = new Set([hex(ownKey)]);
  for (const peer of peers) {
    if (peer.key.length !== 32) throw new Error(`peer ${peer.url}: key must be 32 bytes`);
    const key = hex(peer.key);
    if (seen.has(key)) throw new Error(`peer ${peer.url}: key ${key} is listed twice or is this authority's own key`);
    seen.add(key);
  }
  return peers;
}

/**
 * One authority per data directory: a second one would interleave its journal writes with
 * ours. The lock file holds the owner's pid; a lock whose process is gone (kill -9) is stale
 * and taken over.
 */
async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const path = join(dataDir, LOCK_FILE);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(path, "wx", 0o600);
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      return () => rm(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const owner = Number((await readFile(path, "utf8").catch(() => "")).trim());
    if (Number.isInteger(owner) && owner > 0 && processExists(owner)) {
      throw new Error(`data directory ${dataDir} is in use by process ${owner} (${path})`);
    }
    await rm(path, { force: true });
  }
  throw new Error(`cannot lock data directory ${dataDir} (${path} keeps reappearing)`);
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
