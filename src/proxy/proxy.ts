/**
 * An onion proxy in one object: the consensus follower, the guard set, the circuit pool, the
 * SOCKS/HTTP CONNECT port and the optional ControlService. `startProxy` is the entry for
 * in-process networks, tests, benchmarks and the library's MeowOnion client (which starts it
 * without ports and may open them later with `listen`); src/proxy/main.ts wraps it for the
 * command line.
 */
import { randomBytes } from "node:crypto";
import { componentLogger, type Logger } from "../common/log.js";
import { MeowOnionError } from "../onion/errors.js";
import { OnionService, type OnionServiceOptions } from "./onion/service.js";
import type { OnionServicePort } from "./onion/service-targets.js";
import type { RpcServer } from "../common/rpc-server.js";
import { ED25519_KEY_LEN } from "../onion/signing.js";
import { ConsensusFollower, type ConsensusFollowerOptions, type DirectoryPin } from "./consensus.js";
import { startControlServer } from "./control.js";
import { GuardStore } from "./guards.js";
import { checkHopCount } from "../onion/circuit-limits.js";
import { DEFAULT_HOPS } from "./path.js";
import { CircuitPool, type PoolOptions } from "./pool.js";
import { startSocksServer, type SocksServer } from "./socks.js";
import { formatHostPort } from "../common/host-port.js";
import { ClientChannelManager } from "./channels.js";

export interface ProxyOptions {
  /** Directory authorities and their pinned keys; a consensus needs a majority of them. */
  directories: DirectoryPin[];
  /** The SOCKS5/SOCKS4a/HTTP CONNECT listener (port 0: any free port); none when undefined (a service-only node). */
  socks?: { host: string; port: number };
  /** The ControlService listener; none when undefined. */
  control?: { host: string; port: number };
  /** Guard state lives here; in memory only when undefined. */
  dataDir?: string;
  /** Relays per circuit, 1..MAX_HOPS (9). Default 3. */
  hops?: number;
  /** Refuse two relays of one IPv4 /16 in a circuit. Default true; off for loopback networks. */
  enforceDistinctSubnets?: boolean;
  /** Circuit and stream timing (build/stream timeouts, dirtiness, backoff, preemptive count). */
  circuits?: Omit<PoolOptions, "hops" | "enforceDistinctSubnets">;
  consensus?: ConsensusFollowerOptions;
  /** Where the proxy logs (default: the process's root logger). */
  logger?: Logger;
}

/** An onion service to run in the proxy: its identity seed (a new one if none) and ports. */
export interface AddOnionServiceOptions {
  ports: OnionServicePort[];
  identitySeed?: Uint8Array;
  /** Onion-service tuning (intro points, stream limit, republish interval). */
  tuning?: Omit<OnionServiceOptions, "identitySeed" | "ports" | "log">;
}

/** Client ports to open on a running proxy; each is left out when undefined. */
export interface ClientPortOptions {
  /** The SOCKS5/SOCKS4a/HTTP CONNECT listener (port 0: any free port). */
  socks?: { host: string; port: number };
  /** The ControlService listener (port 0: any free port). */
  control?: { host: string; port: number };
}

/** Ports opened by `ProxyHandle.listen`. */
export interface ClientPorts {
  /** "HOST:PORT" of the SOCKS listener (the real port); "" (and port 0) without one. */
  readonly socksAddress: string;
  readonly socksHost: string;
  readonly socksPort: number;
  /** "http://HOST:PORT" of the ControlService, if started. */
  readonly controlUrl: string | undefined;
  /** Closes these ports (the proxy keeps running). */
  close(): Promise<void>;
}

export interface ProxyHandle {
  /** "HOST:PORT" of the SOCKS listener (the real port); "" (and port 0) without one. */
  readonly socksAddress: string;
  readonly socksHost: string;
  readonly socksPort: number;
  /** "http://HOST:PORT" of the ControlService, if started. */
  readonly controlUrl: string | undefined;
  /** Resolves once the first circuit is open; rejects if the proxy closes first. */
  readonly ready: Promise<void>;
  /** The circuit manager (status, circuits, streams, events), for in-process users. */
  readonly pool: CircuitPool;
  /**
   * Start an onion service in this proxy; resolves once its descriptor is on an HSDir.
   * Rejects with already-exists for a service it runs, invalid-argument for bad ports or seed.
   */
  addOnionService(options: AddOnionServiceOptions): Promise<OnionService>;
  /** Stop an onion service of this proxy (not-found if it runs none by that address). */
  removeOnionService(address: string): void;
  /** The onion services this proxy runs. */
  readonly onionServices: ReadonlyMap<string, OnionService>;
  /**
   * Open more client ports on this proxy (its streams and circuits, the same isolation rules);
   * they close with the proxy. Rejects with shutting-down once the proxy is closing.
   */
  listen(ports: ClientPortOptions): Promise<ClientPorts>;
  /** Closes the listeners, every circuit and link. */
  close(): Promise<void>;
}

export async function startProxy(options: ProxyOptions): Promise<ProxyHandle> {
  const hops = options.hops ?? DEFAULT_HOPS;
  checkHopCount(hops);
  for (const { url, key } of options.directories) {
    if (!URL.canParse(url) || new URL(url).protocol !== "http:") throw new TypeError(`directory URL ${JSON.stringify(url)} must be http://HOST:PORT`);
    if (key.length !== ED25519_KEY_LEN) throw new TypeError(`directory key for ${url} must be ${ED25519_KEY_LEN} bytes`);
  }
  const enforceDistinctSubnets = options.enforceDistinctSubnets ?? true;
  const log = componentLogger("proxy", {}, options.logger);
  const guards = await GuardStore.open(options.dataDir, { log: log.child({ part: "guards" }) });
  const follower = new ConsensusFollower(options.directories, { ...options.consensus, log: log.child({ part: "consensus" }) });
  const channels = new ClientChannelManager({ log: log.child({ part: "circuit" }) });
  const pool = new CircuitPool(follower, guards, channels, { ...options.circuits, hops, enforceDistinctSubnets, log: log.child({ part: "pool" }) });

  const onionServices = new Map<string, OnionService>();
  const addOnionService = async (add: AddOnionServiceOptions): Promise<OnionService> => {
    const service = new OnionService(pool, follower, {
      ...add.tuning,
      identitySeed: add.identitySeed ?? randomBytes(32),
      ports: add.ports,
      log: log.child({ part: "onion-service" }),
    });
    if (onionServices.has(service.address)) throw new MeowOnionError("already-exists", `${service.address} already runs in this proxy`);
    onionServices.set(service.address, service);
    service.start();
    try {
      await service.published;
    } catch (error) {
      if (onionServices.get(service.address) === service) onionServices.delete(service.address);
      throw error;
    }
    return service;
  };
  const removeOnionService = (address: string): void => {
    const service = onionServices.get(address.toLowerCase());
    if (service === undefined) throw new MeowOnionError("not-found", `this proxy runs no onion service ${address}`);
    onionServices.delete(service.address);
    service.close();
  };

  const listening = new Set<ClientPorts>();
  let closing: Promise<void> | undefined;
  let rejectReady!: (err: Error) => void;
  const closed = new Promise<never>((_, reject) => (rejectReady = reject));
  const close = () =>
    (closing ??= (async () => {
      rejectReady(new Error("proxy closed before its first circuit opened"));
      for (const service of onionServices.values()) service.close();
      onionServices.clear();
      for (const ports of listening) await ports.close();
      pool.close();
      follower.close();
      channels.close();
      await guards.flush();
    })());

  const listen = async (wanted: ClientPortOptions): Promise<ClientPorts> => {
    if (closing !== undefined) throw new MeowOnionError("shutting-down", "proxy is closing");
    let socks: SocksServer | undefined;
    let control: RpcServer | undefined;
    try {
      if (wanted.socks !== undefined) {
        socks = await startSocksServer({
          ...wanted.socks,
          backend: {
            openStream: (req) => pool.openStream(req.host, req.port, req.isolationKey),
            resolve: (host, isolationKey) => pool.resolve(host, isolationKey),
          },
          log: log.child({ part: "socks" }),
        });
        pool.socksAddress = formatHostPort(socks.host, socks.port);
      }
      if (wanted.control) control = await startControlServer({ ...wanted.control, pool, services: { addOnionService, removeOnionService }, log: log.child({ part: "control" }) });
    } catch (err) {
      await socks?.close();
      throw err;
    }
    const ports: ClientPorts = {
      socksAddress: socks === undefined ? "" : formatHostPort(socks.host, socks.port),
      socksHost: socks?.host ?? "",
      socksPort: socks?.port ?? 0,
      controlUrl: control?.url,
      close: async () => {
        listening.delete(ports);
        await socks?.close();
        await control?.close();
      },
    };
    listening.add(ports);
    // Closed while these ports were opening: close() did not see them.
    if (closing !== undefined) {
      await ports.close();
      throw new MeowOnionError("shutting-down", "proxy is closing");
    }
    return ports;
  };

  let ports: ClientPorts;
  try {
    ports = await listen(options);
  } catch (err) {
    await close();
    throw err;
  }
  follower.start();

  const ready = Promise.race([pool.ready, closed]);
  ready.catch(() => undefined); // nobody has to wait for it
  return {
    socksAddress: ports.socksAddress,
    socksHost: ports.socksHost,
    socksPort: ports.socksPort,
    controlUrl: ports.controlUrl,
    ready,
    pool,
    addOnionService,
    removeOnionService,
    onionServices,
    listen,
    close,
  };
}
