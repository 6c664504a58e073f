/**
 * The circuit switch: every frame a relay receives on any link ends up here. It answers
 * CREATE2 with the ntor handshake, strips or adds its layer on RELAY cells and either handles
 * them (recognized) or forwards them, serves EXTEND2/TRUNCATE, and tears circuits down with
 * DESTROY in both directions. Streams that end here live in the circuit's StreamEdge.
 *
 * Circuit table: each Channel maps its own circuit ids to circuits; a circuit is in the map of
 * its prev channel (under the id the client side chose) and, once extended, of its next
 * channel (under the id we chose). A frame's direction follows from which of the two it
 * arrived on.
 */
import { type MessageInitShape, create } from "@bufbuild/protobuf";
import { type Create2, type Created2, DestroyReason, type Frame, FrameSchema, HandshakeType } from "../../gen/meowonion/v1/link_pb.js";
import { type Extend2, RelayCommand } from "../../gen/meowonion/v1/relay_pb.js";
import type { Logger } from "../common/log.js";
import type { Link } from "../link/link.js";
import { MAX_RELAY_EARLY } from "../onion/circuit-limits.js";
import { MeowOnionError, OnionError } from "../onion/errors.js";
import { toDestroyReason } from "../onion/reasons.js";
import { EphemeralKeys, NTOR_ONIONSKIN_LEN, ntorNonce, type X25519KeyPair, ntorServerRespond, relayIdFromIdentity } from "../onion/ntor.js";
import { type RelayMessageInit, decodeRelayMessage, encodeRelayMessage, readRelayCell } from "../onion/relay-cell.js";
import { KeystreamPool, RelayCircuitCrypto, type RunningDigest } from "../onion/relay-crypto.js";
import type { Ed25519KeyPair } from "../onion/signing.js";
import { type Channel, ChannelManager, type DrainWaiter } from "../link/channels.js";
import { HopWriter, type QueueAccounting, RelayCircuit } from "./circuit.js";
import { EDGE_COMMANDS, type EdgeHost, StreamEdge, type StreamTargets } from "../edge/stream-edge.js";
import { parseLinkAddress } from "../link/address.js";
import type { LinkThrottle } from "../link/throttle.js";
import { RateLimiter, type RelayLimits, oomVictims } from "./limits.js";
import { OnionServiceRoles } from "./onion-roles.js";
import type { RelayMetrics } from "./metrics.js";
import { RELAY_BODY_LEN, forEachCircuitRun } from "../onion/frame.js";

/** Memory is freed down to this fraction of the ceiling once it is exceeded (as Tor does). */
const OOM_TARGET = 0.9;

export interface SwitchOptions {
  identity: Ed25519KeyPair;
  /** Current onion key first, then the previous one during its grace period. */
  onionKeys: () => readonly X25519KeyPair[];
  limits: RelayLimits;
  metrics: RelayMetrics;
  /** Where streams that end at this relay go (its exit policy, its descriptor store). */
  targets: StreamTargets;
  /** The addresses the current consensus lists for a relay (hex identity key); none if unknown. */
  listedAddresses?: (identityHex: string) => readonly string[];
  /** The relay's bandwidth buckets, shared by all its links. */
  throttle?: LinkThrottle;
  /** Source address of links to other relays (default: the system's choice). */
  outboundAddress?: string;
  log: Logger;
}

type Ch = Channel<RelayCircuit>;

export class CircuitSwitch {
  readonly channels: ChannelManager<RelayCircuit>;
  readonly #circuits = new Set<RelayCircuit>();
  readonly #relayId: Uint8Array;
  readonly #identityHex: string;
  readonly #createLimiter: RateLimiter;
  readonly #accounting: QueueAccounting;
  readonly #log: Logger;
  readonly #keystreams = new KeystreamPool();
  /** ntor ephemerals (Y) of CREATE2 replies, made ahead. */
  readonly #ephemerals = new EphemeralKeys();
  readonly #roles: OnionServiceRoles;
  /** Contiguous bodies of one circuit's run of cells, for the batched crypto calls. */
  #scratch = new Uint8Array(32 * RELAY_BODY_LEN);
  #nextTag = 1;
  #oomScheduled = false;
  #closing = false;

  constructor(private readonly options: SwitchOptions) {
    const { limits, metrics } = options;
    this.#log = options.log;
    this.#relayId = relayIdFromIdentity(options.identity.publicKey);
    this.#identityHex = Buffer.from(options.identity.publicKey).toString("hex");
    this.#createLimiter = new RateLimiter(limits.createRatePerSecond, limits.createBurst);
    this.#accounting = {
      queued: (delta) => this.#queued(delta),
      sent: (cells) => {
        metrics.cellsOut += cells;
      },
    };
    this.#roles = new OnionServiceRoles(
      {
        originate: (c, message) => this.#originate(c, message),
        fail: (c, reason, why) => this.#fail(c, reason, why),
        nonceOf: (c) => Buffer.from(c.nonce, "latin1"),
      },
      limits,
    );
    this.channels = new ChannelManager<RelayCircuit>({
      identity: options.identity,
      localAddress: options.outboundAddress,
      idleTimeoutMs: limits.linkIdleTimeoutMs,
      connectTimeoutMs: limits.linkConnectTimeoutMs,
      onChannel: (channel) => {
        channel.link.onFrames = (frames) => this.#onFrames(channel, frames);
      },
      onChannelClosed: (channel, error) => this.#onChannelClosed(channel, error),
      log: options.log,
      throttle: options.throttle,
    });
  }

  get circuitCount(): number {
    return this.#circuits.size;
  }

  /** A link accepted by the listener. */
  accept(link: Link): void {
    this.channels.accept(link);
  }

  /** Shut down: DESTROY (HIBERNATING) every circuit both ways, then close every link. */
  close(): void {
    this.#closing = true;
    for (const c of [...this.#circuits]) {
      this.#close(c, DestroyReason.HIBERNATING, DestroyReason.HIBERNATING, DestroyReason.HIBERNATING, "relay shutting down");
    }
    this.channels.close();
  }

  #onFrames(channel: Ch, frames: Frame[]): void {
    this.options.metrics.cellsIn += frames.length;
    // A run of consecutive cells of one circuit is crypted in one batch.
    forEachCircuitRun(frames, (from, to, relay) => {
      if (channel.link.isClosed) return;
      if (relay) this.#onRelayRun(channel, frames, from, to);
      else this.#onControlFrame(channel, frames[from]);
    });
  }

  #onControlFrame(channel: Ch, frame: Frame): void {
    const command = frame.command;
    try {
      if (command.case === "create2") this.#onCreate2(channel, frame.circuitId, command.value);
      else if (command.case === "created2") this.#onCreated2(channel, frame.circuitId, command.value);
      else if (command.case === "destroy") this.#onDestroy(channel, frame.circuitId, command.value.reason);
    } catch (error) {
      const c = channel.circuits.get(frame.circuitId);
      if (c !== undefined) this.#failOnError(c, error);
      else this.#log.error({ err: error }, `internal error handling ${command.case}`);
    }
  }

  #onRelayRun(channel: Ch, frames: Frame[], from: number, to: number): void {
    const id = frames[from].circuitId;
    const c = channel.circuits.get(id);
    if (c === undefined) {
      this.#sendDestroy(channel, id, DestroyReason.PROTOCOL);
      return;
    }
    try {
      if (c.toPrev.channel === channel && c.toPrev.id === id) this.#outbound(c, frames, from, to);
      else this.#inbound(c, frames, from, to);
    } catch (error) {
      this.#failOnError(c, error);
    }
  }

  /** Cells from the client side: strip our layer, then handle or forward each. */
  #outbound(c: RelayCircuit, frames: Frame[], from: number, to: number): void {
    for (let k = from; k < to; k++) {
      if (frames[k].command.case === "relayEarly" && ++c.earlyCells > MAX_RELAY_EARLY) {
        to = k; // handle the cells before the offending one, then destroy
        break;
      }
    }
    const n = to - from;
    if (n === 1) {
      const body = frames[from].command.value as Uint8Array;
      const early = frames[from].command.case === "relayEarly";
      const { recognized, digest } = c.crypto.decryptOutbound(body, isLastHop(c));
      if (recognized) this.#recognized(c, body, digest!, early);
      else this.#forward(c, body, early);
    } else if (n > 1) {
      const cells = this.#gather(frames, from, to);
      const recognized = c.crypto.decryptOutboundMany(cells, isLastHop(c));
      for (let k = 0, r = 0; k < n && !c.closed; k++) {
        const body = cells.subarray(k * RELAY_BODY_LEN, (k + 1) * RELAY_BODY_LEN);
        const early = frames[from + k].command.case === "relayEarly";
        if (r < recognized.length && recognized[r].index === k) this.#recognized(c, body, recognized[r++].digest, early);
        else this.#forward(c, body, early);
      }
    }
    if (c.earlyCells > MAX_RELAY_EARLY && !c.closed) this.#fail(c, DestroyReason.PROTOCOL, `more than ${MAX_RELAY_EARLY} RELAY_EARLY cells`);
  }

  /** Cells from the next hop: add our layer and pass them towards the client. */
  #inbound(c: RelayCircuit, frames: Frame[], from: number, to: number): void {
    for (let k = from; k < to; k++) {
      if (frames[k].command.case === "relayEarly") {
        this.#fail(c, DestroyReason.PROTOCOL, "inbound RELAY_EARLY");
        return;
      }
    }
    if (!c.nextReady) {
      this.#fail(c, DestroyReason.PROTOCOL, "RELAY from the next hop before CREATED2");
      return;
    }
    const n = to - from;
    if (n === 1) {
      const body = frames[from].command.value as Uint8Array;
      c.crypto.encryptInbound(body, false);
      this.#toPrev(c, body);
      return;
    }
    const cells = c.crypto.encryptInboundMany(this.#gather(frames, from, to), false);
    for (let k = 0; k < n && !c.closed; k++) this.#toPrev(c, cells.subarray(k * RELAY_BODY_LEN, (k + 1) * RELAY_BODY_LEN));
  }

  #gather(frames: Frame[], from: number, to: number): Uint8Array {
    const bytes = (to - from) * RELAY_BODY_LEN;
    if (this.#scratch.length < bytes) this.#scratch = new Uint8Array(bytes);
    for (let k = from; k < to; k++) this.#scratch.set(frames[k].command.value as Uint8Array, (k - from) * RELAY_BODY_LEN);
    return this.#scratch.subarray(0, bytes);
  }

  #forward(c: RelayCircuit, body: Uint8Array, early: boolean): void {
    const part = c.onionService;
    if (part?.kind === "joined") {
      // A rendezvous point: on into the joined circuit, towards its originator.
      part.other.crypto.encryptInbound(body, false);
      this.#toPrev(part.other, body);
      return;
    }
    if (!c.nextReady || c.toNext === undefined) {
      this.#fail(c, DestroyReason.PROTOCOL, "unrecognized cell at the last hop");
      return;
    }
    if (!c.toNext.send(body, early)) this.#fail(c, DestroyReason.RESOURCELIMIT, "circuit queue cap reached");
  }

  #toPrev(c: RelayCircuit, body: Uint8Array): void {
    if (!c.toPrev.send(body)) this.#fail(c, DestroyReason.RESOURCELIMIT, "circuit queue cap reached");
  }

  /** A cell addressed to this hop. `body` is plaintext; views into it die after the call. */
  #recognized(c: RelayCircuit, body: Uint8Array, digest: RunningDigest, early: boolean): void {
    if (body[0] === RelayCommand.DATA) {
      const cell = readRelayCell(body);
      this.#edge(c).onData(cell.streamId, cell.data, digest);
      return;
    }
    const message = decodeRelayMessage(body);
    if (EDGE_COMMANDS.has(message.command)) {
      this.#edge(c).onMessage(message);
      return;
    }
    switch (message.command) {
      case RelayCommand.EXTEND2:
        if (!early || message.streamId !== 0) this.#fail(c, DestroyReason.PROTOCOL, "EXTEND2 outside RELAY_EARLY or on a stream");
        else this.#extend(c, message.body);
        return;
      case RelayCommand.TRUNCATE:
        this.#truncate(c);
        return;
      case RelayCommand.DROP:
        return;
      case RelayCommand.ESTABLISH_INTRO:
        this.#roles.establishIntro(c, message.body);
        return;
      case RelayCommand.INTRODUCE1:
        this.#roles.introduce1(c, message.body);
        return;
      case RelayCommand.ESTABLISH_RENDEZVOUS:
        this.#roles.establishRendezvous(c, message.body);
        return;
      case RelayCommand.RENDEZVOUS1:
        this.#roles.rendezvous1(c, message.body);
        return;
      case RelayCommand.CONGESTION_CONTROL_REQUEST:
        // End to end: only the last hop can take part.
        if (c.toNext !== undefined || c.extending || message.streamId !== 0) this.#fail(c, DestroyReason.PROTOCOL, "CONGESTION_CONTROL_REQUEST not to the last hop, or on a stream");
        else this.#edge(c).onCongestionControlRequest(message.body.version);
        return;
      default:
        this.#fail(c, DestroyReason.PROTOCOL, `${RelayCommand[message.command]} sent to a relay`);
    }
  }

  #edge(c: RelayCircuit): StreamEdge {
    if (c.edge !== undefined) return c.edge;
    const host: EdgeHost = {
      sendCells: (cells) => {
        c.crypto.encryptInboundMany(cells, true);
        for (let off = 0; off < cells.length && !c.closed; off += RELAY_BODY_LEN) {
          this.#toPrev(c, cells.subarray(off, off + RELAY_BODY_LEN));
        }
      },
      lastSentDigest: () => c.crypto.lastInboundDigest()!,
      sendMessage: (message) => this.#originate(c, message),
      get writable() {
        return c.toPrev.writable;
      },
      waitWritable: (waiter: DrainWaiter) => {
        // A non-empty queue calls the edge when it is flushed; else wait for the link itself.
        if (c.toPrev.queued === 0) c.toPrev.channel.waitForDrain(waiter);
      },
      fail: (reason, why) => this.#fail(c, reason, why),
      queued: (delta) => this.#queued(delta),
    };
    c.edge = new StreamEdge(host, {
      targets: this.options.targets,
      connectTimeoutMs: this.options.limits.exitConnectTimeoutMs,
      maxStreamsPerCircuit: this.options.limits.maxStreamsPerCircuit,
      counters: this.options.metrics,
      log: this.#log.child({ circuit: c.tag }),
    });
    return c.edge;
  }

  /** Encode, stamp, encrypt and send a relay message from this hop towards the client. */
  #originate(c: RelayCircuit, message: RelayMessageInit): void {
    if (c.closed) return;
    const body = encodeRelayMessage(message);
    c.crypto.encryptInbound(body, true);
    this.#toPrev(c, body);
  }

  #onCreate2(channel: Ch, id: number, create2: Create2): void {
    const link = channel.link;
    const { limits, metrics } = this.options;
    if (!link.isPeerAllocated(id)) {
      this.#refuseCreate(channel, id, DestroyReason.PROTOCOL, "CREATE2 id has the wrong top bit");
      return;
    }
    const existing = channel.circuits.get(id);
    if (existing !== undefined) {
      this.#fail(existing, DestroyReason.PROTOCOL, "CREATE2 reused a circuit id in use");
      return;
    }
    if (this.#closing) {
      this.#refuseCreate(channel, id, DestroyReason.HIBERNATING, "shutting down");
      return;
    }
    // Relays prove their identity on the link; the rate limit is for anonymous clients (as Tor's DoS defence).
    if (link.peerIdentity === undefined && !this.#createLimiter.take(link.remoteAddress)) {
      this.#refuseCreate(channel, id, DestroyReason.RESOURCELIMIT, "CREATE2 rate limit");
      return;
    }
    if (channel.circuits.size >= limits.maxCircuitsPerLink) {
      this.#refuseCreate(channel, id, DestroyReason.RESOURCELIMIT, "too many circuits on the link");
      return;
    }
    if (create2.handshakeType !== HandshakeType.NTOR || create2.handshakeData.length !== NTOR_ONIONSKIN_LEN) {
      this.#refuseCreate(channel, id, DestroyReason.PROTOCOL, "unsupported handshake");
      return;
    }
    let handshake: { reply: Uint8Array; keyMaterial: Uint8Array };
    try {
      handshake = ntorServerRespond(create2.handshakeData, this.#relayId, this.options.onionKeys(), this.#ephemerals);
    } catch (error) {
      metrics.handshakes.inc({ result: "failed" });
      this.#refuseCreate(channel, id, DestroyReason.PROTOCOL, `ntor: ${(error as Error).message}`);
      return;
    }
    // The reply first: the client waits for it, and no frame of this circuit can be handled
    // before the circuit exists below (this runs to completion).
    this.#sendFrame(link, id, { case: "created2", value: { handshakeData: handshake.reply } });
    link.flush();
    metrics.handshakes.inc({ result: "ok" });
    const keyMaterial = handshake.keyMaterial;
    const nonce = Buffer.from(ntorNonce(keyMaterial)).toString("latin1");
    const c = new RelayCircuit({ channel, id }, new RelayCircuitCrypto(keyMaterial, this.#keystreams), this.#accounting, limits.maxQueuedCellsPerCircuit, this.#nextTag++, nonce);
    channel.circuits.set(id, c);
    this.#circuits.add(c);
    metrics.circuits++;
    metrics.circuitsCreated.inc();
  }

  #refuseCreate(channel: Ch, id: number, reason: DestroyReason, why: string): void {
    // Debug level: a flood of bad CREATE2s must not flood the log; metrics count them.
    this.#log.debug({ reason: DestroyReason[reason], why }, "CREATE2 refused");
    this.options.metrics.destroyed(reason);
    this.#sendDestroy(channel, id, reason);
  }

  #onCreated2(channel: Ch, id: number, created2: Created2): void {
    const c = channel.circuits.get(id);
    if (c === undefined) {
      this.#sendDestroy(channel, id, DestroyReason.PROTOCOL);
      return;
    }
    if (c.toNext?.channel !== channel || c.toNext.id !== id || c.nextReady) {
      this.#fail(c, DestroyReason.PROTOCOL, "unexpected CREATED2");
      return;
    }
    clearTimeout(c.extendTimer);
    c.extendTimer = undefined; // an idle circuit keeps neither the spent timer nor the attempt
    c.extendAttempt = undefined;
    c.extending = false;
    c.nextReady = true;
    this.#originate(c, { command: RelayCommand.EXTENDED2, streamId: 0, body: { handshakeData: created2.handshakeData } });
    c.toPrev.channel.link.flush();
  }

  #onDestroy(channel: Ch, id: number, reason: DestroyReason): void {
    const c = channel.circuits.get(id);
    if (c === undefined) return;
    if (c.toPrev.channel === channel && c.toPrev.id === id) {
      this.#close(c, undefined, DestroyReason.DESTROYED, reason, "DESTROY from the client side");
      return;
    }
    // The next hop refused CREATE2: the circuit ends here again, and the client hears why
    // (TRUNCATED) and may extend elsewhere.
    if (c.extending) {
      this.#extensionFailed(c, reason, undefined, "DESTROY from the next hop while extending");
      return;
    }
    this.#close(c, DestroyReason.DESTROYED, undefined, reason, "DESTROY from the next hop");
  }

  #onChannelClosed(channel: Ch, error: Error | undefined): void {
    if (error !== undefined) {
      this.options.metrics.linkErrors.inc({ reason: MeowOnionError.from(error).code });
    }
    for (const c of [...channel.circuits.values()]) {
      if (c.toPrev.channel === channel) {
        this.#close(c, undefined, DestroyReason.CHANNEL_CLOSED, DestroyReason.CHANNEL_CLOSED, "client-side link closed");
      } else {
        if (c.extending) this.#extensionFailed(c, DestroyReason.CHANNEL_CLOSED, undefined, "next-hop link closed while extending");
        else this.#close(c, DestroyReason.CHANNEL_CLOSED, undefined, DestroyReason.CHANNEL_CLOSED, "next-hop link closed");
      }
    }
  }

  #extend(c: RelayCircuit, extend: Extend2): void {
    if (c.extending || c.toNext !== undefined) {
      this.#fail(c, DestroyReason.PROTOCOL, "EXTEND2 on a circuit that already has a next hop");
      return;
    }
    const identities: Uint8Array[] = [];
    const addresses: string[] = [];
    for (const spec of extend.linkSpecifiers) {
      if (spec.specifier.case === "identityKey") identities.push(spec.specifier.value);
      else if (spec.specifier.case === "address") addresses.push(spec.specifier.value);
    }
    const target = addresses.length > 0 ? parseLinkAddress(addresses[0]) : undefined;
    const create2 = extend.create2;
    if (extend.linkSpecifiers.length > 4 || identities.length !== 1 || identities[0].length !== 32 || target === undefined || create2 === undefined) {
      this.#fail(c, DestroyReason.PROTOCOL, "malformed EXTEND2");
      return;
    }
    const identity = identities[0];
    if (Buffer.from(identity).toString("hex") === this.#identityHex) {
      this.#fail(c, DestroyReason.PROTOCOL, "EXTEND2 to this relay itself");
      return;
    }
    c.extending = true;
    const attempt = {};
    c.extendAttempt = attempt;
    this.#connectNext(c, attempt, identity, target.host, target.port, create2).catch((error: unknown) => this.#failOnError(c, error));
  }

  async #connectNext(c: RelayCircuit, attempt: object, identity: Uint8Array, host: string, port: number, create2: Create2): Promise<void> {
    let channel: Ch;
    try {
      const listed = this.options.listedAddresses?.(Buffer.from(identity).toString("hex"));
      channel = await this.channels.channelTo(identity, host, port, listed);
    } catch (error) {
      if (c.extendAttempt !== attempt || c.closed) return;
      this.#failExtend(c, toDestroyReason(error), `extend: ${MeowOnionError.from(error).code}`);
      return;
    }
    if (c.extendAttempt !== attempt || c.closed) return;
    if (channel.circuits.size >= this.options.limits.maxCircuitsPerLink) {
      this.#failExtend(c, DestroyReason.RESOURCELIMIT, "too many circuits on the next link");
      return;
    }
    let id: number;
    try {
      id = channel.link.allocateCircuitId((candidate) => channel.circuits.has(candidate));
    } catch {
      this.#failExtend(c, DestroyReason.RESOURCELIMIT, "no free circuit id on the next link");
      return;
    }
    channel.circuits.set(id, c);
    c.toNext = new HopWriter({ channel, id }, this.#accounting, this.options.limits.maxQueuedCellsPerCircuit);
    this.#sendFrame(channel.link, id, { case: "create2", value: create2 });
    channel.link.flush();
    c.extendTimer = setTimeout(() => this.#failExtend(c, DestroyReason.TIMEOUT, "no CREATED2 in time"), this.options.limits.extendTimeoutMs);
  }

  /** An extension failed here (no link, no CREATED2 in time, no room on the next link). */
  #failExtend(c: RelayCircuit, reason: DestroyReason, why: string): void {
    this.#extensionFailed(c, reason, reason, why);
  }

  /**
   * The circuit ends here again: forget the next hop (DESTROY `toNext` to it if it was reached
   * and is still there) and tell the client why with TRUNCATED. The circuit stays open: the
   * client may extend it to another relay (relay.proto TRUNCATE), or destroy it.
   */
  #extensionFailed(c: RelayCircuit, reason: DestroyReason, toNext: DestroyReason | undefined, why: string): void {
    if (c.closed) return;
    this.#dropNext(c, toNext);
    this.#truncated(c, reason);
    c.toPrev.channel.link.flush();
    this.#log.debug({ circuit: c.tag, reason: DestroyReason[reason], why }, "extension failed; circuit truncated here");
  }

  /** TRUNCATE: destroy everything after this hop and confirm with TRUNCATED. */
  #truncate(c: RelayCircuit): void {
    this.#dropNext(c, DestroyReason.REQUESTED);
    this.#truncated(c, DestroyReason.REQUESTED);
  }

  #truncated(c: RelayCircuit, reason: DestroyReason): void {
    this.#originate(c, { command: RelayCommand.TRUNCATED, streamId: 0, body: { reason } });
  }

  /** Forget the next hop (sending it DESTROY with `reason` if it was reached) and any pending extension. */
  #dropNext(c: RelayCircuit, reason: DestroyReason | undefined): void {
    clearTimeout(c.extendTimer);
    c.extending = false;
    c.extendAttempt = undefined;
    const next = c.toNext;
    if (next === undefined) return;
    next.clear();
    next.channel.circuits.delete(next.id);
    if (reason !== undefined) this.#sendDestroy(next.channel, next.id, reason);
    c.toNext = undefined;
    c.nextReady = false;
  }

  #failOnError(c: RelayCircuit, error: unknown): void {
    if (error instanceof OnionError) {
      this.#fail(c, DestroyReason.PROTOCOL, `${error.reason}: ${error.message}`);
    } else {
      this.#log.error({ err: error }, "internal error on a circuit");
      this.#fail(c, DestroyReason.INTERNAL, "internal error");
    }
  }

  /** A decision of this relay: DESTROY with `reason` to both sides. */
  #fail(c: RelayCircuit, reason: DestroyReason, why: string): void {
    this.#close(c, reason, reason, reason, why);
  }

  /**
   * Free the circuit: DESTROY to the prev side with `toPrev` and to the next side with
   * `toNext` (undefined: not sent, that side is gone or told us), queues and streams dropped.
   */
  #close(c: RelayCircuit, toPrev: DestroyReason | undefined, toNext: DestroyReason | undefined, recorded: DestroyReason, why: string): void {
    if (c.closed) return;
    c.closed = true;
    this.#dropNext(c, toNext);
    c.toPrev.clear();
    c.toPrev.channel.circuits.delete(c.toPrev.id);
    if (toPrev !== undefined) this.#sendDestroy(c.toPrev.channel, c.toPrev.id, toPrev);
    c.edge?.close();
    this.#roles.forget(c);
    const part = c.onionService;
    // The two halves of a joined rendezvous circuit live and die together.
    if (part?.kind === "joined") this.#close(part.other, DestroyReason.DESTROYED, DestroyReason.DESTROYED, DestroyReason.DESTROYED, "the joined rendezvous circuit closed");
    this.#circuits.delete(c);
    this.options.metrics.circuits--;
    this.options.metrics.destroyed(recorded);
    const level = recorded === DestroyReason.PROTOCOL || recorded === DestroyReason.INTERNAL || recorded === DestroyReason.RESOURCELIMIT ? "info" : "debug";
    this.#log[level]({ circuit: c.tag, reason: DestroyReason[recorded], why }, "circuit destroyed");
  }

  #sendDestroy(channel: Ch, id: number, reason: DestroyReason): void {
    this.#sendFrame(channel.link, id, { case: "destroy", value: { reason } });
  }

  #sendFrame(link: Link, circuitId: number, command: MessageInitShape<typeof FrameSchema>["command"]): void {
    link.send(create(FrameSchema, { circuitId, command }));
    this.options.metrics.cellsOut++;
  }

  #queued(delta: number): void {
    const metrics = this.options.metrics;
    metrics.queuedBytes += delta;
    if (delta > 0 && metrics.queuedBytes > this.options.limits.maxQueuedBytes && !this.#oomScheduled) {
      this.#oomScheduled = true;
      // Not from inside the caller's loop: the victim may be the circuit being processed.
      queueMicrotask(() => this.#outOfMemory());
    }
  }

  /** Above the memory ceiling: kill the circuits with the oldest queued data first (Tor's OOM handler). */
  #outOfMemory(): void {
    this.#oomScheduled = false;
    const { metrics, limits } = this.options;
    if (metrics.queuedBytes <= limits.maxQueuedBytes) return;
    const before = metrics.queuedBytes;
    const victims = oomVictims(this.#circuits, before, limits.maxQueuedBytes * OOM_TARGET);
    for (const c of victims) this.#fail(c, DestroyReason.RESOURCELIMIT, "out of memory: oldest queued data");
    this.#log.warn({ before, after: metrics.queuedBytes, killed: victims.length }, "memory ceiling reached: circuits killed");
  }
}

/** No later hop can claim a cell: no next relay, and not a rendezvous point joined to a service. */
function isLastHop(c: RelayCircuit): boolean {
  return c.toNext === undefined && c.onionService?.kind !== "joined";
}
