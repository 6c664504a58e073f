/**
 * A client circuit: its id on the link to the first hop, its layers of relay crypto, the
 * handshake replies its builder waits for (build.ts), and the streams over its last hop with
 * circuit and stream flow control and authenticated SENDMEs. Stream bytes are packaged by the
 * shared StreamScheduler (onion/streams.ts), as at the exit.
 *
 * All network I/O goes through the link of the first hop: its channel hands the circuit the
 * frames of each read (receive), cells go out through Link.sendRelay.
 */
import { EventEmitter } from "node:events";
import { type MessageInitShape, create } from "@bufbuild/protobuf";
import type { ConsensusRelay } from "../../gen/meowonion/v1/consensus_pb.js";
import { RelayFeature } from "../../gen/meowonion/v1/descriptor_pb.js";
import { DestroyReason, type Frame, FrameSchema, HandshakeType } from "../../gen/meowonion/v1/link_pb.js";
import { EndReason, RelayCommand } from "../../gen/meowonion/v1/relay_pb.js";
import { formatHostPort } from "../common/host-port.js";
import type { Logger } from "../common/log.js";
import type { Channel, DrainWaiter } from "../link/channels.js";
import { CircuitError, OnionError, StreamError } from "../onion/errors.js";
import { CONGESTION_CONTROL_VERSION, type CircuitSendControl, CongestionWindow, ReceiveWindow, SendWindow } from "../onion/flow-control.js";
import { RELAY_BODY_LEN } from "../onion/frame.js";
import { EphemeralKeys, ntorNonce } from "../onion/ntor.js";
import { type RelayMessage, type RelayMessageInit, decodeRelayMessage, encodeRelayMessage, readRelayCell } from "../onion/relay-cell.js";
import { ClientCircuitCrypto, type KeystreamPool, type RunningDigest, digestBytes, onionServiceHopCrypto } from "../onion/relay-crypto.js";
import { destroyReasonName, endReasonName } from "../onion/reasons.js";
import { type CellSink, StreamScheduler } from "../onion/streams.js";
import { EDGE_COMMANDS, type EdgeContext, StreamEdge } from "../edge/stream-edge.js";
import { ClientStream, type StreamOwner } from "./stream.js";

/** A relay to build through, as listed in the consensus. */
export interface RelayTarget {
  nickname: string;
  identityKey: Uint8Array;
  ntorOnionKey: Uint8Array;
  host: string;
  port: number;
  /** The relay lists RELAY_FEATURE_CONGESTION_CONTROL: as the last hop, congestion control is asked for. */
  congestionControl?: boolean;
}

/** A relay of the consensus as a hop to build through. */
export function relayTargetOf(relay: ConsensusRelay): RelayTarget {
  return {
    nickname: relay.nickname,
    identityKey: relay.identityKey,
    ntorOnionKey: relay.ntorOnionKey,
    host: relay.ipv4Address || relay.ipv6Address,
    port: relay.orPort,
    congestionControl: relay.features.includes(RelayFeature.CONGESTION_CONTROL),
  };
}

/** The onion-service messages a circuit's owner handles (onion_service.proto), from its last hop. */
const ONION_SERVICE_COMMANDS: ReadonlySet<number> = new Set([
  RelayCommand.INTRO_ESTABLISHED,
  RelayCommand.INTRODUCE2,
  RelayCommand.INTRODUCE_ACK,
  RelayCommand.RENDEZVOUS_ESTABLISHED,
  RelayCommand.RENDEZVOUS2,
]);

/** How long a stream may wait for CONNECTED (or RESOLVED), as Tor's first attempt. */
export const DEFAULT_STREAM_TIMEOUT_MS = 10_000;

/**
 * What the circuits of one client share: their logger, their keystream pool, and scratch
 * buffers (everything runs on one thread, and no circuit holds a buffer across a yield).
 */
export class CircuitContext {
  /** A plaintext cell being sent: laid out, encrypted in place, copied into the link's output. */
  readonly cell = new Uint8Array(RELAY_BODY_LEN);
  readonly keystreams: KeystreamPool;
  /** The ntor ephemerals of these circuits' builds, made ahead. */
  readonly ephemerals = new EphemeralKeys();
  #inbound = new Uint8Array(32 * RELAY_BODY_LEN);
  #nextCircuitId = 1;

  constructor(
    readonly log: Logger,
    keystreams: KeystreamPool,
  ) {
    this.keystreams = keystreams;
  }

  /** Room for the bodies of `cells` inbound cells, decrypted together (valid until the next call). */
  inbound(cells: number): Uint8Array {
    const bytes = cells * RELAY_BODY_LEN;
    if (this.#inbound.length < bytes) this.#inbound = new Uint8Array(bytes);
    return this.#inbound.subarray(0, bytes);
  }

  /** A local circuit id, unique among these circuits (not the id on the wire). */
  nextCircuitId(): number {
    return this.#nextCircuitId++;
  }
}

interface Waiter<T> {
  resolve(value: T): void;
  reject(error: Error): void;
}

interface Pending<T> extends Waiter<T> {
  timer: NodeJS.Timeout;
}

export class ClientCircuit extends EventEmitter<{ close: [reason: DestroyReason] }> {
  /** Local id, unique among the circuits of one client, never reused (not the id on the wire). */
  readonly id: number;
  readonly createdAt = new Date();
  bytesSent = 0;
  bytesReceived = 0;
  readonly #channel: Channel<ClientCircuit>;
  readonly #context: CircuitContext;
  readonly #circuitId: number;
  readonly #crypto: ClientCircuitCrypto;
  /** The hops reached, first hop first. */
  readonly #path: RelayTarget[] = [];
  readonly #streams = new Map<number, ClientStream>();
  readonly #opening = new Map<number, Pending<ClientStream>>();
  readonly #resolving = new Map<number, Pending<string[]>>();
  #package: CircuitSendControl = SendWindow.circuit();
  #deliver = ReceiveWindow.circuit();
  /** CONGESTION_CONTROL_REQUEST sent, its response not yet in. */
  #congestionControlAsked = false;
  /** The last hop adopted congestion control: streams opened from now on use XOFF/XON. */
  #congestionControl = false;
  /** Streams holding DATA of the current link read for their reader (see #flushDelivered). */
  readonly #delivering: ClientStream[] = [];
  readonly #scheduler = new StreamScheduler<ClientStream>();
  /** Where the scheduler puts DATA cells: encrypted for the last hop and sent on the first hop's link. */
  readonly #sink: CellSink;
  #pumping = false;
  #buildMs = 0;
  #handshake: Waiter<Uint8Array> | undefined;
  #truncating: (Waiter<void> & { hops: number }) | undefined;
  #closed = false;
  #nextStreamId = 1;
  /** The last hop's ntor nonce (ESTABLISH_INTRO binds to it). */
  #lastHopNonce: Uint8Array | undefined;
  /** Who takes the onion-service messages of the last hop (intro and rendezvous circuits). */
  #onionServiceHandler: ((message: RelayMessage) => void) | undefined;
  /** The streams that end here: an onion service's side of a rendezvous circuit. */
  #edge: StreamEdge | undefined;
  /** The onion service (or, at a service, "client") the circuit's end-to-end hop reaches. */
  #onionService: string | undefined;

  /** The ntor ephemerals made ahead for this circuit's handshakes (shared with its context). */
  get ephemerals(): EphemeralKeys {
    return this.#context.ephemerals;
  }

  constructor(channel: Channel<ClientCircuit>, context: CircuitContext) {
    super();
    this.#channel = channel;
    this.#context = context;
    this.id = context.nextCircuitId();
    this.#crypto = new ClientCircuitCrypto(context.keystreams);
    this.#circuitId = channel.link.allocateCircuitId((id) => channel.circuits.has(id));
    channel.circuits.set(this.#circuitId, this);
    const link = channel.link;
    this.#sink = {
      get writable() {
        return !link.congested;
      },
      nextCell: () => context.cell,
      commit: (dataBytes) => {
        this.#crypto.encryptOutbound(context.cell, this.hopCount - 1);
        link.sendRelay(this.#circuitId, context.cell);
        this.bytesSent += dataBytes;
      },
      lastDigest: () => this.#crypto.lastOutboundDigest(this.hopCount - 1)!,
    };
  }

  /** The hops the circuit reaches, first hop first. */
  get path(): readonly RelayTarget[] {
    return this.#path;
  }

  /** Hops the circuit currently reaches. */
  get hopCount(): number {
    return this.#path.length;
  }

  /** Milliseconds the build took (0 until built). */
  get buildMs(): number {
    return this.#buildMs;
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  get streamCount(): number {
    return this.#streams.size + this.#opening.size + this.#resolving.size;
  }

  /** The `.meow` name (or "client" at a service) of the end-to-end hop, once added. */
  get onionService(): string | undefined {
    return this.#onionService;
  }

  /** The last hop's ntor nonce (onion_service.proto EstablishIntro). */
  get lastHopNonce(): Uint8Array {
    if (this.#lastHopNonce === undefined) throw new RangeError("the last hop has no ntor nonce");
    return this.#lastHopNonce;
  }

  /** Whether the last hop adopted congestion control (relay.proto, CONGESTION CONTROL). */
  get congestionControlled(): boolean {
    return this.#congestionControl;
  }

  // ------------------------------------------------------------------ building (build.ts)

  /**
   * Send a handshake to `target` as the next hop: CREATE2 to the first hop, else EXTEND2 in
   * RELAY_EARLY to the last hop. Resolves with the reply (CREATED2 / EXTENDED2); rejects with
   * a CircuitError if the circuit dies first.
   */
  handshake(target: RelayTarget, onionskin: Uint8Array): Promise<Uint8Array> {
    if (this.#closed) return Promise.reject(new CircuitError(DestroyReason.FINISHED, this.hopCount, "circuit is closed"));
    if (this.#handshake !== undefined) return Promise.reject(new RangeError("a handshake is already in progress"));
    const reply = new Promise<Uint8Array>((resolve, reject) => {
      this.#handshake = { resolve, reject };
    });
    const create2 = { handshakeType: HandshakeType.NTOR, handshakeData: onionskin };
    if (this.hopCount === 0) {
      this.#sendFrame({ case: "create2", value: create2 });
    } else {
      const linkSpecifiers = [
        { specifier: { case: "address" as const, value: formatHostPort(target.host, target.port) } },
        { specifier: { case: "identityKey" as const, value: target.identityKey } },
      ];
      this.#send({ command: RelayCommand.EXTEND2, streamId: 0, body: { linkSpecifiers, create2 } }, this.hopCount - 1, true);
    }
    // The peer waits for it: out now, not when the event loop gets to it.
    this.#channel.link.flush();
    return reply;
  }

  /** The handshake with `target` completed: its layer of crypto becomes the last hop. */
  addHop(target: RelayTarget, keyMaterial: Uint8Array): void {
    this.#crypto.addHop(keyMaterial);
    this.#path.push(target);
    this.#lastHopNonce = ntorNonce(keyMaterial);
  }

  // ------------------------------------------------------------------ onion services

  /** Onion-service messages from the last hop go to `handler` (each a copy the handler may keep). */
  handleOnionServiceMessages(handler: (message: RelayMessage) => void): void {
    this.#onionServiceHandler = handler;
  }

  /** Send an onion-service message (stream 0) to the last hop. */
  sendOnionServiceMessage(message: RelayMessageInit): void {
    this.#send(message, this.hopCount - 1);
    this.#channel.link.flush();
  }

  /**
   * The hs-ntor handshake is done: the other end (the service, for a client; the client, for
   * a service) becomes the circuit's last hop, with onion-service relay crypto (SHA3-256,
   * AES-256-CTR) from `keyMaterial`. `name` labels that hop.
   */
  addOnionServiceHop(keyMaterial: Uint8Array, side: "client" | "service", name: string): void {
    this.#crypto.addHopCrypto(onionServiceHopCrypto(keyMaterial, this.#context.keystreams, side));
    this.#path.push({ nickname: name, identityKey: new Uint8Array(0), ntorOnionKey: new Uint8Array(0), host: "", port: 0 });
    this.#lastHopNonce = undefined;
    this.#onionService = name;
  }

  /** An onion service's rendezvous circuit: the client's BEGINs arrive from the last hop and go to `ctx.targets`. */
  serveStreams(ctx: EdgeContext): void {
    const link = this.#channel.link;
    const last = () => this.hopCount - 1;
    this.#edge = new StreamEdge(
      {
        sendCells: (cells) => {
          for (let off = 0; off < cells.length && !this.#closed; off += RELAY_BODY_LEN) {
            const cell = cells.subarray(off, off + RELAY_BODY_LEN);
            this.#crypto.encryptOutbound(cell, last());
            link.sendRelay(this.#circuitId, cell);
          }
        },
        lastSentDigest: () => this.#crypto.lastOutboundDigest(last())!,
        sendMessage: (message) => this.#send(message, last()),
        get writable() {
          return !link.congested;
        },
        waitWritable: (waiter) => this.#channel.waitForDrain(waiter),
        fail: (reason, why) => {
          this.#context.log.info({ circuit: this.id, why }, "rendezvous circuit failed");
          this.destroy(reason);
        },
        queued: () => undefined,
      },
      ctx,
    );
  }

  /** The builder is done: the build took `ms`. */
  markBuilt(ms: number): void {
    this.#buildMs = ms;
  }

  /**
   * Ask the last hop for congestion control, before any stream. Not waited for: the response
   * arrives before any CONNECTED, and streams take their flow control at CONNECTED.
   */
  requestCongestionControl(): void {
    this.#congestionControlAsked = true;
    this.#send({ command: RelayCommand.CONGESTION_CONTROL_REQUEST, streamId: 0, body: { version: CONGESTION_CONTROL_VERSION } }, this.hopCount - 1);
  }

  // ------------------------------------------------------------------ streams

  /** Open a TCP stream from the exit to host:port (resolved at the exit); at an onion service, host is "" and port its virtual port. */
  openStream(host: string, port: number, options: { timeoutMs?: number } = {}): Promise<ClientStream> {
    return this.#begin({ command: RelayCommand.BEGIN, body: { host, port } }, options.timeoutMs);
  }

  /** Open a directory stream to the last hop (BEGIN_DIR): to an HSDir, for onion-service descriptors. */
  openDirectoryStream(options: { timeoutMs?: number } = {}): Promise<ClientStream> {
    return this.#begin({ command: RelayCommand.BEGIN_DIR, body: {} }, options.timeoutMs);
  }

  #begin(
    begin: { command: RelayCommand.BEGIN; body: { host: string; port: number } } | { command: RelayCommand.BEGIN_DIR; body: Record<string, never> },
    timeoutMs = DEFAULT_STREAM_TIMEOUT_MS,
  ): Promise<ClientStream> {
    return new Promise((resolve, reject) => {
      const streamId = this.#allocateStreamId();
      if (streamId === undefined) {
        reject(this.#closed ? this.#deadStreamError() : new StreamError(EndReason.RESOURCELIMIT, "no free stream id on this circuit"));
        return;
      }
      const stream = new ClientStream(streamId, this.#owner);
      const timer = setTimeout(() => {
        this.#opening.delete(streamId);
        this.#streams.delete(streamId);
        this.#send({ command: RelayCommand.END, streamId, body: { reason: EndReason.TIMEOUT } }, this.hopCount - 1);
        stream.destroy();
        reject(new StreamError(EndReason.TIMEOUT, `no CONNECTED within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#streams.set(streamId, stream);
      this.#opening.set(streamId, { resolve, reject, timer });
      this.#send({ ...begin, streamId } as RelayMessageInit, this.hopCount - 1);
    });
  }

  /** Resolve `host` at the exit. Rejects with StreamError RESOLVEFAILED if it has no address. */
  resolve(host: string, options: { timeoutMs?: number } = {}): Promise<string[]> {
    return new Promise((resolve, reject) => {
      const streamId = this.#allocateStreamId();
      if (streamId === undefined) {
        reject(this.#closed ? this.#deadStreamError() : new StreamError(EndReason.RESOURCELIMIT, "no free stream id on this circuit"));
        return;
      }
      const timeoutMs = options.timeoutMs ?? DEFAULT_STREAM_TIMEOUT_MS;
      const timer = setTimeout(() => {
        this.#resolving.delete(streamId);
        reject(new StreamError(EndReason.TIMEOUT, `no RESOLVED within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#resolving.set(streamId, { resolve, reject, timer });
      this.#send({ command: RelayCommand.RESOLVE, streamId, body: { host } }, this.hopCount - 1);
    });
  }

  /**
   * Cut the circuit after its first `hops` hops (TRUNCATE to hop `hops - 1`); resolves on
   * TRUNCATED, when the later hops' keys are dropped and the circuit ends at hop `hops - 1`:
   * it may then be extended again (`handshake`). Streams on the old last hop are closed.
   */
  truncate(hops: number): Promise<void> {
    if (this.#closed) return Promise.reject(new CircuitError(DestroyReason.FINISHED, hops, "circuit is closed"));
    if (!Number.isInteger(hops) || hops < 1 || hops >= this.hopCount || this.#truncating !== undefined || this.#handshake !== undefined) {
      return Promise.reject(new RangeError(`cannot truncate a ${this.hopCount}-hop circuit to ${hops}`));
    }
    return new Promise((resolve, reject) => {
      this.#truncating = { resolve, reject, hops };
      this.#send({ command: RelayCommand.TRUNCATE, streamId: 0, body: {} }, hops - 1);
      this.#channel.link.flush();
      this.#closeStreams(new StreamError(EndReason.DESTROY, "circuit truncated"));
    });
  }

  /** Tear the circuit down (DESTROY to the first hop). */
  destroy(reason: DestroyReason = DestroyReason.FINISHED): void {
    if (this.#closed) return;
    this.#sendFrame({ case: "destroy", value: { reason } });
    this.#teardown(reason, `destroyed locally (${destroyReasonName(reason)})`);
  }

  /** What this circuit's streams call (kept off the public API). */
  readonly #owner: StreamOwner = {
    wake: (stream) => this.#wake(stream),
    readMore: (stream) => this.#readMore(stream),
    abort: (stream) => this.#abort(stream),
  };

  /** Resumes packaging when the first hop's link can take more. */
  readonly #drainWaiter: DrainWaiter = { onDrain: () => this.#pump() };


  #wake(stream: ClientStream): void {
    if (!stream.sentEnd && this.#streams.get(stream.streamId) === stream) this.#scheduler.wake(stream);
    this.#pump();
  }

  /** Package waiting stream bytes into DATA cells while the windows and the link allow; END streams that are done. */
  #pump(): void {
    if (this.#pumping || this.#closed) return;
    this.#pumping = true;
    const link = this.#channel.link;
    const emptied = this.#scheduler.pump(this.#package, this.#sink, performance.now());
    this.#pumping = false;
    for (const stream of emptied) {
      if (stream.endDue && this.#streams.get(stream.streamId) === stream) this.#sendEnd(stream);
    }
    if (this.#scheduler.pending && link.congested && !this.#closed) this.#channel.waitForDrain(this.#drainWaiter);
  }

  #sendEnd(stream: ClientStream): void {
    this.#send({ command: RelayCommand.END, streamId: stream.streamId, body: { reason: EndReason.DONE } }, this.hopCount - 1);
    stream.markEndSent();
    if (stream.receivedEnd) this.#forgetStream(stream);
  }

  #readMore(stream: ClientStream): void {
    if (this.#closed || this.#streams.get(stream.streamId) !== stream) return;
    for (let n = stream.receiveControl.takeSendmes(); n > 0; n--) {
      this.#send({ command: RelayCommand.SENDME, streamId: stream.streamId, body: { version: 0 } }, this.hopCount - 1);
    }
    if (stream.receiveControl.onDrained() === "xon") this.#send({ command: RelayCommand.XON, streamId: stream.streamId, body: {} }, this.hopCount - 1);
  }

  #abort(stream: ClientStream): void {
    if (this.#streams.get(stream.streamId) !== stream) return;
    this.#forgetStream(stream);
    // END with a reason other than DONE closes both directions at the exit.
    if (!this.#closed && !(stream.sentEnd && stream.receivedEnd)) {
      this.#send({ command: RelayCommand.END, streamId: stream.streamId, body: { reason: EndReason.MISC } }, this.hopCount - 1);
    }
  }

  // ------------------------------------------------------------------ from the channel

  /** Frames [from, to) of one link read, all for this circuit: a run of relay cells, or one other frame. */
  receive(frames: readonly Frame[], from: number, to: number, relay: boolean): void {
    if (this.#closed) return;
    if (relay) this.#onRelayRun(frames, from, to);
    else this.#onFrame(frames[from]);
    this.#flushDelivered();
  }

  /** The link carrying this circuit closed. */
  channelClosed(): void {
    this.#teardown(DestroyReason.CHANNEL_CLOSED, "link to the first hop closed");
  }

  /** Consecutive RELAY frames (one or more): decrypted as one batch, then handled in order. */
  #onRelayRun(frames: readonly Frame[], from: number, to: number): void {
    const n = to - from;
    const cells = this.#context.inbound(n);
    for (let k = 0; k < n; k++) cells.set(frames[from + k].command.value as Uint8Array, k * RELAY_BODY_LEN);
    try {
      const batch = this.#crypto.decryptInboundMany(cells);
      for (let k = 0; k < batch.recognized && !this.#closed; k++) {
        this.#onCell(cells.subarray(k * RELAY_BODY_LEN, (k + 1) * RELAY_BODY_LEN), batch.hops[k], batch.digests[k]);
      }
      if (batch.recognized < n) throw new OnionError("cell-unrecognized", "inbound relay cell recognized by no hop");
    } catch (error) {
      this.#onError(error);
    }
    // DATA views point into the shared inbound buffer: the readers get them before it is reused.
    this.#flushDelivered();
  }

  #onFrame(frame: Frame): void {
    try {
      switch (frame.command.case) {
        case "created2":
          if (this.hopCount !== 0 || this.#handshake === undefined) throw new OnionError("cell-malformed", "unexpected CREATED2");
          this.#handshakeDone(frame.command.value.handshakeData);
          return;
        case "destroy": {
          const reason = frame.command.value.reason;
          this.#failHandshake(new CircuitError(reason, this.hopCount, `hop ${this.hopCount} refused or lost: ${destroyReasonName(reason)}`));
          this.#teardown(reason, "DESTROY from the first hop");
          return;
        }
        default:
          throw new OnionError("cell-malformed", `unexpected ${frame.command.case} frame on a client circuit`);
      }
    } catch (error) {
      this.#onError(error);
    }
  }

  /** A bad cell (OnionError) or a bug: the circuit is destroyed, a handshake in progress fails. */
  #onError(error: unknown): void {
    if (this.#closed) return;
    if (!(error instanceof OnionError)) this.#context.log.error({ err: error }, "internal error on a circuit");
    else this.#context.log.info({ circuit: this.id, reason: error.reason, why: error.message }, "protocol violation: circuit destroyed");
    const reason = error instanceof OnionError ? DestroyReason.PROTOCOL : DestroyReason.INTERNAL;
    this.#failHandshake(new CircuitError(reason, this.hopCount, error instanceof OnionError ? `${error.reason}: ${error.message}` : (error as Error).message));
    this.destroy(reason);
  }

  /** A decrypted cell from `hop`; `body` and views into it are valid during the call only. */
  #onCell(body: Uint8Array, hop: number, digest: RunningDigest): void {
    if (hop >= this.hopCount) throw new OnionError("cell-unrecognized", `cell from hop ${hop} beyond the circuit`);
    if (this.#edge !== undefined && hop === this.hopCount - 1) {
      this.#onEdgeCell(this.#edge, body, digest);
      return;
    }
    if (body[0] === RelayCommand.DATA) {
      const cell = readRelayCell(body);
      this.#onData(hop, cell.streamId, cell.data, digest);
      return;
    }
    // Data held for the reader comes before whatever this message does (END, for one).
    this.#flushDelivered();
    if (ONION_SERVICE_COMMANDS.has(body[0])) {
      this.#onOnionServiceMessage(hop, decodeRelayMessage(Uint8Array.from(body)));
      return;
    }
    this.#onMessage(hop, decodeRelayMessage(body));
  }

  /** A cell from the client of a service's rendezvous circuit: its streams are the edge's. */
  #onEdgeCell(edge: StreamEdge, body: Uint8Array, digest: RunningDigest): void {
    if (body[0] === RelayCommand.DATA) {
      const cell = readRelayCell(body);
      edge.onData(cell.streamId, cell.data, digest);
      return;
    }
    const message = decodeRelayMessage(body);
    if (EDGE_COMMANDS.has(message.command)) edge.onMessage(message);
    else if (message.command === RelayCommand.CONGESTION_CONTROL_REQUEST && message.streamId === 0) edge.onCongestionControlRequest(message.body.version);
    else if (message.command !== RelayCommand.DROP) throw new OnionError("cell-malformed", `${RelayCommand[message.command]} from an onion-service client`);
  }

  #onData(hop: number, streamId: number, data: Uint8Array, digest: RunningDigest): void {
    if (hop !== this.hopCount - 1 || data.length === 0) throw new OnionError("cell-malformed", "DATA not from the last hop, or empty");
    if (this.#deliver.onReceived()) {
      this.#send({ command: RelayCommand.SENDME, streamId: 0, body: { version: 1, digest: digestBytes(digest) } }, hop);
    }
    this.bytesReceived += data.length;
    const stream = this.#streams.get(streamId);
    // DATA may cross our END on the wire: drop it.
    if (stream === undefined || stream.receivedEnd || this.#opening.has(streamId)) return;
    stream.receiveControl.onReceived();
    if (stream.stageDelivery(data)) this.#delivering.push(stream);
  }

  /** Hand the DATA held since the last flush to the readers; SENDMEs go out for those keeping up. */
  #flushDelivered(): void {
    const delivering = this.#delivering;
    for (let i = 0; i < delivering.length; i++) {
      const stream = delivering[i];
      if (stream.flushDelivered()) this.#readMore(stream);
      else this.#held(stream);
    }
    delivering.length = 0;
  }

  /** The reader is behind with this stream's data: XOFF, or END once it is far past it. */
  #held(stream: ClientStream): void {
    const signal = stream.receiveControl.onHeld(stream.readableLength);
    if (signal === "xoff") this.#send({ command: RelayCommand.XOFF, streamId: stream.streamId, body: {} }, this.hopCount - 1);
    else if (signal === "end") stream.destroy(new StreamError(EndReason.RESOURCELIMIT, "the exit ignored XOFF"));
  }

  #onOnionServiceMessage(hop: number, message: RelayMessage): void {
    const handler = this.#onionServiceHandler;
    if (handler === undefined || hop !== this.hopCount - 1) throw new OnionError("cell-malformed", `unexpected ${RelayCommand[message.command]}`);
    handler(message);
  }

  #onCongestionControlResponse(hop: number, version: number): void {
    if (!this.#congestionControlAsked || hop !== this.hopCount - 1) throw new OnionError("cell-malformed", "unexpected CONGESTION_CONTROL_RESPONSE");
    this.#congestionControlAsked = false;
    if (version === 0) return;
    if (version !== CONGESTION_CONTROL_VERSION) throw new OnionError("cell-malformed", `congestion control version ${version} was not asked for`);
    this.#congestionControl = true;
    this.#package = new CongestionWindow();
    this.#deliver = ReceiveWindow.congestionControlled();
  }

  #onMessage(hop: number, message: RelayMessage): void {
    switch (message.command) {
      case RelayCommand.EXTENDED2:
        if (this.#handshake === undefined || hop !== this.hopCount - 1) throw new OnionError("cell-malformed", "unexpected EXTENDED2");
        this.#handshakeDone(message.body.handshakeData);
        return;
      case RelayCommand.TRUNCATED:
        this.#onTruncated(hop, message.body.reason);
        return;
      case RelayCommand.DROP:
        return;
      case RelayCommand.CONGESTION_CONTROL_RESPONSE:
        this.#onCongestionControlResponse(hop, message.body.version);
        return;
    }
    if (message.streamId === 0) {
      if (message.command !== RelayCommand.SENDME) throw new OnionError("cell-malformed", `${RelayCommand[message.command]} on stream 0`);
      if (message.body.version !== 1 || hop !== this.hopCount - 1) throw new OnionError("flow-control", "bad circuit SENDME");
      this.#package.onSendme(message.body.digest, performance.now());
      this.#pump();
      return;
    }
    if (hop !== this.hopCount - 1) throw new OnionError("cell-malformed", "stream cell not from the last hop");
    const streamId = message.streamId;
    switch (message.command) {
      case RelayCommand.CONNECTED: {
        const opening = this.#opening.get(streamId);
        if (opening === undefined) throw new OnionError("cell-malformed", "CONNECTED for a stream not opening");
        this.#opening.delete(streamId);
        clearTimeout(opening.timer);
        const stream = this.#streams.get(streamId)!;
        stream.adoptFlowControl(this.#congestionControl);
        opening.resolve(stream);
        return;
      }
      case RelayCommand.END:
        this.#onEnd(streamId, message.body.reason);
        return;
      case RelayCommand.XOFF:
      case RelayCommand.XON: {
        const stream = this.#streams.get(streamId);
        if (stream === undefined) {
          if (!this.#congestionControl) throw new OnionError("flow-control", "XOFF/XON on a circuit without congestion control");
          return;
        }
        if (message.command === RelayCommand.XOFF) {
          stream.sendControl.onXoff();
          return;
        }
        stream.sendControl.onXon();
        this.#wake(stream);
        return;
      }
      case RelayCommand.SENDME: {
        if (message.body.version !== 0) throw new OnionError("flow-control", "stream SENDME with a version");
        const stream = this.#streams.get(streamId);
        if (stream === undefined) return;
        stream.sendControl.onSendme();
        this.#wake(stream);
        return;
      }
      case RelayCommand.RESOLVED: {
        const pending = this.#resolving.get(streamId);
        if (pending === undefined) return;
        this.#resolving.delete(streamId);
        clearTimeout(pending.timer);
        const addresses = message.body.answers.map((a) => a.address);
        if (addresses.length === 0) pending.reject(new StreamError(EndReason.RESOLVEFAILED, "the exit could not resolve the name"));
        else pending.resolve(addresses);
        return;
      }
      default:
        throw new OnionError("cell-malformed", `${RelayCommand[message.command]} sent to a client`);
    }
  }

  #onEnd(streamId: number, reason: EndReason): void {
    const resolving = this.#resolving.get(streamId);
    if (resolving !== undefined) {
      this.#resolving.delete(streamId);
      clearTimeout(resolving.timer);
      resolving.reject(new StreamError(reason, `RESOLVE refused: ${endReasonName(reason)}`));
      return;
    }
    const stream = this.#streams.get(streamId);
    if (stream === undefined || stream.receivedEnd) return;
    const opening = this.#opening.get(streamId);
    if (opening !== undefined) {
      this.#opening.delete(streamId);
      clearTimeout(opening.timer);
      this.#forgetStream(stream);
      stream.destroy();
      opening.reject(new StreamError(reason, `stream refused by the exit: ${endReasonName(reason)}`));
      return;
    }
    if (reason !== EndReason.DONE || stream.sentEnd) this.#forgetStream(stream);
    stream.remoteEnd(reason);
  }

  #onTruncated(hop: number, reason: DestroyReason): void {
    const truncating = this.#truncating;
    if (truncating !== undefined && hop === truncating.hops - 1) {
      this.#truncating = undefined;
      this.#endAt(truncating.hops);
      truncating.resolve();
      return;
    }
    if (this.#handshake !== undefined && hop === this.hopCount - 1) {
      // Our EXTEND2 failed at our last hop, which still holds the circuit (relay.proto
      // TRUNCATE): the builder may extend it to another relay, or destroy it.
      this.#failHandshake(new CircuitError(reason, hop + 1, `extending beyond hop ${hop} failed: ${destroyReasonName(reason)}`));
      return;
    }
    // Unasked, from a hop before the last: the circuit lost hops it was using.
    this.#failHandshake(new CircuitError(reason, hop + 1, `extending beyond hop ${hop} failed: ${destroyReasonName(reason)}`));
    this.destroy(DestroyReason.REQUESTED);
  }

  /** The circuit now ends at hop `hops - 1`: later hops' keys and the last hop's circuit state go. */
  #endAt(hops: number): void {
    this.#path.length = hops;
    this.#crypto.dropHopsAfter(hops);
    this.#lastHopNonce = undefined;
    this.#congestionControlAsked = false;
    this.#congestionControl = false;
    this.#package = SendWindow.circuit();
    this.#deliver = ReceiveWindow.circuit();
  }

  #allocateStreamId(): number | undefined {
    if (this.#closed || this.hopCount === 0) return undefined;
    for (let tries = 0; tries < 0xffff; tries++) {
      const id = this.#nextStreamId;
      this.#nextStreamId = id === 0xffff ? 1 : id + 1;
      if (!this.#streams.has(id) && !this.#resolving.has(id)) return id;
    }
    return undefined;
  }

  #forgetStream(stream: ClientStream): void {
    if (this.#streams.get(stream.streamId) === stream) this.#streams.delete(stream.streamId);
    this.#scheduler.remove(stream);
  }

  #handshakeDone(reply: Uint8Array): void {
    const waiter = this.#handshake;
    this.#handshake = undefined;
    waiter?.resolve(Uint8Array.from(reply));
  }

  #failHandshake(error: CircuitError): void {
    const waiter = this.#handshake;
    this.#handshake = undefined;
    waiter?.reject(error);
  }

  /** Encrypt a relay message for `hop` and send it (RELAY_EARLY only for EXTEND2). */
  #send(message: RelayMessageInit, hop: number, early = false): void {
    if (this.#closed) return;
    const body = encodeRelayMessage(message, this.#context.cell);
    this.#crypto.encryptOutbound(body, hop);
    this.#channel.link.sendRelay(this.#circuitId, body, early);
  }

  #sendFrame(command: MessageInitShape<typeof FrameSchema>["command"]): void {
    this.#channel.link.send(create(FrameSchema, { circuitId: this.#circuitId, command }));
  }

  #deadStreamError(): StreamError {
    return new StreamError(EndReason.DESTROY, "circuit is closed");
  }

  #closeStreams(error: StreamError): void {
    for (const [streamId, opening] of this.#opening) {
      clearTimeout(opening.timer);
      opening.reject(error);
      this.#opening.delete(streamId);
      // Nobody holds this stream yet (openStream rejects instead): destroy it without an 'error'.
      const stream = this.#streams.get(streamId);
      if (stream !== undefined) {
        this.#forgetStream(stream);
        stream.destroy();
      }
    }
    for (const [streamId, pending] of this.#resolving) {
      clearTimeout(pending.timer);
      pending.reject(error);
      this.#resolving.delete(streamId);
    }
    for (const stream of [...this.#streams.values()]) {
      this.#forgetStream(stream);
      stream.destroy(error);
    }
  }

  #teardown(reason: DestroyReason, why: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#channel.circuits.delete(this.#circuitId);
    this.#channel.cancelWait(this.#drainWaiter);
    this.#failHandshake(new CircuitError(reason, this.hopCount, why));
    this.#truncating?.reject(new CircuitError(reason, this.hopCount, why));
    this.#truncating = undefined;
    this.#closeStreams(new StreamError(EndReason.DESTROY, `circuit closed: ${destroyReasonName(reason)}`));
    this.#edge?.close();
    this.#context.log.debug({ circuit: this.id, reason: destroyReasonName(reason), why }, "circuit closed");
    this.emit("close", reason);
  }
}
