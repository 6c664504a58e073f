/**
 * Stream requests from the proxy's clients: each gets a circuit that may exit to its
 * destination from the pool, and a BEGIN that fails (END from the exit, a timeout, the circuit
 * gone before CONNECTED) is retried on another circuit with another exit, up to a number of
 * attempts in all, before the client sees the error. Every stream's state changes are told as
 * StreamInfo.
 */
import { isIP } from "node:net";
import { EndReason } from "../../gen/meowonion/v1/relay_pb.js";
import { StreamState, type StreamInfo } from "../../gen/meowonion/v1/control_pb.js";
import { formatHostPort } from "../common/host-port.js";
import type { Logger } from "../common/log.js";
import { MeowOnionError, StreamError } from "../onion/errors.js";
import { isMeowHostName, isTorOnionHostName } from "../onion/hs/address.js";
import { endReasonName, toEndReason } from "../onion/reasons.js";
import { type ExitTarget, PathError } from "./path.js";
import { type PooledCircuit, type PooledStream, streamInfo } from "./pool-view.js";
import type { ClientStream } from "./stream.js";

/** Reasons that another exit will not change (the destination itself refused). */
const FINAL_END_REASONS = new Set([EndReason.CONNECTREFUSED, EndReason.TORPROTOCOL]);

/** Relays to keep out of one stream's next attempts. */
export interface Avoidance {
  /** Exits that failed this stream: never its exit again. */
  failedExits: Uint8Array[];
  /** Relays that vanished under it (circuit destroyed, BEGIN timed out, unreachable): no position. */
  goneRelays: Uint8Array[];
}

/** What stream requests need from the circuit pool. */
export interface CircuitSource {
  /** An open circuit for `isolationKey` that may exit to `target` (any exit when undefined), avoiding what `avoid` names. */
  acquire(target: ExitTarget | undefined, isolationKey: string, avoid: Avoidance): Promise<PooledCircuit>;
  /** An open circuit to the onion service `host` names (a `.meow` name), for `isolationKey`. */
  onionService(host: string, isolationKey: string): Promise<PooledCircuit>;
  attach(record: PooledStream, pooled: PooledCircuit): void;
  detach(record: PooledStream): void;
}

/** What a front end (SOCKS, the library) gets back: the stream plus byte accounting hooks. */
export interface AttachedStream {
  stream: ClientStream;
  /** The circuit it runs on, as the ControlService numbers circuits. */
  circuitId: bigint;
  countSent(bytes: number): void;
  countReceived(bytes: number): void;
}

export interface StreamRequestOptions {
  /** Wait for CONNECTED per attempt. */
  streamTimeoutMs: number;
  /** BEGIN attempts per stream, each on another exit. */
  maxStreamAttempts: number;
  log: Logger;
  /** Told about every stream state change. */
  onStream: (record: PooledStream) => void;
}

/**
 * Why no circuit could be had for a stream, as the stream's error: no exit's policy allowing
 * the destination reads as an exit's EXITPOLICY would; anything else keeps its kind.
 */
function acquireFailure(error: unknown): MeowOnionError {
  if (error instanceof PathError && error.missing === "exit") return new StreamError(EndReason.EXITPOLICY, error.message, { cause: error });
  return MeowOnionError.from(error);
}

/** `.onion` names are Tor's network (RFC 7686): refused here, never sent to an exit. */
function refuseTorOnion(host: string): void {
  if (isTorOnionHostName(host)) throw new MeowOnionError("onion-service-bad-address", `${host}: .onion names belong to Tor's network; MeowOnion's onion services are .meow`);
}

export class StreamRequests {
  readonly #records = new Map<bigint, PooledStream>();
  #nextId = 1n;
  /** Payload bytes through streams, for the bandwidth events. */
  totalBytesSent = 0;
  totalBytesReceived = 0;

  constructor(
    private readonly circuits: CircuitSource,
    private readonly options: StreamRequestOptions,
  ) {}

  /** The streams being opened or open. */
  infos(): StreamInfo[] {
    return [...this.#records.values()].map(streamInfo);
  }

  get openCount(): number {
    let open = 0;
    for (const record of this.#records.values()) if (record.state === StreamState.OPEN) open++;
    return open;
  }

  /**
   * Opens a stream to host:port for `isolationKey`, retrying BEGIN failures on other exits; to
   * an onion service for a `.meow` host (retried on a new rendezvous circuit if it collapses).
   */
  async open(host: string, port: number, isolationKey: string): Promise<AttachedStream> {
    refuseTorOnion(host);
    if (isMeowHostName(host)) return this.#openOnionService(host, port, isolationKey);
    const record = this.#newRecord(host, port);
    const target: ExitTarget = { address: isIP(host) ? host : undefined, port };
    const avoid: Avoidance = { failedExits: [], goneRelays: [] };
    let lastError: MeowOnionError | undefined;

    for (let attempt = 1; attempt <= this.options.maxStreamAttempts; attempt++) {
      let pooled: PooledCircuit;
      try {
        pooled = await this.circuits.acquire(target, isolationKey, avoid);
      } catch (error) {
        // Every exit left already failed this stream: report how the last one did.
        if (!(lastError !== undefined && error instanceof PathError && error.missing === "exit")) lastError = acquireFailure(error);
        break;
      }
      this.#attach(record, pooled);
      try {
        const stream = await pooled.circuit!.openStream(host, port, { timeoutMs: this.options.streamTimeoutMs });
        return this.#opened(record, stream);
      } catch (error) {
        const reason = toEndReason(error);
        const exit = pooled.path.at(-1)!;
        lastError = new StreamError(reason, `${exit.nickname}: ${(error as Error).message}`, { cause: error });
        // A circuit that let a BEGIN time out is suspect: no new streams on it (as Tor).
        if (reason === EndReason.TIMEOUT) pooled.retired = true;
        this.#detach(record);
        this.options.log.debug({ circuit: pooled.id, attempt, reason: endReasonName(reason) }, "BEGIN failed");
        if (FINAL_END_REASONS.has(reason)) break;
        avoid.failedExits.push(exit.identityKey);
        // The exit vanished (circuit destroyed, or silent): keep it out of every position.
        if (reason === EndReason.DESTROY || reason === EndReason.TIMEOUT) avoid.goneRelays.push(exit.identityKey);
      }
    }
    return this.#failed(record, lastError);
  }

  async #openOnionService(host: string, port: number, isolationKey: string): Promise<AttachedStream> {
    const record = this.#newRecord(host, port);
    let lastError: MeowOnionError | undefined;
    for (let attempt = 1; attempt <= this.options.maxStreamAttempts; attempt++) {
      let pooled: PooledCircuit;
      try {
        pooled = await this.circuits.onionService(host, isolationKey);
      } catch (error) {
        lastError = MeowOnionError.from(error);
        break;
      }
      this.#attach(record, pooled);
      try {
        return this.#opened(record, await pooled.circuit!.openStream("", port, { timeoutMs: this.options.streamTimeoutMs }));
      } catch (error) {
        const reason = toEndReason(error);
        lastError = new StreamError(reason, `${host.slice(0, 16)}….meow: ${(error as Error).message}`, { cause: error });
        this.#detach(record);
        // Only a circuit that went away is worth another try: the service itself answered otherwise.
        if (reason !== EndReason.DESTROY && reason !== EndReason.TIMEOUT) break;
        pooled.retired = true;
      }
    }
    return this.#failed(record, lastError);
  }

  #newRecord(host: string, port: number): PooledStream {
    const record: PooledStream = {
      id: this.#nextId++,
      circuit: undefined,
      state: StreamState.CONNECTING,
      target: formatHostPort(host, port),
      bytesSent: 0,
      bytesReceived: 0,
      endReason: EndReason.UNSPECIFIED,
    };
    this.#records.set(record.id, record);
    return record;
  }

  #failed(record: PooledStream, lastError: MeowOnionError | undefined): never {
    const failure = lastError ?? new MeowOnionError("shutting-down", "proxy is closing");
    record.state = StreamState.FAILED;
    record.endReason = toEndReason(failure);
    this.options.onStream(record);
    this.#records.delete(record.id);
    throw failure;
  }

  /** Resolves a host name at an exit (SOCKS RESOLVE). Onion-service names have no address to resolve to. */
  async resolve(host: string, isolationKey: string): Promise<string[]> {
    refuseTorOnion(host);
    if (isMeowHostName(host)) throw new MeowOnionError("invalid-target", "an onion service has no address: connect to its name instead");
    let pooled: PooledCircuit;
    try {
      pooled = await this.circuits.acquire(undefined, isolationKey, { failedExits: [], goneRelays: [] });
    } catch (error) {
      throw acquireFailure(error);
    }
    return pooled.circuit!.resolve(host, { timeoutMs: this.options.streamTimeoutMs });
  }

  #attach(record: PooledStream, pooled: PooledCircuit): void {
    this.circuits.attach(record, pooled);
    this.options.onStream(record);
  }

  #detach(record: PooledStream): void {
    this.circuits.detach(record);
  }

  #opened(record: PooledStream, stream: ClientStream): AttachedStream {
    record.state = StreamState.OPEN;
    this.options.onStream(record);
    let finished = false;
    const finish = (reason: EndReason) => {
      if (finished) return;
      finished = true;
      record.state = StreamState.CLOSED;
      record.endReason = reason;
      this.options.onStream(record);
      this.#records.delete(record.id);
      this.#detach(record);
    };
    stream.once("error", (error) => finish(toEndReason(error)));
    stream.once("close", () => finish(EndReason.DONE));
    return {
      stream,
      circuitId: record.circuit!.id,
      countSent: (n) => {
        record.bytesSent += n;
        this.totalBytesSent += n;
      },
      countReceived: (n) => {
        record.bytesReceived += n;
        this.totalBytesReceived += n;
      },
    };
  }
}
