/**
 * The circuit manager. Keeps a preemptive ("clean") circuit ready so the first request does
 * not wait for a build; hands circuits to streams (stream-requests.ts retries their BEGINs),
 * never sharing one between two isolation keys (a clean circuit takes the key of its first
 * stream, as Tor's IsolateSOCKSAuth); stops giving a circuit new streams once it has been in
 * use for the maximum dirtiness, and closes it when its last stream ends; rebuilds with
 * exponential backoff after failures. Every state change is an event carrying the
 * ControlService message (CircuitInfo, StreamInfo, GetStatusResponse).
 */
import { EventEmitter } from "node:events";
import { create } from "@bufbuild/protobuf";
import type { Consensus, ConsensusRelay } from "../../gen/meowonion/v1/consensus_pb.js";
import {
  BootstrapPhase,
  type CircuitInfo,
  CircuitPurpose,
  CircuitState,
  type GetStatusResponse,
  GetStatusResponseSchema,
  type StreamInfo,
} from "../../gen/meowonion/v1/control_pb.js";
import { DestroyReason } from "../../gen/meowonion/v1/link_pb.js";
import { Backoff } from "../common/backoff.js";
import { type Logger, componentLogger } from "../common/log.js";
import { CircuitError, MeowOnionError } from "../onion/errors.js";
import { Bootstrap } from "./bootstrap.js";
import { DEFAULT_BUILD_TIMEOUT_MS, buildCircuit } from "./build.js";
import type { ClientChannelManager } from "./channels.js";
import { type ClientCircuit, DEFAULT_STREAM_TIMEOUT_MS, type RelayTarget, relayTargetOf } from "./circuit.js";
import type { ConsensusFollower } from "./consensus.js";
import type { GuardStore, GuardUse } from "./guards.js";
import { DEFAULT_HOPS, type ExitTarget, type PathOptions, canExitTo, conflicts, replaceHop, sameKey, secureRandom, selectPath } from "./path.js";
import { type PooledCircuit, type PooledStream, buildFailureText, circuitInfo, streamInfo } from "./pool-view.js";
import { type AttachedStream, type Avoidance, StreamRequests } from "./stream-requests.js";
import { DEFAULT_ONION_CLIENT_TIMEOUTS, OnionServiceClient } from "./onion/client.js";

export type { AttachedStream } from "./stream-requests.js";

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
  /** Uniform in [0, 1): path choices and backoff jitter (default: the CSPRNG). */
  random?: () => number;
  log?: Logger;
}

export interface PoolEvents {
  circuit: [info: CircuitInfo];
  stream: [info: StreamInfo];
  status: [status: GetStatusResponse];
}

/** Build failures that say the relay could not be reached (rather than that it refused). */
const RELAY_UNREACHABLE = new Set([DestroyReason.CONNECTFAILED, DestroyReason.OR_IDENTITY, DestroyReason.TIMEOUT, DestroyReason.CHANNEL_CLOSED]);
const SWEEP_MS = 1_000;
const NEW_IDENTITY_PURPOSES = new Set([CircuitPurpose.GENERAL, CircuitPurpose.CLIENT_RENDEZVOUS, CircuitPurpose.CLIENT_INTRO, CircuitPurpose.HSDIR]);

/** A circuit for an onion-service role (onion_service.proto INTRODUCTION AND RENDEZVOUS). */
export interface OnionServiceCircuitRequest {
  purpose: Exclude<CircuitPurpose, CircuitPurpose.GENERAL | CircuitPurpose.UNSPECIFIED>;
  /** The relay the circuit ends at: an HSDir, an introduction or a rendezvous point. */
  lastHop: ConsensusRelay;
  /**
   * The other side chose the last hop (a client's intro point, a service's rendezvous point):
   * one more hop, so that it cannot pick a relay next to our guard (as Tor).
   */
  chosenByPeer: boolean;
  /** The service's `.meow` name. */
  onionService: string;
  /** Client circuits only: streams of other isolation keys never share it. */
  isolationKey?: string;
}

/** A path and the rules it was chosen by (undefined for a path a controller named). */
interface ChosenPath {
  relays: ConsensusRelay[];
  options: PathOptions | undefined;
}

export class CircuitPool extends EventEmitter<PoolEvents> {
  readonly #circuits = new Map<bigint, PooledCircuit>();
  readonly #options: Required<Omit<PoolOptions, "log">>;
  readonly #log: Logger;
  readonly #streams: StreamRequests;
  readonly #onionServices: OnionServiceClient;
  readonly #bootstrap = new Bootstrap();
  readonly #backoff: Backoff;
  #nextCircuitId = 1n;
  #nextBuildAt = 0;
  #maintainTimer: NodeJS.Timeout | undefined;
  /** Pending replacement of a clean circuit a stream just took (see preemptiveRebuildDelayMs). */
  #rebuildTimer: NodeJS.Timeout | undefined;
  readonly #sweeper: NodeJS.Timeout;
  /** Relays in the last consensus, to tell status watchers only about real changes. */
  #relaysKnown = -1;
  #closed = false;
  readonly #shutdown = new AbortController();
  /** Shown in GetStatus. */
  socksAddress = "";
  /** Resolves when the first circuit opens (bootstrap done). */
  readonly ready: Promise<void> = this.#bootstrap.done;

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
      buildTimeoutMs: options.buildTimeoutMs ?? DEFAULT_BUILD_TIMEOUT_MS,
      streamTimeoutMs: options.streamTimeoutMs ?? DEFAULT_STREAM_TIMEOUT_MS,
      maxStreamAttempts: options.maxStreamAttempts ?? 3,
      preemptiveCircuits: options.preemptiveCircuits ?? 1,
      preemptiveRebuildDelayMs: options.preemptiveRebuildDelayMs ?? 50,
      backoffInitialMs: options.backoffInitialMs ?? 250,
      backoffMaxMs: options.backoffMaxMs ?? 30_000,
      congestionControl: options.congestionControl ?? true,
      random: options.random ?? secureRandom,
    };
    this.#log = options.log ?? componentLogger("proxy", { part: "pool" });
    this.#backoff = new Backoff({ initialMs: this.#options.backoffInitialMs, maxMs: this.#options.backoffMaxMs, random: this.#options.random });
    this.#onionServices = new OnionServiceClient(this, consensus, this.#log.child({ part: "onion-client" }), {
      congestionControl: this.#options.congestionControl,
      timeouts: DEFAULT_ONION_CLIENT_TIMEOUTS,
    });
    this.#streams = new StreamRequests(
      {
        acquire: (target, key, avoid) => this.#acquire(target, key, avoid),
        onionService: (host, key) => this.#onionServices.circuitFor(host, key),
        attach: (record, pooled) => this.#attach(record, pooled),
        detach: (record) => this.#detach(record),
      },
      {
        streamTimeoutMs: this.#options.streamTimeoutMs,
        maxStreamAttempts: this.#options.maxStreamAttempts,
        log: this.#log,
        onStream: (record) => this.#emitStream(record),
      },
    );
    this.#sweeper = setInterval(() => this.#sweep(), SWEEP_MS).unref();
    consensus.on("consensus", this.#onConsensus);
    const held = consensus.current;
    if (held) this.#onConsensus(held);
  }

  // ------------------------------------------------------------------ what the ControlService shows

  status(): GetStatusResponse {
    const held = this.consensus.current;
    return create(GetStatusResponseSchema, {
      phase: this.#bootstrap.phase,
      progressPercent: this.#bootstrap.percent,
      relaysKnown: held?.relays.length ?? 0,
      consensusValidAfter: held?.validAfter,
      socksAddress: this.socksAddress,
      openCircuits: [...this.#circuits.values()].filter((c) => c.state === CircuitState.OPEN).length,
      openStreams: this.#streams.openCount,
    });
  }

  circuits(): CircuitInfo[] {
    return [...this.#circuits.values()].map(circuitInfo);
  }

  streams(): StreamInfo[] {
    return this.#streams.infos();
  }

  /** Whether paths keep relays of one subnet apart (consensus.proto PATH SELECTION). */
  get enforceDistinctSubnets(): boolean {
    return this.#options.enforceDistinctSubnets;
  }

  /** Payload bytes through streams, for the bandwidth events. */
  get totalBytesSent(): number {
    return this.#streams.totalBytesSent;
  }

  get totalBytesReceived(): number {
    return this.#streams.totalBytesReceived;
  }

  readonly #onConsensus = (consensus: Consensus) => {
    if (this.#closed) return;
    this.guards.update(consensus.relays);
    const relaysChanged = consensus.relays.length !== this.#relaysKnown;
    this.#relaysKnown = consensus.relays.length;
    if (this.#bootstrap.advance(BootstrapPhase.CIRCUIT) || relaysChanged) this.emit("status", this.status());
    this.#maintain();
  };

  // ------------------------------------------------------------------ control operations

  /** Build a circuit now (explicit path of identity keys, or chosen) and wait until it is open. */
  async buildCircuit(pathKeys: Uint8Array[] = []): Promise<CircuitInfo> {
    const consensus = this.#requireConsensus();
    let path: ChosenPath;
    if (pathKeys.length > 0) {
      // A path the controller named is built as named: no substitutes.
      const relays = pathKeys.map((key, i) => {
        const relay = consensus.relays.find((r) => sameKey(r.identityKey, key));
        if (!relay) throw new MeowOnionError("invalid-argument", `hop ${i} (${Buffer.from(key).toString("hex").slice(0, 16)}…) is not in the consensus`);
        return relay;
      });
      path = { relays, options: undefined };
    } else {
      path = this.#choosePath(consensus, undefined, { failedExits: [], goneRelays: [] });
    }
    const pooled = this.#startBuild(path, undefined, CircuitPurpose.GENERAL);
    await pooled.built;
    if (pooled.state !== CircuitState.OPEN) throw new CircuitError(pooled.closeReason, pooled.failedAtHop ?? 0, buildFailureText(pooled));
    return circuitInfo(pooled);
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
      // A service's circuits are not the user's identity; a client's to a service are.
      if (pooled.retired || !NEW_IDENTITY_PURPOSES.has(pooled.purpose)) continue;
      pooled.retired = true;
      retired++;
      this.#closeIfIdle(pooled);
    }
    this.#log.info({ retired }, "new identity: existing circuits retired");
    this.#maintain();
    return retired;
  }

  // ------------------------------------------------------------------ streams

  /** Opens a stream to host:port for `isolationKey`, retrying BEGIN failures on other exits. */
  openStream(host: string, port: number, isolationKey: string): Promise<AttachedStream> {
    return this.#streams.open(host, port, isolationKey);
  }

  /** Resolves a host name at an exit (SOCKS RESOLVE). */
  resolve(host: string, isolationKey: string): Promise<string[]> {
    return this.#streams.resolve(host, isolationKey);
  }

  #attach(record: PooledStream, pooled: PooledCircuit): void {
    record.circuit = pooled;
    pooled.streams.add(record);
  }

  #detach(record: PooledStream): void {
    const pooled = record.circuit;
    if (!pooled) return;
    pooled.streams.delete(record);
    record.circuit = undefined;
    this.#closeIfIdle(pooled);
  }

  // ------------------------------------------------------------------ choosing circuits

  /**
   * An open circuit for `key` that may exit to `target`: an open one of that key (or a clean
   * one, which the key then claims), else one being built that would fit, else a new build.
   */
  async #acquire(target: ExitTarget | undefined, key: string, avoid: Avoidance): Promise<PooledCircuit> {
    await this.#waitForConsensus();
    let builds = 0;
    for (;;) {
      if (this.#closed) throw new MeowOnionError("shutting-down", "proxy is closing");
      const fits = (c: PooledCircuit) => this.#fitsStream(c, target, key, avoid);
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
        this.#noteUnreachableHop(pending, avoid);
        continue;
      }
      if (builds++ >= this.#options.maxStreamAttempts) {
        throw new MeowOnionError("no-path", "could not build a circuit for this stream");
      }
      const build = this.#startBuild(this.#choosePath(this.#requireConsensus(), target, avoid), key, CircuitPurpose.GENERAL);
      await build.built;
      this.#noteUnreachableHop(build, avoid);
    }
  }

  /** A build that could not reach one of its relays: keep that relay out of this stream's next paths. */
  #noteUnreachableHop(pooled: PooledCircuit, avoid: Avoidance): void {
    if (pooled.state !== CircuitState.FAILED || pooled.failedAtHop === undefined) return;
    const relay = pooled.path[pooled.failedAtHop];
    if (relay !== undefined && RELAY_UNREACHABLE.has(pooled.closeReason)) avoid.goneRelays.push(relay.identityKey);
  }

  #fitsStream(c: PooledCircuit, target: ExitTarget | undefined, key: string, avoid: Avoidance): boolean {
    if (c.purpose !== CircuitPurpose.GENERAL || c.retired || (c.isolationKey !== undefined && c.isolationKey !== key)) return false;
    if (c.dirtySince !== undefined && Date.now() - c.dirtySince >= this.#options.maxDirtinessMs) return false;
    const exit = c.path.at(-1)!;
    if (avoid.failedExits.some((k) => sameKey(k, exit.identityKey))) return false;
    if (c.path.some((hop) => avoid.goneRelays.some((k) => sameKey(k, hop.identityKey)))) return false;
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

  #choosePath(consensus: Consensus, target: ExitTarget | undefined, avoid: Avoidance): ChosenPath {
    const options: PathOptions = {
      hops: this.#options.hops,
      exitTo: target,
      guards: this.guards.primary(consensus.relays),
      enforceDistinctSubnets: this.#options.enforceDistinctSubnets,
      excludeExits: avoid.failedExits,
      avoidRelays: avoid.goneRelays,
      random: this.#options.random,
    };
    const { relays, entryOutsideGuardSet } = selectPath(consensus.relays, options);
    if (entryOutsideGuardSet && relays.length > 1) this.guards.adopt(relays[0]);
    return { relays, options };
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
    } catch (error) {
      throw new MeowOnionError(this.#closed ? "shutting-down" : "no-consensus", "no valid consensus yet", { cause: error });
    }
  }

  // ------------------------------------------------------------------ building

  // ------------------------------------------------------------------ onion-service circuits

  /**
   * Build a circuit for an onion-service role and wait until it is open: never given to exit
   * streams, closed by its owner (or NewIdentity, for a client's). Rejects with the build's
   * CircuitError, or a PathError when no path ends at `request.lastHop`.
   */
  async buildOnionServiceCircuit(request: OnionServiceCircuitRequest): Promise<PooledCircuit> {
    await this.#waitForConsensus();
    // Relays found unreachable on the way (not yet dropped from the consensus) are left out of the next try.
    const avoid: Avoidance = { failedExits: [], goneRelays: [] };
    for (let attempt = 1; ; attempt++) {
      const consensus = this.#requireConsensus();
      const options: PathOptions = {
        hops: this.#options.hops + (request.chosenByPeer ? 1 : 0),
        lastHop: request.lastHop,
        guards: this.guards.primary(consensus.relays),
        enforceDistinctSubnets: this.#options.enforceDistinctSubnets,
        avoidRelays: avoid.goneRelays,
        random: this.#options.random,
      };
      const { relays, entryOutsideGuardSet } = selectPath(consensus.relays, options);
      if (entryOutsideGuardSet && relays.length > 1) this.guards.adopt(relays[0]);
      const pooled = this.#startBuild({ relays, options }, request.isolationKey, request.purpose, request.onionService);
      await pooled.built;
      if (pooled.state === CircuitState.OPEN) {
        pooled.dirtySince = Date.now();
        return pooled;
      }
      const failure = new CircuitError(pooled.closeReason, pooled.failedAtHop ?? 0, buildFailureText(pooled));
      const known = avoid.goneRelays.length;
      this.#noteUnreachableHop(pooled, avoid);
      const lastHopGone = avoid.goneRelays.some((k) => sameKey(k, request.lastHop.identityKey));
      if (attempt >= this.#options.maxStreamAttempts || lastHopGone || avoid.goneRelays.length === known) throw failure;
    }
  }

  /**
   * A last hop we choose ourselves for onion-service circuits (a client's rendezvous point, a
   * service's intro points): among the relays `accept` takes, chosen as an exit is, so that
   * it fits in a path with our guard under the family and subnet rules (path.ts). Throws a
   * PathError when none does.
   */
  chooseLastHop(accept: (relay: ConsensusRelay) => boolean): ConsensusRelay {
    const consensus = this.#requireConsensus();
    const { relays } = selectPath(consensus.relays, {
      hops: this.#options.hops,
      lastHopAmong: accept,
      guards: this.guards.primary(consensus.relays),
      enforceDistinctSubnets: this.#options.enforceDistinctSubnets,
      random: this.#options.random,
    });
    return relays.at(-1)!;
  }

  /** Whether a client's rendezvous circuit may take another stream: open, not retired, not past the maximum dirtiness. */
  takesNewStreams(pooled: PooledCircuit): boolean {
    if (pooled.state !== CircuitState.OPEN || pooled.retired || pooled.circuit?.isClosed !== false) return false;
    return pooled.dirtySince === undefined || Date.now() - pooled.dirtySince < this.#options.maxDirtinessMs;
  }

  /** Tell watchers that an onion-service circuit changed (joined, streams attached). */
  onionServiceCircuitChanged(pooled: PooledCircuit): void {
    this.#emitCircuit(pooled);
  }

  #startBuild(chosen: ChosenPath, isolationKey: string | undefined, purpose: CircuitPurpose, onionService?: string): PooledCircuit {
    const path = [...chosen.relays];
    // The guard's view of this circuit (guards.ts): whether it may be used at once when built.
    const enforce = this.#options.enforceDistinctSubnets;
    const guardUse = this.guards.circuitStarted(path, (r) => path.slice(1).every((o) => !conflicts(r, o, enforce)));
    const pooled: PooledCircuit = {
      id: this.#nextCircuitId++,
      purpose,
      onionService,
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
    pooled.built = buildCircuit(this.channels, path.map(relayTargetOf), {
      timeoutMs: this.#options.buildTimeoutMs,
      // An onion-service circuit's last relay is not its end: congestion control, if any, is asked of the far end once joined.
      congestionControl: this.#options.congestionControl && purpose === CircuitPurpose.GENERAL,
      replaceHop: chosen.options === undefined ? undefined : this.#substitutes(pooled, chosen.options),
    }).then(
      (circuit) => this.#afterBuild(pooled, guardUse, circuit),
      (error: unknown) => this.#onBuildFailed(pooled, error, guardUse),
    );
    return pooled;
  }

  /**
   * Re-extending after TRUNCATED (build.ts): a substitute for the relay at `hop`, chosen under
   * the rules the path was chosen by, never a relay that already failed this build.
   */
  #substitutes(pooled: PooledCircuit, options: PathOptions): (hop: number, failed: CircuitError) => RelayTarget | undefined {
    const failedHere: Uint8Array[] = [];
    return (hop, failed) => {
      const consensus = this.consensus.current;
      if (consensus === undefined || this.#closed || pooled.closeRequested) return undefined;
      const gone = pooled.path[hop];
      failedHere.push(gone.identityKey);
      const substitute = replaceHop(consensus.relays, pooled.path, hop, { ...options, avoidRelays: [...(options.avoidRelays ?? []), ...failedHere] });
      this.#log.info({ circuit: pooled.id, hop, failed: gone.nickname, why: failed.message, substitute: substitute?.nickname }, substitute === undefined ? "extension failed; no substitute relay" : "extension failed; extending to a substitute relay");
      if (substitute === undefined) return undefined;
      pooled.path[hop] = substitute;
      this.#emitCircuit(pooled);
      return relayTargetOf(substitute);
    };
  }

  /**
   * A circuit through a primary guard is usable at once; one through another guard waits
   * until no better primary guard may answer, and is abandoned if one does (guards.ts).
   */
  async #afterBuild(pooled: PooledCircuit, use: GuardUse, circuit: ClientCircuit): Promise<void> {
    const verdict = await this.guards.circuitSucceeded(use);
    if (verdict === "abandon") {
      circuit.destroy(DestroyReason.REQUESTED);
      this.#onBuildFailed(pooled, new CircuitError(DestroyReason.REQUESTED, 1, "abandoned: a primary guard answered while this circuit through a non-primary guard waited"), undefined);
      return;
    }
    this.#onBuilt(pooled, circuit);
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
    circuit.once("close", (reason) => this.#onClosed(pooled, reason));
    this.#log.debug({ circuit: pooled.id, buildMs: circuit.buildMs }, "circuit open");
    this.#emitCircuit(pooled);
    // An onion-service circuit is its owner's from here (buildOnionServiceCircuit).
    if (pooled.purpose !== CircuitPurpose.GENERAL) return;
    // Built for a key: it is in that key's use from now on.
    if (pooled.isolationKey !== undefined) pooled.dirtySince = Date.now();
    this.#backoff.reset();
    if (this.#bootstrap.advance(BootstrapPhase.DONE)) this.emit("status", this.status());
    this.#closeIfIdle(pooled);
    this.#maintain();
  }

  #onBuildFailed(pooled: PooledCircuit, error: unknown, use: GuardUse | undefined): void {
    pooled.state = CircuitState.FAILED;
    if (error instanceof CircuitError) {
      pooled.closeReason = error.reason;
      pooled.failedAtHop = error.hop;
      if (use !== undefined) {
        if (error.hop === 0 && RELAY_UNREACHABLE.has(error.reason)) this.guards.circuitFailed(use);
        else this.guards.circuitEnded(use);
      }
    } else {
      if (use !== undefined) this.guards.circuitEnded(use);
      pooled.closeReason = DestroyReason.INTERNAL;
    }
    this.#circuits.delete(pooled.id);
    // Only failures of the pool's own builds slow its preemptive building down.
    if (pooled.purpose === CircuitPurpose.GENERAL) this.#nextBuildAt = Date.now() + this.#backoff.fail();
    this.#log.info({ circuit: pooled.id, why: (error as Error).message }, "circuit build failed");
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

  /** Keeps `preemptiveCircuits` clean circuits open or building, respecting the backoff. */
  #maintain(): void {
    if (this.#closed) return;
    const consensus = this.consensus.current;
    if (!consensus) return;
    const clean = [...this.#circuits.values()].filter(
      (c) => c.purpose === CircuitPurpose.GENERAL && !c.retired && c.isolationKey === undefined && (c.state === CircuitState.BUILDING || c.state === CircuitState.OPEN),
    ).length;
    if (clean >= this.#options.preemptiveCircuits) return;
    const wait = this.#nextBuildAt - Date.now();
    if (wait > 0) {
      this.#maintainLater(wait);
      return;
    }
    for (let i = clean; i < this.#options.preemptiveCircuits; i++) {
      try {
        this.#startBuild(this.#choosePath(consensus, undefined, { failedExits: [], goneRelays: [] }), undefined, CircuitPurpose.GENERAL);
      } catch (error) {
        // No path at all (e.g. no exit listed yet): try again after a backoff.
        this.#nextBuildAt = Date.now() + this.#backoff.fail();
        this.#log.warn({ why: (error as Error).message }, "cannot choose a path");
        this.#maintainLater(this.#nextBuildAt - Date.now());
        return;
      }
    }
  }

  #maintainLater(waitMs: number): void {
    this.#maintainTimer ??= setTimeout(() => {
      this.#maintainTimer = undefined;
      this.#maintain();
    }, waitMs);
  }

  /** Closes a circuit that takes no new streams once its last stream is gone. */
  #closeIfIdle(pooled: PooledCircuit): void {
    if (pooled.state !== CircuitState.OPEN || pooled.streams.size > 0) return;
    // A service's circuits and a client's intro and HSDir circuits are closed by their owners;
    // a client's rendezvous circuit lives as a general one does.
    if (pooled.purpose !== CircuitPurpose.GENERAL && pooled.purpose !== CircuitPurpose.CLIENT_RENDEZVOUS && !pooled.retired) return;
    const expired = pooled.dirtySince !== undefined && Date.now() - pooled.dirtySince >= this.#options.maxDirtinessMs;
    if (pooled.retired || expired) pooled.circuit!.destroy(pooled.closeRequested ? DestroyReason.REQUESTED : DestroyReason.FINISHED);
  }

  #sweep(): void {
    for (const pooled of [...this.#circuits.values()]) this.#closeIfIdle(pooled);
  }

  // ------------------------------------------------------------------ events

  /** Tell watchers (control API, TUI) about a circuit; the message is built only if there are any. */
  #emitCircuit(pooled: PooledCircuit): void {
    if (this.listenerCount("circuit") > 0) this.emit("circuit", circuitInfo(pooled));
  }

  #emitStream(record: PooledStream): void {
    if (this.listenerCount("stream") > 0) this.emit("stream", streamInfo(record));
  }

  /** Destroys every circuit; pending stream requests fail. */
  close(): void {
    this.guards.close();
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
