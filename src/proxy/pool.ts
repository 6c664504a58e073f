/**
 * The circuit manager. Keeps a preemptive ("clean") circuit ready so the first request does
 * not wait for a build; hands circuits to streams, never sharing one between two isolation
 * keys (a clean circuit takes the key of its first stream, as Tor's IsolateSOCKSAuth); stops
 * giving a circuit new streams once it has been in use for the maximum dirtiness, and closes
 * it when its last stream ends; rebuilds with exponential backoff after failures. A BEGIN that
 * fails (END from the exit, timeout, circuit gone before CONNECTED) is retried on another
 * circuit with another exit, up to `maxStreamAttempts` in all, before the client sees an error.
 * Every state change is an event carrying the ControlService message (CircuitInfo, StreamInfo).
 */
import { EventEmitter } from "node:events";
import { isIP } from "node:net";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { Consensus, ConsensusRelay } from "../../gen/meowonion/v1/consensus_pb.js";
import { RelayFeature } from "../../gen/meowonion/v1/descriptor_pb.js";
import {
  BootstrapPhase,
  type CircuitInfo,
  CircuitInfoSchema,
  CircuitState,
  type GetStatusResponse,
  GetStatusResponseSchema,
  type StreamInfo,
  StreamInfoSchema,
  StreamState,
} from "../../gen/meowonion/v1/control_pb.js";
import { DestroyReason } from "../../gen/meowonion/v1/link_pb.js";
import { EndReason } from "../../gen/meowonion/v1/relay_pb.js";
import { formatHostPort } from "../common/host-port.js";
import { componentLogger } from "../common/log.js";
import { CircuitError, MeowOnionError, StreamError } from "../onion/errors.js";
import { endReasonName } from "../onion/reasons.js";
import { type ClientCircuit, type RelayTarget } from "./circuit.js";
import type { ConsensusFollower } from "./consensus.js";
import type { GuardStore } from "./guards.js";
import { canExitTo, DEFAULT_HOPS, type ExitTarget, PathError, sameKey, selectPath } from "./path.js";
import { type ClientChannelManager } from "./channels.js";
import { buildCircuit } from "./build.js";
import { type ClientStream } from "./stream.js";

export interface PoolOptions {
  hops?: number;
  enforceDistinctSubnets?: boolean;
  /** A circuit takes new streams for this long after its first one (Tor's MaxCircuitDirtiness). Default 10 min. */
  maxDirtinessMs?: number;
  /** Circuit build timeout. Default 10 s. */
  buildTimeoutMs?: number;
  /** Wait for CONNECTED per attempt. Default 10 s (Tor's first-attempt timeout). */
  streamTimeoutMs?: number;
  /** BEGIN attempts per stream, each on another exit. Default 3. */
  maxStreamAttempts?: number;
  /** Clean circuits kept ready. Default 1; 0 builds only on demand. */
  preemptiveCircuits?: number;
  /**
   * After a stream takes a clean circuit, wait this long before building its replacement, so
   * that build (ntor at every hop, in the proxy and the relays) does not compete for CPU with
   * the stream's BEGIN and first round trips. Default 50 ms; 0 rebuilds at once. Tor rebuilds
   * predicted circuits from its once-a-second housekeeping.
   */
  preemptiveRebuildDelayMs?: number;
  /**
   * Ask exits that offer it for congestion control (relay.proto, CONGESTION CONTROL) instead of
   * the fixed windows. Default true.
   */
  congestionControl?: boolean;
  /** Backoff after failed preemptive builds. Defaults 250 ms doubling to 30 s. */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  random?: () => number;
}

export interface PoolEvents {
  circuit: [info: CircuitInfo];
  stream: [info: StreamInfo];
  status: [status: GetStatusResponse];
}

interface PooledCircuit {
  readonly id: bigint;
  state: CircuitState;
  readonly path: ConsensusRelay[];
  /** Undefined while clean: the first stream's key claims it. */
  isolationKey: string | undefined;
  /** When the first stream was attached (or, for a circuit built for a key, when it opened). */
  dirtySince: number | undefined;
  /** No new streams (NewIdentity, a timed-out BEGIN, CloseCircuit while building). */
  retired: boolean;
  closeRequested: boolean;
  readonly createdAt: Date;
  circuit: ClientCircuit | undefined;
  /** Settles when the build does (never rejects). */
  built: Promise<void>;
  closeReason: DestroyReason;
  /** Hops reached when the build failed (for the path shown). */
  failedAtHop: number | undefined;
  readonly streams: Set<PooledStream>;
}

interface PooledStream {
  readonly id: bigint;
  circuit: PooledCircuit | undefined;
  state: StreamState;
  readonly target: string;
  bytesSent: number;
  bytesReceived: number;
  endReason: EndReason;
}

/** What the SOCKS front end gets back: the stream plus byte accounting hooks. */
export interface AttachedStream {
  stream: ClientStream;
  countSent(bytes: number): void;
  countReceived(bytes: number): void;
}

/** Reasons that another exit will not change (the destination itself refused). */
const FINAL_END_REASONS = new Set([EndReason.CONNECTREFUSED, EndReason.TORPROTOCOL]);
const GUARD_UNREACHABLE = new Set([DestroyReason.CONNECTFAILED, DestroyReason.OR_IDENTITY, DestroyReason.TIMEOUT, DestroyReason.CHANNEL_CLOSED]);
const SWEEP_MS = 1_000;
/** Bootstrap progress per phase, as Tor reports a percentage. */
const BOOTSTRAP_PERCENT: Record<BootstrapPhase, number> = {
  [BootstrapPhase.UNSPECIFIED]: 0,
  [BootstrapPhase.CONSENSUS]: 10,
  [BootstrapPhase.CIRCUIT]: 50,
  [BootstrapPhase.DONE]: 100,
};

const log = componentLogger("proxy", { part: "pool" });

function relayTarget(relay: ConsensusRelay): RelayTarget {
  return {
    nickname: relay.nickname,
    identityKey: relay.identityKey,
    ntorOnionKey: relay.ntorOnionKey,
    host: relay.ipv4Address || relay.ipv6Address,
    port: relay.orPort,
    congestionControl: relay.features.includes(RelayFeature.CONGESTION_CONTROL),
  };
}

export class CircuitPool extends EventEmitter<PoolEvents> {
  readonly #circuits = new Map<bigint, PooledCircuit>();
  readonly #streams = new Map<bigint, PooledStream>();
  readonly #options: Required<Omit<PoolOptions, "random">> & { random?: () => number };
  #nextCircuitId = 1n;
  #nextStreamId = 1n;
  #failuresInARow = 0;
  #nextBuildAt = 0;
  #maintainTimer: NodeJS.Timeout | undefined;
  /** Pending replacement of a clean circuit a stream just took (see preemptiveRebuildDelayMs). */
  #rebuildTimer: NodeJS.Timeout | undefined;
  readonly #sweeper: NodeJS.Timeout;
  #phase = BootstrapPhase.CONSENSUS;
  /** Relays in the last consensus, to tell status watchers only about real changes. */
  #relaysKnown = -1;
  #closed = false;
  readonly #shutdown = new AbortController();
  /** Payload bytes through streams, for the bandwidth events. */
  totalBytesSent = 0;
  totalBytesReceived = 0;
  /** Shown in GetStatus. */
  socksAddress = "";
  /** Resolves when the first circuit opens (bootstrap done). */
  readonly ready: Promise<void>;
  #markReady!: () => void;

  constructor(
    private readonly consensus: ConsensusFollower,
    private readonly guards: GuardStore,
    private readonly channels: ClientChannelManager,
    options: PoolOptions = {},
  ) {
    super();
    this.#options = {
      hops: options.hops ?? DEFAULT_HOPS,
      enforceDistinctSubnets: options.enforceDistinctSubnets ?? true,
      maxDirtinessMs: options.maxDirtinessMs ?? 10 * 60_000,
      buildTimeoutMs: options.buildTimeoutMs ?? 10_000,
      streamTimeoutMs: options.streamTimeoutMs ?? 10_000,
      maxStreamAttempts: options.maxStreamAttempts ?? 3,
      preemptiveCircuits: options.preemptiveCircuits ?? 1,
      preemptiveRebuildDelayMs: options.preemptiveRebuildDelayMs ?? 50,
      backoffInitialMs: options.backoffInitialMs ?? 250,
      backoffMaxMs: options.backoffMaxMs ?? 30_000,
      congestionControl: options.congestionControl ?? true,
      random: options.random,
    };
    this.ready = new Promise((resolve) => (this.#markReady = resolve));
    this.#sweeper = setInterval(() => this.#sweep(), SWEEP_MS).unref();
    consensus.on("consensus", this.#onConsensus);
    const held = consensus.current;
    if (held) this.#onConsensus(held);
  }

  // ------------------------------------------------------------------ status

  status(): GetStatusResponse {
    const held = this.consensus.current;
    return create(GetStatusResponseSchema, {
      phase: this.#phase,
      progressPercent: BOOTSTRAP_PERCENT[this.#phase],
      relaysKnown: held?.relays.length ?? 0,
      consensusValidAfter: held?.validAfter,
      socksAddress: this.socksAddress,
      openCircuits: [...this.#circuits.values()].filter((c) => c.state === CircuitState.OPEN).length,
      openStreams: [...this.#streams.values()].filter((s) => s.state === StreamState.OPEN).length,
    });
  }

  circuits(): CircuitInfo[] {
    return [...this.#circuits.values()].map((c) => this.#circuitInfo(c));
  }

  streams(): StreamInfo[] {
    return [...this.#streams.values()].map((s) => this.#streamInfo(s));
  }

  /** Moves bootstrap forward (never back); true if it moved. */
  #advance(phase: BootstrapPhase): boolean {
    if (phase <= this.#phase) return false;
    this.#phase = phase;
    if (phase === BootstrapPhase.DONE) this.#markReady();
    return true;
  }

  readonly #onConsensus = (consensus: Consensus) => {
    if (this.#closed) return;
    this.guards.update(consensus.relays);
    const relaysChanged = consensus.relays.length !== this.#relaysKnown;
    this.#relaysKnown = consensus.relays.length;
    if (this.#advance(BootstrapPhase.CIRCUIT) || relaysChanged) this.emit("status", this.status());
    this.#maintain();
  };

  // ------------------------------------------------------------------ control operations

  /** Build a circuit now (explicit path of identity keys, or chosen) and wait until it is open. */
  async buildCircuit(pathKeys: Uint8Array[] = []): Promise<CircuitInfo> {
    const consensus = this.#requireConsensus();
    let path: ConsensusRelay[];
    if (pathKeys.length > 0) {
      path = pathKeys.map((key, i) => {
        const relay = consensus.relays.find((r) => sameKey(r.identityKey, key));
        if (!relay) throw new MeowOnionError("invalid-argument", `hop ${i} (${Buffer.from(key).toString("hex").slice(0, 16)}…) is not in the consensus`);
        return relay;
      });
    } else {
      path = this.#choosePath(consensus, undefined, []);
    }
    const pooled = this.#startBuild(path, undefined);
    await pooled.built;
    if (pooled.state !== CircuitState.OPEN) throw new CircuitError(pooled.closeReason, pooled.failedAtHop ?? 0, this.#failureText(pooled));
    return this.#circuitInfo(pooled);
  }

  closeCircuit(id: bigint): void {
    const pooled = this.#circuits.get(id);
    if (!pooled) throw new MeowOnionError("not-found", `no circuit ${id}`);
    pooled.retired = true;
    pooled.closeRequested = true;
    pooled.circuit?.destroy(DestroyReason.REQUESTED);
  }

  /** Like Tor's NEWNYM: no circuit existing now gets another stream. Returns how many were retired. */
  newIdentity(): number {
    let retired = 0;
    for (const pooled of this.#circuits.values()) {
      if (pooled.retired) continue;
      pooled.retired = true;
      retired++;
      this.#closeIfIdle(pooled);
    }
    log.info({ retired }, "new identity: existing circuits retired");
    this.#maintain();
    return retired;
  }

  // ------------------------------------------------------------------ streams

  /** Opens a stream to host:port for `isolationKey`, retrying BEGIN failures on other exits. */
  async openStream(host: string, port: number, isolationKey: string): Promise<AttachedStream> {
    const record: PooledStream = {
      id: this.#nextStreamId++,
      circuit: undefined,
      state: StreamState.CONNECTING,
      target: formatHostPort(host, port),
      bytesSent: 0,
      bytesReceived: 0,
      endReason: EndReason.UNSPECIFIED,
    };
    this.#streams.set(record.id, record);
    const target: ExitTarget = { address: isIP(host) ? host : undefined, port };
    const failedExits: Uint8Array[] = [];
    const goneRelays: Uint8Array[] = [];
    let lastError: StreamError | undefined;

    for (let attempt = 1; attempt <= this.#options.maxStreamAttempts && !this.#closed; attempt++) {
      let pooled: PooledCircuit;
      try {
        pooled = await this.#acquire(target, isolationKey, failedExits, goneRelays);
      } catch (err) {
        if (err instanceof StreamError) lastError = err;
        else if (!(err instanceof PathError && err.missing === "exit")) {
          lastError = new StreamError(EndReason.MISC, (err as Error).message, { cause: err });
        } else if (lastError === undefined) {
          // No exit's policy allows the destination at all: as an exit would answer.
          lastError = new StreamError(EndReason.EXITPOLICY, err.message);
        } // else every exit left already failed: report how the last one did.
        break;
      }
      this.#attach(record, pooled);
      try {
        const stream = await pooled.circuit!.openStream(host, port, { timeoutMs: this.#options.streamTimeoutMs });
        return this.#opened(record, pooled, stream);
      } catch (err) {
        const reason = err instanceof StreamError ? err.reason : EndReason.MISC;
        lastError = new StreamError(reason, `${pooled.path.at(-1)!.nickname}: ${(err as Error).message}`, { cause: err });
        // A circuit that let a BEGIN time out is suspect: no new streams on it (as Tor).
        if (reason === EndReason.TIMEOUT) pooled.retired = true;
        this.#detach(record);
        log.debug({ circuit: pooled.id, attempt, reason: endReasonName(reason) }, "BEGIN failed");
        if (FINAL_END_REASONS.has(reason)) break;
        failedExits.push(pooled.path.at(-1)!.identityKey);
        // The exit vanished (circuit destroyed, or silent): keep it out of every position.
        if (reason === EndReason.DESTROY || reason === EndReason.TIMEOUT) goneRelays.push(pooled.path.at(-1)!.identityKey);
      }
    }
    record.state = StreamState.FAILED;
    record.endReason = lastError?.reason ?? EndReason.MISC;
    this.#emitStream(record);
    this.#streams.delete(record.id);
    throw lastError ?? new StreamError(EndReason.MISC, "proxy is closing");
  }

  /** Resolves a host name at an exit (SOCKS RESOLVE). */
  async resolve(host: string, isolationKey: string): Promise<string[]> {
    const pooled = await this.#acquire(undefined, isolationKey, []);
    try {
      return await pooled.circuit!.resolve(host);
    } catch (err) {
      throw new StreamError(err instanceof StreamError ? err.reason : EndReason.MISC, (err as Error).message, { cause: err });
    }
  }

  #attach(record: PooledStream, pooled: PooledCircuit): void {
    record.circuit = pooled;
    pooled.streams.add(record);
    this.#emitStream(record);
  }

  #detach(record: PooledStream): void {
    const pooled = record.circuit;
    if (!pooled) return;
    pooled.streams.delete(record);
    record.circuit = undefined;
    this.#closeIfIdle(pooled);
  }

  #opened(record: PooledStream, pooled: PooledCircuit, stream: ClientStream): AttachedStream {
    record.state = StreamState.OPEN;
    this.#emitStream(record);
    let finished = false;
    const finish = (reason: EndReason) => {
      if (finished) return;
      finished = true;
      record.state = StreamState.CLOSED;
      record.endReason = reason;
      this.#emitStream(record);
      this.#streams.delete(record.id);
      this.#detach(record);
    };
    stream.once("error", (err) => finish(err instanceof StreamError ? err.reason : EndReason.MISC));
    stream.once("close", () => finish(EndReason.DONE));
    return {
      stream,
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

  // ------------------------------------------------------------------ choosing circuits

  /**
   * An open circuit for `key` that may exit to `target`: an open one of that key (or a clean
   * one, which the key then claims), else one being built that would fit, else a new build.
   */
  async #acquire(target: ExitTarget | undefined, key: string, failedExits: Uint8Array[], goneRelays: Uint8Array[] = []): Promise<PooledCircuit> {
    await this.#waitForConsensus();
    let builds = 0;
    for (;;) {
      if (this.#closed) throw new StreamError(EndReason.MISC, "proxy is closing");
      const fits = (c: PooledCircuit) =>
        this.#fitsStream(c, target, key, failedExits) && !c.path.some((hop) => goneRelays.some((k) => sameKey(k, hop.identityKey)));
      const open = [...this.#circuits.values()].filter((c) => c.state === CircuitState.OPEN && fits(c));
      // Prefer a circuit this key already uses, so clean ones stay ready for others.
      const chosen = open.find((c) => c.isolationKey === key) ?? open[0];
      if (chosen) {
        this.#claim(chosen, key);
        return chosen;
      }
      const pending = [...this.#circuits.values()].find((c) => c.state === CircuitState.BUILDING && fits(c));
      if (pending) {
        await pending.built;
        this.#noteUnreachableHop(pending, goneRelays);
        continue;
      }
      if (builds++ >= this.#options.maxStreamAttempts) {
        throw new StreamError(EndReason.MISC, "could not build a circuit for this stream");
      }
      const path = this.#choosePath(this.#requireConsensus(), target, failedExits, goneRelays);
      const build = this.#startBuild(path, key);
      await build.built;
      this.#noteUnreachableHop(build, goneRelays);
    }
  }

  /** A build that could not reach one of its relays: keep that relay out of this stream's next paths. */
  #noteUnreachableHop(pooled: PooledCircuit, goneRelays: Uint8Array[]): void {
    if (pooled.state !== CircuitState.FAILED || pooled.failedAtHop === undefined) return;
    const relay = pooled.path[pooled.failedAtHop];
    if (relay !== undefined && GUARD_UNREACHABLE.has(pooled.closeReason)) goneRelays.push(relay.identityKey);
  }

  #fitsStream(c: PooledCircuit, target: ExitTarget | undefined, key: string, failedExits: Uint8Array[]): boolean {
    if (c.retired || (c.isolationKey !== undefined && c.isolationKey !== key)) return false;
    if (c.dirtySince !== undefined && Date.now() - c.dirtySince >= this.#options.maxDirtinessMs) return false;
    const exit = c.path.at(-1)!;
    if (failedExits.some((k) => sameKey(k, exit.identityKey))) return false;
    return target === undefined || canExitTo(exit, target);
  }

  #claim(pooled: PooledCircuit, key: string): void {
    const wasClean = pooled.isolationKey === undefined;
    if (wasClean) {
      pooled.isolationKey = key;
      this.#emitCircuit(pooled);
    }
    pooled.dirtySince ??= Date.now();
    // A clean circuit was just taken: replace it a moment later, not while this stream opens.
    if (wasClean && this.#options.preemptiveRebuildDelayMs > 0) {
      this.#rebuildTimer ??= setTimeout(() => {
        this.#rebuildTimer = undefined;
        this.#maintain();
      }, this.#options.preemptiveRebuildDelayMs);
    } else {
      this.#maintain();
    }
  }

  #choosePath(consensus: Consensus, target: ExitTarget | undefined, failedExits: Uint8Array[], goneRelays: Uint8Array[] = []): ConsensusRelay[] {
    const { relays, entryOutsideGuardSet } = selectPath(consensus.relays, {
      hops: this.#options.hops,
      exitTo: target,
      guards: this.guards.primary(consensus.relays),
      enforceDistinctSubnets: this.#options.enforceDistinctSubnets,
      excludeExits: failedExits,
      avoidRelays: goneRelays,
      random: this.#options.random,
    });
    if (entryOutsideGuardSet && relays.length > 1) this.guards.adopt(relays[0]);
    return relays;
  }

  #requireConsensus(): Consensus {
    const consensus = this.consensus.current;
    if (!consensus) throw new MeowOnionError("no-consensus", "no valid consensus yet");
    return consensus;
  }

  async #waitForConsensus(): Promise<void> {
    if (this.consensus.current) return;
    const signal = AbortSignal.any([this.#shutdown.signal, AbortSignal.timeout(this.#options.streamTimeoutMs)]);
    try {
      await this.consensus.waitForConsensus(signal);
    } catch (err) {
      throw new StreamError(EndReason.MISC, "no valid consensus yet", { cause: err });
    }
  }

  // ------------------------------------------------------------------ building

  #startBuild(path: ConsensusRelay[], isolationKey: string | undefined): PooledCircuit {
    const pooled: PooledCircuit = {
      id: this.#nextCircuitId++,
      state: CircuitState.BUILDING,
      path,
      isolationKey,
      dirtySince: undefined,
      retired: false,
      closeRequested: false,
      createdAt: new Date(),
      circuit: undefined,
      built: Promise.resolve(),
      closeReason: DestroyReason.UNSPECIFIED,
      failedAtHop: undefined,
      streams: new Set(),
    };
    this.#circuits.set(pooled.id, pooled);
    this.#emitCircuit(pooled);
    pooled.built = buildCircuit(this.channels, path.map(relayTarget), { timeoutMs: this.#options.buildTimeoutMs, congestionControl: this.#options.congestionControl }).then(
      (circuit) => this.#onBuilt(pooled, circuit),
      (err: unknown) => this.#onBuildFailed(pooled, err),
    );
    return pooled;
  }

  #onBuilt(pooled: PooledCircuit, circuit: ClientCircuit): void {
    pooled.circuit = circuit;
    if (this.#closed || pooled.closeRequested) {
      circuit.destroy(DestroyReason.REQUESTED);
      pooled.state = CircuitState.CLOSED;
      pooled.closeReason = DestroyReason.REQUESTED;
      this.#circuits.delete(pooled.id);
      this.#emitCircuit(pooled);
      return;
    }
    pooled.state = CircuitState.OPEN;
    // Built for a key: it is in that key's use from now on.
    if (pooled.isolationKey !== undefined) pooled.dirtySince = Date.now();
    this.#failuresInARow = 0;
    this.guards.markReachable(pooled.path[0].identityKey);
    circuit.once("close", (reason) => this.#onClosed(pooled, reason));
    log.debug({ circuit: pooled.id, buildMs: circuit.buildMs }, "circuit open");
    this.#emitCircuit(pooled);
    if (this.#advance(BootstrapPhase.DONE)) this.emit("status", this.status());
    this.#closeIfIdle(pooled);
    this.#maintain();
  }

  #onBuildFailed(pooled: PooledCircuit, err: unknown): void {
    pooled.state = CircuitState.FAILED;
    if (err instanceof CircuitError) {
      pooled.closeReason = err.reason;
      pooled.failedAtHop = err.hop;
      if (err.hop === 0 && GUARD_UNREACHABLE.has(err.reason)) this.guards.markUnreachable(pooled.path[0].identityKey);
    } else {
      pooled.closeReason = DestroyReason.INTERNAL;
    }
    this.#circuits.delete(pooled.id);
    this.#failuresInARow++;
    this.#nextBuildAt = Date.now() + this.#backoffMs();
    log.info({ circuit: pooled.id, why: (err as Error).message }, "circuit build failed");
    this.#emitCircuit(pooled);
    this.#maintain();
  }

  #onClosed(pooled: PooledCircuit, reason: DestroyReason): void {
    pooled.state = CircuitState.CLOSED;
    pooled.closeReason = reason;
    this.#circuits.delete(pooled.id);
    this.#emitCircuit(pooled);
    this.#maintain();
  }

  #backoffMs(): number {
    const { backoffInitialMs, backoffMaxMs } = this.#options;
    const base = Math.min(backoffMaxMs, backoffInitialMs * 2 ** Math.max(0, this.#failuresInARow - 1));
    return base * (0.75 + Math.random() / 2);
  }

  /** Keeps `preemptiveCircuits` clean circuits open or building, respecting the backoff. */
  #maintain(): void {
    if (this.#closed) return;
    const consensus = this.consensus.current;
    if (!consensus) return;
    const clean = [...this.#circuits.values()].filter(
      (c) => !c.retired && c.isolationKey === undefined && (c.state === CircuitState.BUILDING || c.state === CircuitState.OPEN),
    ).length;
    if (clean >= this.#options.preemptiveCircuits) return;
    const wait = this.#nextBuildAt - Date.now();
    if (wait > 0) {
      this.#maintainTimer ??= setTimeout(() => {
        this.#maintainTimer = undefined;
        this.#maintain();
      }, wait);
      return;
    }
    for (let i = clean; i < this.#options.preemptiveCircuits; i++) {
      try {
        this.#startBuild(this.#choosePath(consensus, undefined, []), undefined);
      } catch (err) {
        // No path at all (e.g. no exit listed yet): try again after a backoff.
        this.#failuresInARow++;
        this.#nextBuildAt = Date.now() + this.#backoffMs();
        log.warn({ why: (err as Error).message }, "cannot choose a path");
        this.#maintainTimer ??= setTimeout(() => {
          this.#maintainTimer = undefined;
          this.#maintain();
        }, this.#nextBuildAt - Date.now());
        return;
      }
    }
  }

  /** Closes a circuit that takes no new streams once its last stream is gone. */
  #closeIfIdle(pooled: PooledCircuit): void {
    if (pooled.state !== CircuitState.OPEN || pooled.streams.size > 0) return;
    const expired = pooled.dirtySince !== undefined && Date.now() - pooled.dirtySince >= this.#options.maxDirtinessMs;
    if (pooled.retired || expired) pooled.circuit!.destroy(pooled.closeRequested ? DestroyReason.REQUESTED : DestroyReason.FINISHED);
  }

  #sweep(): void {
    for (const pooled of [...this.#circuits.values()]) this.#closeIfIdle(pooled);
  }

  // ------------------------------------------------------------------ messages

  #failureText(pooled: PooledCircuit): string {
    const hop = pooled.failedAtHop ?? 0;
    const at = pooled.path[Math.min(hop, pooled.path.length - 1)];
    return `circuit build failed at hop ${hop} (${at.nickname}): ${DestroyReason[pooled.closeReason] ?? pooled.closeReason}`;
  }

  /** Tell watchers (control API, TUI) about a circuit; the message is built only if there are any. */
  #emitCircuit(pooled: PooledCircuit): void {
    if (this.listenerCount("circuit") > 0) this.emit("circuit", this.#circuitInfo(pooled));
  }

  #circuitInfo(pooled: PooledCircuit): CircuitInfo {
    // While building or after a failure: the hops reached plus the one being extended to.
    const reached = pooled.circuit?.hopCount ?? pooled.failedAtHop ?? 0;
    const shown = pooled.state === CircuitState.OPEN || pooled.state === CircuitState.CLOSED ? pooled.path : pooled.path.slice(0, reached + 1);
    return create(CircuitInfoSchema, {
      id: pooled.id,
      state: pooled.state,
      path: shown.map((r) => ({ nickname: r.nickname, identityKey: r.identityKey, address: formatHostPort(relayTarget(r).host, r.orPort) })),
      createdAt: timestampFromDate(pooled.createdAt),
      buildMs: pooled.circuit?.buildMs ?? 0,
      streamCount: pooled.streams.size,
      bytesSent: BigInt(pooled.circuit?.bytesSent ?? 0),
      bytesReceived: BigInt(pooled.circuit?.bytesReceived ?? 0),
      closeReason: pooled.closeReason,
      isolationKey: pooled.isolationKey ?? "",
    });
  }

  #streamInfo(record: PooledStream): StreamInfo {
    return create(StreamInfoSchema, {
      id: record.id,
      circuitId: record.circuit?.id ?? 0n,
      state: record.state,
      target: record.target,
      bytesSent: BigInt(record.bytesSent),
      bytesReceived: BigInt(record.bytesReceived),
      endReason: record.endReason,
    });
  }

  #emitStream(record: PooledStream): void {
    if (this.listenerCount("stream") > 0) this.emit("stream", this.#streamInfo(record));
  }

  /** Destroys every circuit; pending stream requests fail. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#shutdown.abort(new Error("proxy closed"));
    clearInterval(this.#sweeper);
    clearTimeout(this.#maintainTimer);
    clearTimeout(this.#rebuildTimer);
    this.consensus.off("consensus", this.#onConsensus);
    for (const pooled of this.#circuits.values()) {
      pooled.closeRequested = true;
      pooled.circuit?.destroy(DestroyReason.REQUESTED);
    }
  }
}
