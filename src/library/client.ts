/**
 * MeowOnion as a library (Arti's TorClient in Node's habits): the onion proxy's pieces
 * (startProxy without a port: consensus follower, guards, links, the circuit pool) behind
 * streams that behave like net.Socket, fetch, HTTP agents and an undici dispatcher.
 *
 * An OnionClient is a handle through which streams are opened; MeowOnion is the first one and
 * owns the network state. Streams of different handles, or with different isolation tokens,
 * never share a circuit. Every call that can wait takes an AbortSignal; every failure is a
 * MeowOnionError of the project's one vocabulary (`kind`), the same as SOCKS and RPC report.
 */
import { on } from "node:events";
import type http from "node:http";
import type https from "node:https";
import type { ConnectionOptions } from "node:tls";
import { type Dispatcher, fetch as undiciFetch, type RequestInfo, type RequestInit, type Response } from "undici";
import { BootstrapPhase, type GetStatusResponse } from "../../gen/meowonion/v1/control_pb.js";
import { embeddedLogger, type Logger } from "../common/log.js";
import { isValidBeginHost } from "../netdoc/stream-target.js";
import { MeowOnionError } from "../onion/errors.js";
import { ED25519_KEY_LEN } from "../onion/signing.js";
import { type ClientPorts, type ProxyHandle, type ProxyOptions, startProxy } from "../proxy/proxy.js";
import { OnionDispatcher, OnionHttpAgent, OnionHttpsAgent, type StreamSource } from "./http.js";
import { IsolationToken, isolationKeyOf } from "./isolation.js";
import { OnionSocket } from "./socket.js";

/** A directory authority: its URL and Ed25519 key (64 hex characters, as its ready line prints it, or 32 bytes). */
export interface DirectoryAuthority {
  url: string;
  key: string | Uint8Array;
}

export interface MeowOnionOptions {
  /** The directory authorities; a consensus counts when a majority of them signed it. */
  directories: DirectoryAuthority[];
  /** Entry guards are kept here across runs; in memory only when undefined. */
  dataDir?: string;
  /** Refuse two relays of one IPv4 /16 in a circuit. Default true; false for a network on one host. */
  enforceDistinctSubnets?: boolean;
  /** Relays per circuit, 1..9. Default 3. */
  hops?: number;
  /** Circuit and stream timing (build and stream timeouts, dirtiness, preemptive circuits, congestion control). */
  circuits?: ProxyOptions["circuits"];
  /** TLS options for https:// through fetch, the dispatcher and httpsAgent (e.g. `ca` for a private CA). */
  tls?: ConnectionOptions;
  /** A pino logger (default: JSON lines on stderr, warnings and errors only unless MEOWONION_LOG_LEVEL is set). */
  logger?: Logger;
}

export type BootstrapPhaseName = "consensus" | "circuit" | "done";

/** Bootstrap progress, as the terminal UI and GetStatus show it. */
export interface BootstrapStatus {
  /** Fetching a consensus, building the first circuit, or ready. */
  phase: BootstrapPhaseName;
  percent: number;
  /** Relays in the consensus held (0 before the first). */
  relaysKnown: number;
}

export interface StreamOptions {
  /** Streams with different tokens never share a circuit (on top of the handle's own isolation). */
  isolation?: IsolationToken;
  /** Aborting destroys the stream, or rejects the wait for it. */
  signal?: AbortSignal;
}

export interface SocksListenOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: any free port. */
  port?: number;
  /** Also serve the ControlService here (default host 127.0.0.1, port 0). */
  control?: { host?: string; port?: number };
}

const PHASE_NAMES: Partial<Record<BootstrapPhase, BootstrapPhaseName>> = {
  [BootstrapPhase.CONSENSUS]: "consensus",
  [BootstrapPhase.CIRCUIT]: "circuit",
  [BootstrapPhase.DONE]: "done",
};

function bootstrapStatusOf(status: GetStatusResponse): BootstrapStatus {
  return { phase: PHASE_NAMES[status.phase] ?? "consensus", percent: status.progressPercent, relaysKnown: status.relaysKnown };
}

/** Why a wait ended early: `timeout` for AbortSignal.timeout(), `cancelled` for any other abort. */
function abortError(signal: AbortSignal, what: string): MeowOnionError {
  const reason: unknown = signal.reason;
  const timedOut = reason instanceof Error && reason.name === "TimeoutError";
  return new MeowOnionError(timedOut ? "timeout" : "cancelled", `${what}: ${timedOut ? "timed out" : "cancelled"}`, { cause: reason });
}

/** `promise`, or a typed rejection as soon as `signal` aborts (the work itself goes on). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined, what: string): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(abortError(signal, what));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal, what));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

function keyBytes(authority: DirectoryAuthority): Uint8Array {
  const { key, url } = authority;
  if (typeof key !== "string") return key;
  if (!new RegExp(`^[0-9a-fA-F]{${2 * ED25519_KEY_LEN}}$`).test(key)) throw new MeowOnionError("invalid-argument", `directory key for ${url} must be ${2 * ED25519_KEY_LEN} hex characters`);
  return Buffer.from(key, "hex");
}

/** The rule BEGIN and RESOLVE follow (as the SOCKS port applies it), before anything is sent. */
function checkHost(host: string): void {
  if (typeof host !== "string" || !isValidBeginHost(host)) throw new MeowOnionError("invalid-target", `${JSON.stringify(host)} is not a host name or IP address`);
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new MeowOnionError("invalid-target", `port ${port} is not 1..65535`);
}

/** What every handle of one client shares. */
export class ClientCore {
  /** Bumped by newIdentity(); HTTP connections made before it take no new requests. */
  identityEpoch = 0;
  /** Aborted when the client closes: ends every wait. */
  readonly closing = new AbortController();

  constructor(
    readonly proxy: ProxyHandle,
    readonly tls: ConnectionOptions,
  ) {}
}

/** A handle for opening streams; MeowOnion is one, `isolated()` makes others. */
export class OnionClient {
  readonly #core: ClientCore;
  /** This handle's own isolation: no other handle's streams share its circuits. */
  readonly #token = new IsolationToken();
  #closed = false;
  #dispatcher: OnionDispatcher | undefined;
  #httpAgent: OnionHttpAgent | undefined;
  #httpsAgent: OnionHttpsAgent | undefined;
  readonly #source: StreamSource;

  protected constructor(core: ClientCore) {
    this.#core = core;
    const createConnection = (host: string, port: number) => this.createConnection(host, port);
    this.#source = {
      createConnection,
      get identityEpoch() {
        return core.identityEpoch;
      },
      tls: core.tls,
    };
  }

  /**
   * A stream to host:port, returned at once while it connects (as net.createConnection): it
   * emits 'connect' when open, or 'error' with a MeowOnionError. `host` may be a name (the exit
   * resolves it), an IP address or a `.meow` onion-service name. Throws invalid-target for a
   * malformed host or port.
   */
  createConnection(host: string, port: number, options: StreamOptions = {}): OnionSocket {
    this.#checkOpen();
    checkHost(host);
    checkPort(port);
    const key = isolationKeyOf(this.#token, options.isolation);
    const socket = new OnionSocket(host, port, this.#core.proxy.pool.openStream(host, port, key));
    const { signal } = options;
    if (signal !== undefined) {
      const onAbort = () => socket.destroy(abortError(signal, `stream to ${host}:${port}`));
      if (signal.aborted) onAbort();
      else {
        signal.addEventListener("abort", onAbort, { once: true });
        socket.once("close", () => signal.removeEventListener("abort", onAbort));
      }
    }
    return socket;
  }

  /** A stream to host:port once it is open (see createConnection); rejects with a MeowOnionError. */
  connect(host: string, port: number, options: StreamOptions = {}): Promise<OnionSocket> {
    return new Promise((resolve, reject) => {
      const socket = this.createConnection(host, port, options);
      const failed = (error: Error) => reject(error);
      socket.once("error", failed);
      socket.once("connect", () => {
        socket.off("error", failed);
        resolve(socket);
      });
    });
  }

  /** The addresses of `host`, resolved by an exit (Tor's RESOLVE); `.meow` names have none (invalid-target). */
  async resolve(host: string, options: StreamOptions = {}): Promise<string[]> {
    this.#checkOpen();
    checkHost(host);
    return abortable(this.#core.proxy.pool.resolve(host, isolationKeyOf(this.#token, options.isolation)), options.signal, `resolving ${host}`);
  }

  /**
   * fetch() through the network (undici's, with this handle's dispatcher). As any fetch, a
   * network failure rejects with a TypeError whose `cause` is the MeowOnionError.
   */
  async fetch(input: RequestInfo, init: RequestInit = {}): Promise<Response> {
    this.#checkOpen();
    return undiciFetch(input, { ...init, dispatcher: this.dispatcher });
  }

  /** An undici dispatcher over this handle's streams: `fetch(url, { dispatcher })`, `request(url, { dispatcher })`. */
  get dispatcher(): Dispatcher {
    return (this.#dispatcher ??= new OnionDispatcher(this.#source));
  }

  /** An http.Agent over this handle's streams: `http.get(url, { agent })`. */
  get httpAgent(): http.Agent {
    return (this.#httpAgent ??= new OnionHttpAgent(this.#source));
  }

  /** An https.Agent over this handle's streams, TLS end to end inside the stream: `https.get(url, { agent })`. */
  get httpsAgent(): https.Agent {
    return (this.#httpsAgent ??= new OnionHttpsAgent(this.#source));
  }

  /** A new handle on the same client whose streams share no circuit with this one's (nor any other handle's). */
  isolated(): OnionClient {
    this.#checkOpen();
    return new OnionClient(this.#core);
  }

  /** Closes this handle's HTTP connections; its streams and new calls fail from then on. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#httpAgent?.destroy();
    this.#httpsAgent?.destroy();
    await this.#dispatcher?.destroy();
  }

  #checkOpen(): void {
    if (this.#closed || this.#core.closing.signal.aborted) throw new MeowOnionError("shutting-down", "this MeowOnion client is closed");
  }
}

/** The client: bootstraps from the directory authorities, then opens streams (it is an OnionClient). */
export class MeowOnion extends OnionClient {
  readonly #core: ClientCore;
  /** Resolves once the first circuit is open; rejects (shutting-down) if the client closes first. */
  readonly bootstrapped: Promise<void>;

  private constructor(core: ClientCore) {
    super(core);
    this.#core = core;
    this.bootstrapped = core.proxy.ready.catch((error: unknown) => {
      throw new MeowOnionError("shutting-down", "the client closed before it bootstrapped", { cause: error });
    });
    this.bootstrapped.catch(() => undefined); // nobody has to wait for it
  }

  /** Starts a client: it fetches a consensus and builds its first circuit in the background (see `bootstrapped`). */
  static async create(options: MeowOnionOptions): Promise<MeowOnion> {
    const directories = options.directories.map((d) => ({ url: d.url, key: keyBytes(d) }));
    if (directories.length === 0) throw new MeowOnionError("invalid-argument", "at least one directory authority is needed");
    const proxy = await startProxy({
      directories,
      dataDir: options.dataDir,
      enforceDistinctSubnets: options.enforceDistinctSubnets,
      hops: options.hops,
      circuits: options.circuits,
      logger: options.logger ?? embeddedLogger(),
    });
    return new MeowOnion(new ClientCore(proxy, options.tls ?? {}));
  }

  /** create(), then wait until bootstrapped; an abort closes the client and rejects (cancelled or timeout). */
  static async createBootstrapped(options: MeowOnionOptions & { signal?: AbortSignal }): Promise<MeowOnion> {
    const client = await MeowOnion.create(options);
    try {
      await abortable(client.bootstrapped, options.signal, "bootstrapping");
    } catch (error) {
      await client.close();
      throw error;
    }
    return client;
  }

  /** Where bootstrapping is now. */
  get bootstrapStatus(): BootstrapStatus {
    return bootstrapStatusOf(this.#core.proxy.pool.status());
  }

  /**
   * Bootstrap progress: the status now, then each change, ending after "done". Rejects with
   * cancelled/timeout when `signal` aborts, shutting-down when the client closes first.
   */
  async *bootstrapEvents(options: { signal?: AbortSignal } = {}): AsyncGenerator<BootstrapStatus, void, undefined> {
    const closing = this.#core.closing.signal;
    const watching = AbortSignal.any(options.signal === undefined ? [closing] : [closing, options.signal]);
    // Listening before the first yield: a change while the caller handles it is queued, not lost.
    const changes = on(this.#core.proxy.pool, "status", { signal: watching });
    try {
      let last = this.bootstrapStatus;
      yield last;
      while (last.phase !== "done") {
        let next: BootstrapStatus;
        try {
          const { value } = await changes.next();
          next = bootstrapStatusOf((value as [GetStatusResponse])[0]);
        } catch (error) {
          if (options.signal?.aborted) throw abortError(options.signal, "waiting for bootstrap progress");
          throw new MeowOnionError("shutting-down", "the client closed before it bootstrapped", { cause: error });
        }
        if (next.phase === last.phase && next.percent === last.percent && next.relaysKnown === last.relaysKnown) continue;
        yield (last = next);
      }
    } finally {
      await changes.return?.();
    }
  }

  /**
   * Like Tor's NEWNYM, for every handle of this client: no circuit existing now takes another
   * stream, and no HTTP connection made before carries another request. Open streams go on.
   */
  newIdentity(): void {
    this.#core.proxy.pool.newIdentity();
    this.#core.identityEpoch++;
  }

  /**
   * Serve this client's network on a SOCKS5/SOCKS4a/HTTP CONNECT port (and a ControlService if
   * asked), as `meowonion proxy` does: SOCKS clients get their own circuits (isolated by their
   * credentials), never the library's.
   */
  listenSocks(options: SocksListenOptions = {}): Promise<ClientPorts> {
    const { control } = options;
    return this.#core.proxy.listen({
      socks: { host: options.host ?? "127.0.0.1", port: options.port ?? 0 },
      control: control === undefined ? undefined : { host: control.host ?? "127.0.0.1", port: control.port ?? 0 },
    });
  }

  /** Closes every handle's streams and connections, the ports, circuits and links. */
  override async close(): Promise<void> {
    this.#core.closing.abort();
    await super.close();
    await this.#core.proxy.close();
  }
}
