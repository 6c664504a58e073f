/**
 * HTTP through the network for the platform's own clients: an http.Agent and an https.Agent
 * (`http.get(url, { agent })`) and an undici dispatcher (`fetch(url, { dispatcher })`), all
 * making their connections with a client handle's streams. For https the TLS session runs end
 * to end inside the stream: the exit (or an onion service's host) sees only ciphertext.
 *
 * They keep connections alive as usual, one pool per client handle (so per isolation), and
 * after a new identity no connection made before it carries another request.
 */
import http from "node:http";
import https from "node:https";
import type { Duplex } from "node:stream";
import type { ConnectionOptions } from "node:tls";
import { Agent, Dispatcher, buildConnector } from "undici";
import type { OnionSocket } from "./socket.js";

/** What the adapters need from a client handle. */
export interface StreamSource {
  /** A stream to host:port, connecting (as net.createConnection returns). */
  createConnection(host: string, port: number): OnionSocket;
  /** Bumped by a new identity: connections made before must take no new requests. */
  readonly identityEpoch: number;
  /** TLS options for https:// (a private CA, …). */
  readonly tls: ConnectionOptions;
}

/** As Node's global agent since v19: reuse connections, drop idle ones after 5 s. */
const AGENT_OPTIONS = { keepAlive: true, timeout: 5_000 };

/** The identity epoch each agent connection was made in. */
const epochs = new WeakMap<Duplex, number>();

function madeIn<T extends Duplex>(source: StreamSource, socket: T): T {
  epochs.set(socket, source.identityEpoch);
  return socket;
}

function destinationOf(options: http.ClientRequestArgs, defaultPort: number): { host: string; port: number } {
  return { host: options.hostname ?? options.host ?? "localhost", port: Number(options.port) || defaultPort };
}

/** An agent's name for a connection, with the identity epoch: connections of an older one are never picked again. */
function nameIn(source: StreamSource, name: string): string {
  return `${name}:epoch${source.identityEpoch}`;
}

/** Keep a freed connection only if it belongs to the current identity. */
function keepIfCurrent(source: StreamSource, socket: Duplex, keep: () => unknown): boolean {
  return epochs.get(socket) === source.identityEpoch && Boolean(keep());
}

export class OnionHttpAgent extends http.Agent {
  constructor(private readonly source: StreamSource) {
    super(AGENT_OPTIONS);
  }

  override createConnection(options: http.ClientRequestArgs): Duplex {
    const { host, port } = destinationOf(options, 80);
    return madeIn(this.source, this.source.createConnection(host, port));
  }

  override getName(options?: http.ClientRequestArgs): string {
    return nameIn(this.source, super.getName(options));
  }

  override keepSocketAlive(socket: Duplex): boolean {
    // Node's keepSocketAlive returns whether to keep the socket; its typings say void.
    return keepIfCurrent(this.source, socket, () => super.keepSocketAlive(socket));
  }
}

export class OnionHttpsAgent extends https.Agent {
  constructor(private readonly source: StreamSource) {
    super({ ...AGENT_OPTIONS, ...source.tls });
  }

  /** TLS over the stream: https.Agent's own createConnection (session cache, SNI) with the stream as its socket. */
  override createConnection(options: https.RequestOptions): Duplex {
    const { host, port } = destinationOf(options, 443);
    return madeIn(this.source, super.createConnection({ ...options, socket: this.source.createConnection(host, port) } as https.RequestOptions) as Duplex);
  }

  override getName(options?: https.RequestOptions): string {
    return nameIn(this.source, super.getName(options));
  }

  override keepSocketAlive(socket: Duplex): boolean {
    return keepIfCurrent(this.source, socket, () => super.keepSocketAlive(socket));
  }
}

/**
 * undici's connector over streams: the stream, then for https undici's own TLS connector
 * (session cache, ALPN, its handshake timeout) with the stream as the socket to upgrade. The
 * stream is open before TLS starts, so undici's timeout covers the handshake only; opening
 * has the circuit pool's own deadlines.
 */
function onionConnector(source: StreamSource): buildConnector.connector {
  const upgradeToTls = buildConnector({ ...source.tls });
  return (options, callback) => {
    const https = options.protocol === "https:";
    let socket: OnionSocket;
    try {
      socket = source.createConnection(options.hostname, Number(options.port) || (https ? 443 : 80));
    } catch (error) {
      callback(error as Error, null);
      return;
    }
    const failed = (error: Error) => callback(error, null);
    socket.once("error", failed);
    socket.once("connect", () => {
      socket.off("error", failed);
      // undici expects a net.Socket; the stream behaves as one for everything it calls.
      if (https) upgradeToTls({ ...options, httpSocket: socket as never }, callback);
      else callback(null, socket as never);
    });
  };
}

/**
 * An undici Agent over streams that starts a new Agent (new connections) when the identity
 * changes; the previous one finishes the requests it carries, then closes.
 */
export class OnionDispatcher extends Dispatcher {
  #agent: Agent;
  #epoch: number;

  constructor(private readonly source: StreamSource) {
    super();
    this.#epoch = source.identityEpoch;
    this.#agent = this.#newAgent();
  }

  #newAgent(): Agent {
    return new Agent({ connect: onionConnector(this.source) });
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandlers): boolean {
    if (this.#epoch !== this.source.identityEpoch) {
      void this.#agent.close();
      this.#epoch = this.source.identityEpoch;
      this.#agent = this.#newAgent();
    }
    return this.#agent.dispatch(options, handler);
  }

  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | void {
    const closing = this.#agent.close();
    if (callback === undefined) return closing;
    void closing.then(callback);
  }

  override destroy(): Promise<void>;
  override destroy(error: Error | null): Promise<void>;
  override destroy(callback: () => void): void;
  override destroy(error: Error | null, callback: () => void): void;
  override destroy(errorOrCallback?: Error | null | (() => void), callback?: () => void): Promise<void> | void {
    const done = typeof errorOrCallback === "function" ? errorOrCallback : callback;
    const destroying = this.#agent.destroy(typeof errorOrCallback === "function" ? null : (errorOrCallback ?? null));
    if (done === undefined) return destroying;
    void destroying.then(done);
  }
}
