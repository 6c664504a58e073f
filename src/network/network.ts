/**
 * A whole MeowOnion network on loopback: directory authorities (peered with each other when
 * there are several), relays (at least two exits that may reach only 127.0.0.0/8), each on its
 * own 127.x.y.z address (loopback.ts), a proxy, and a destination service (meow echo + HTTP
 * files) to talk to. Each node runs either in this process (the authorities and relays of a
 * large network on worker threads, `threads`) or, with `processes: true`, as its own OS
 * process like a real deployment.
 *
 * READINESS: the proxy and the onion services start once one consensus, signed by a majority of
 * the authorities, lists as usable (Running and Valid) at least 95 % of the relays started,
 * rounded up (so every relay of a network of up to 19), among them at least two exits: enough
 * to build circuits (three distinct relays, one an exit, and a second exit for retries) from
 * nearly the whole network, without waiting for the slowest relay of a thousand. Progress is
 * reported while waiting ("312/1000 relays listed"). `startNetwork()` resolves once the
 * proxy has its first circuit open (the proxy's own ready condition) and both onion services
 * published their descriptors.
 *
 * `close()` stops everything: child processes by PID (SIGTERM, then SIGKILL after a grace
 * period), in-process nodes by their close(), then the data directory (unless the caller gave
 * one).
 */
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { rootLogger, type Logger } from "../common/log.js";
import { startDestination, type Destination } from "./destination.js";
import { inProcessLauncher } from "./in-process.js";
import { LOCAL_EXIT_POLICY, localTiming, type Launcher, type NodeHandle } from "./launcher.js";
import { authorityAddress, CLIENT_ADDRESS, loopbackAliasesWork, MAX_LOCAL_RELAYS, relayAddress } from "./loopback.js";
import { checkProcessCapacity } from "./capacity.js";
import { processLauncher } from "./process-launcher.js";
import { threadLauncher } from "./thread-launcher.js";
import { awaitUsableRelays } from "../proxy/consensus.js";

export const DEFAULT_RELAYS = 5;
export const DEFAULT_AUTHORITIES = 1;
export const DEFAULT_EXITS = 2;
/** The most relays a local network runs (an authority holds at most 10,000). */
export const MAX_RELAYS = 10_000;
/** Share of the relays a consensus must list for the network to be ready (see READINESS). */
export const READY_FRACTION = 0.95;
/** Exits a consensus must list for the network to be ready. */
export const READY_EXITS = 2;
const PROGRESS_EVERY_MS = 1_000;
/**
 * In one process, relays spread their first publications over this many ms per connection to
 * an authority (24 s for a thousand relays and three authorities, 2.4 s for a hundred): each
 * first publication opens a connection to each authority, which costs the one event loop
 * several milliseconds on a busy machine, and a thousand relays publishing in the same second
 * queue 3,000 of them, past the publications' deadline (each then retried: more load, not
 * less). Child processes start spread out by themselves; on worker threads each event loop
 * pays for its own relays' publications, so the spread is divided by the threads.
 */
const PUBLISH_SPREAD_PER_CONNECTION_MS = 8;
/**
 * From this many relays an in-process network runs its authorities and relays on worker threads
 * by default (one per core): starting a worker costs 0.2–0.5 s, which a small network would
 * only pay.
 */
export const THREADS_FROM_RELAYS = 200;

/** Worker threads for an in-process network of `relays` relays when the caller did not say. */
export function defaultThreads(relays: number): number {
  const cores = availableParallelism();
  return relays >= THREADS_FROM_RELAYS && cores > 1 ? cores : 0;
}

/** Relays a consensus must list for a network of `relays` to be ready (READINESS). */
export function readyRelayCount(relays: number): number {
  return Math.ceil(relays * READY_FRACTION - 1e-9);
}

/** Relay nicknames: cats, of course (suffixed with a number past the end of the list). */
export const CAT_NAMES = [
  "Whiskers", "Mittens", "Tabby", "Felix", "Luna", "Simba", "Nala", "Oreo", "Tigger", "Misty",
  "Pumpkin", "Shadow", "Smokey", "Ginger", "Pepper", "Cleo", "Milo", "Loki", "Salem", "Biscuit",
];

export function relayNickname(i: number): string {
  const base = CAT_NAMES[i % CAT_NAMES.length];
  return i < CAT_NAMES.length ? base : `${base}${Math.floor(i / CAT_NAMES.length) + 1}`;
}

export interface NetworkOptions {
  relays?: number;
  authorities?: number;
  /** How many relays are exits (at least 2). */
  exits?: number;
  /** The proxy's SOCKS listener (default 127.0.0.1:0: any free port). */
  socks?: string;
  /** The proxy's ControlService listener (default 127.0.0.1:0). */
  control?: string;
  /** Each node its own OS process (default: all in this process). */
  processes?: boolean;
  /**
   * In this process, the authorities and relays on this many worker threads (0: every node on
   * the main thread). Default: defaultThreads(relays). Not with `processes`.
   */
  threads?: number;
  /** Keep node state here (kept at exit); default: a fresh temp directory, removed at close. */
  dataDir?: string;
  /** Deadline for each node's ready line, ms (default 120 s: generous, for loaded machines). */
  readyTimeoutMs?: number;
  /** Extra environment for node processes (with `processes`). */
  childEnv?: NodeJS.ProcessEnv;
  /** Where nodes in this process log (default: the process's root logger). */
  logger?: Logger;
  /** Aborting stops starting: what was started is stopped and startNetwork rejects. */
  signal?: AbortSignal;
  /** Progress lines ("starting 5 relays…"). */
  onProgress?: (line: string) => void;
}

export interface AuthorityInfo {
  name: string;
  url: string;
  key: string;
  pid?: number;
}

export interface RelayInfo {
  nickname: string;
  orAddress: string;
  identity: string;
  exit: boolean;
  pid?: number;
}

/** An onion service of the network, in front of one of the destination's servers. */
export interface OnionServiceInfo {
  /** "echo" or "http". */
  name: string;
  /** `<56 characters>.meow`. */
  address: string;
  /** The virtual port clients ask for. */
  port: number;
  pid?: number;
}

/** Virtual ports of the network's onion services: the echo protocol's and HTTP's. */
export const ECHO_SERVICE_PORT = 7;
export const MIN_RELAYS_FOR_ONION_SERVICES = 4;
export const HTTP_SERVICE_PORT = 80;

export interface RunningNetwork {
  socksAddress: string;
  controlUrl: string;
  /** The HTTP destination, http://HOST:PORT (serves /bytes/N). */
  httpUrl: string;
  /** The meow echo destination, HOST:PORT. */
  echoAddress: string;
  authorities: AuthorityInfo[];
  relays: RelayInfo[];
  /** The onion services in front of the echo and HTTP servers. */
  onionServices: OnionServiceInfo[];
  proxyPid?: number;
  /** PIDs of every child process (empty in-process). */
  pids: number[];
  dataDir: string;
  /** True when each node is its own process. */
  processes: boolean;
  /** Worker threads the authorities and relays run on (0: on the main thread, or each node its own process). */
  threads: number;
  close(): Promise<void>;
}

/**
 * Like Promise.all, but waits for every promise to settle before throwing the first failure,
 * so that nodes started alongside a failing one are tracked (and stopped) rather than leaked.
 */
async function allSettledOrThrow<T>(promises: Promise<T>[]): Promise<T[]> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/**
 * Calls `report` at most once per PROGRESS_EVERY_MS (a call in between reports at the end of
 * the interval), and at once when told it is the last time.
 */
function throttled(report: () => void): (last: boolean) => void {
  let lastAt = -Infinity;
  let timer: NodeJS.Timeout | undefined;
  let done = false;
  const fire = () => {
    timer = undefined;
    lastAt = performance.now();
    if (!done) report();
  };
  return (last) => {
    if (done) return;
    if (last) {
      clearTimeout(timer);
      fire();
      done = true;
      return;
    }
    const wait = lastAt + PROGRESS_EVERY_MS - performance.now();
    if (wait <= 0) fire();
    else timer ??= setTimeout(fire, wait).unref();
  };
}

function required(fields: Record<string, string>, key: string, what: string): string {
  const v = fields[key];
  if (!v) throw new Error(`${what}: ready line lacks '${key}='`);
  return v;
}

export async function startNetwork(options: NetworkOptions = {}): Promise<RunningNetwork> {
  const relayCount = options.relays ?? DEFAULT_RELAYS;
  const authorityCount = options.authorities ?? DEFAULT_AUTHORITIES;
  const exitCount = options.exits ?? DEFAULT_EXITS;
  if (!Number.isInteger(authorityCount) || authorityCount < 1) throw new Error("--authorities must be at least 1");
  if (!Number.isInteger(exitCount) || exitCount < 2) throw new Error("--exits must be at least 2");
  if (!Number.isInteger(relayCount) || relayCount < 3) throw new Error("--relays must be at least 3 (a circuit has three hops)");
  if (exitCount > relayCount) throw new Error(`--exits (${exitCount}) cannot exceed --relays (${relayCount})`);
  if (relayCount > Math.min(MAX_RELAYS, MAX_LOCAL_RELAYS)) throw new Error(`--relays ${relayCount}: a local network runs at most ${MAX_RELAYS}`);
  const processes = options.processes ?? false;
  if (options.threads !== undefined && (!Number.isInteger(options.threads) || options.threads < 0)) throw new Error(`--threads wants a whole number, got ${options.threads}`);
  if (processes && (options.threads ?? 0) > 0) throw new Error("--threads and --processes exclude each other");
  const threads = processes ? 0 : (options.threads ?? defaultThreads(relayCount));
  if (processes) await checkProcessCapacity(relayCount + authorityCount + 3, relayCount);
  const readyTimeoutMs = options.readyTimeoutMs ?? 120_000;
  const progress = options.onProgress ?? (() => undefined);
  const checkAbort = () => {
    if (options.signal?.aborted) throw new Error("startNetwork aborted");
  };

  const ownDataDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), "meowonion-network-")));
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const logDir = join(dataDir, "logs");
  if (processes) await mkdir(logDir, { recursive: true });
  const timing = localTiming(relayCount, authorityCount);
  const launcher: Launcher = processes
    ? processLauncher(logDir, readyTimeoutMs, options.childEnv, timing)
    : threads > 0
      ? threadLauncher(threads, readyTimeoutMs, options.logger ?? rootLogger(), timing, relayCount)
      : inProcessLauncher(readyTimeoutMs, options.logger, timing);

  // Tiers in the order started (destination, authorities, relays, proxy). Closing stops the
  // proxy first (so it does not rebuild circuits as relays go), then all the rest at once:
  // nodes take a second or more each to shut down, and waiting tier by tier adds up.
  const tiers: (() => Promise<void>)[][] = [];
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      const [last, ...others] = [...tiers].reverse();
      if (last) await Promise.allSettled(last.map((stop) => stop()));
      await Promise.allSettled(others.flat().map((stop) => stop()));
      await launcher.close?.().catch(() => undefined);
      if (ownDataDir) await rm(dataDir, { recursive: true, force: true }).catch(() => undefined);
    })());
  const pids: number[] = [];
  const track = (tier: (() => Promise<void>)[], handle: NodeHandle) => {
    tier.push(() => handle.stop());
    if (handle.pid !== undefined) pids.push(handle.pid);
    return handle;
  };

  // Every relay on its own loopback address where the system allows it (loopback.ts).
  const spread = await loopbackAliasesWork();
  const authorityHost = (n: number) => (spread ? authorityAddress(n) : CLIENT_ADDRESS);
  const relayHost = (i: number) => (spread ? relayAddress(i) : CLIENT_ADDRESS);
  try {
    const destTier: (() => Promise<void>)[] = [];
    tiers.push(destTier);
    const destination: Destination = await startDestination();
    destTier.push(() => destination.close());
    checkAbort();

    // Authorities. Peering needs every authority's URL and key up front, and a key is only
    // known once the authority has created it: with several, start each once alone (port 0)
    // to learn its port and key, stop it, then start them all again on those ports, peered.
    const authTier: (() => Promise<void>)[] = [];
    tiers.push(authTier);
    progress(`starting ${authorityCount} directory authorit${authorityCount === 1 ? "y" : "ies"}…`);
    const authDirs = Array.from({ length: authorityCount }, (_, i) => join(dataDir, `authority${i + 1}`));
    let authorities: AuthorityInfo[];
    if (authorityCount === 1) {
      const h = track(authTier, await launcher.directory({ name: "authority1", listen: `${authorityHost(1)}:0`, dataDir: authDirs[0], peers: [] }));
      authorities = [{ name: "authority1", url: required(h.fields, "url", "authority1"), key: required(h.fields, "key", "authority1"), pid: h.pid }];
    } else {
      const first = await allSettledOrThrow(
        authDirs.map(async (dir, i) => {
          const name = `authority${i + 1}`;
          const h = await launcher.directory({ name: `${name}-keygen`, listen: `${authorityHost(i + 1)}:0`, dataDir: dir, peers: [] });
          try {
            return { name, url: required(h.fields, "url", name), key: required(h.fields, "key", name) };
          } finally {
            await h.stop();
          }
        }),
      );
      checkAbort();
      authorities = await allSettledOrThrow(
        first.map(async (a, i) => {
          const peers = first.filter((_, j) => j !== i).map((p) => `${p.url}#${p.key}`);
          const listen = new URL(a.url).host;
          const h = track(authTier, await launcher.directory({ name: a.name, listen, dataDir: authDirs[i], peers }));
          return { ...a, url: required(h.fields, "url", a.name), key: required(h.fields, "key", a.name), pid: h.pid };
        }),
      );
    }
    const directories = authorities.map((a) => ({ url: a.url, key: a.key }));
    checkAbort();

    const relayTier: (() => Promise<void>)[] = [];
    tiers.push(relayTier);
    progress(`starting ${relayCount} relays (${exitCount} exits)${spread ? `, each on its own loopback address (127.1.0.1 …)` : " on 127.0.0.1"}…`);
    checkAbort();
    let started = 0;
    const startedProgress = throttled(() => progress(`${started}/${relayCount} relays started`));
    const relays: RelayInfo[] = await allSettledOrThrow(
      Array.from({ length: relayCount }, async (_, i) => {
        const nickname = relayNickname(i);
        const exit = i < exitCount;
        const h = track(
          relayTier,
          await launcher.relay({
            name: `relay-${nickname}`,
            listen: `${relayHost(i)}:0`,
            dataDir: join(dataDir, `relay-${nickname}`),
            directories,
            nickname,
            exitPolicy: exit ? LOCAL_EXIT_POLICY : "reject *:*",
            outboundAddress: spread ? relayHost(i) : undefined,
            publishSpreadMs: processes ? undefined : (relayCount * authorityCount * PUBLISH_SPREAD_PER_CONNECTION_MS) / Math.max(1, threads),
          }),
        );
        started++;
        startedProgress(started === relayCount);
        return {
          nickname: h.fields.nickname ?? nickname,
          orAddress: required(h.fields, "or", nickname),
          identity: required(h.fields, "identity", nickname),
          exit,
          pid: h.pid,
        };
      }),
    );

    // READINESS: the proxy's guards and first circuits are chosen from (nearly) the whole
    // network rather than the first relays to be tested.
    const needed = readyRelayCount(relayCount);
    const neededExits = Math.min(READY_EXITS, exitCount);
    progress(`waiting for a consensus listing ${needed === relayCount ? "every relay" : `${needed} of the ${relayCount} relays`} (${neededExits} exits)…`);
    let listed = { relays: 0, exits: 0 };
    const listedProgress = throttled(() => progress(`${listed.relays}/${relayCount} relays listed (${listed.exits} exits)`));
    await awaitUsableRelays(
      directories.map((d) => ({ url: d.url, key: Buffer.from(d.key, "hex") })),
      needed,
      {
        exits: neededExits,
        // A large network takes longer to be listed: 200 ms per relay and authority at least
        // (1,000 relays and 3 authorities: 10 minutes; about 4.5 took it on a busy 2-core machine).
        timeoutMs: options.readyTimeoutMs ?? Math.max(readyTimeoutMs, relayCount * authorityCount * 200),
        signal: options.signal,
        onConsensus: (usable) => {
          const changed = usable.relays !== listed.relays || usable.exits !== listed.exits;
          listed = usable;
          if (changed) listedProgress(usable.relays >= needed && usable.exits >= neededExits);
        },
      },
    );

    const proxyTier: (() => Promise<void>)[] = [];
    tiers.push(proxyTier);
    checkAbort();
    progress(relayCount < MIN_RELAYS_FOR_ONION_SERVICES ? "starting the proxy…" : "starting the proxy and the onion services (echo, HTTP)…");
    // A rendezvous takes four distinct relays (the client's three, the service's fourth hop to its point).
    const serviceTargets =
      relayCount < MIN_RELAYS_FOR_ONION_SERVICES
        ? []
        : [
            { name: "echo", port: ECHO_SERVICE_PORT, target: destination.echoAddress },
            { name: "http", port: HTTP_SERVICE_PORT, target: new URL(destination.httpUrl).host },
          ];
    if (serviceTargets.length === 0) progress(`no onion services: they need at least ${MIN_RELAYS_FOR_ONION_SERVICES} relays`);
    // Each is tracked as soon as it is up, so a failure of another stops it too.
    const [proxy, ...services] = await allSettledOrThrow(
      [
        launcher.proxy({
          name: "proxy",
          dataDir: join(dataDir, "proxy"),
          directories,
          socks: options.socks ?? `${CLIENT_ADDRESS}:0`,
          control: options.control ?? `${CLIENT_ADDRESS}:0`,
          allowSameSubnet: !spread,
        }),
        ...serviceTargets.map((s) =>
          launcher.service({
            name: `service-${s.name}`,
            dataDir: join(dataDir, `service-${s.name}`),
            directories,
            ports: [`${s.port}:${s.target}`],
            allowSameSubnet: !spread,
          }),
        ),
      ].map((starting) => starting.then((h) => track(proxyTier, h))),
    );
    const onionServices = services.map((h, i) => ({
      name: serviceTargets[i].name,
      address: required(h.fields, "address", `service-${serviceTargets[i].name}`),
      port: serviceTargets[i].port,
      pid: h.pid,
    }));
    return {
      socksAddress: required(proxy.fields, "socks", "proxy"),
      controlUrl: required(proxy.fields, "control", "proxy"),
      httpUrl: destination.httpUrl,
      echoAddress: destination.echoAddress,
      authorities,
      relays,
      onionServices,
      proxyPid: proxy.pid,
      pids,
      dataDir,
      processes,
      threads,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
