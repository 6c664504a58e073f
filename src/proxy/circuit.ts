/**
 * The client's circuit engine: anonymous links to relays (one per relay, reused), circuit
 * building (CREATE2 to the first hop, then EXTEND2 in RELAY_EARLY hop by hop, ntor each time),
 * and streams over the last hop with circuit and stream windows and authenticated SENDMEs.
 *
 * All network I/O goes through the Link of the first hop: frames come in through one handler
 * per link that dispatches by circuit id, cells go out through Link.sendRelay.
 */
import { EventEmitter } from "node:events";
import { type MessageInitShape, create } from "@bufbuild/protobuf";
import { DestroyReason, type Frame, FrameSchema, HandshakeType } from "../../gen/meowonion/v1/link_pb.js";
import { EndReason, RelayCommand } from "../../gen/meowonion/v1/relay_pb.js";
import { componentLogger } from "../common/log.js";
import type { Link } from "../link/link.js";
import { CircuitError, OnionError, StreamError } from "../onion/errors.js";
import { toDestroyReason } from "../onion/reasons.js";
import { CONGESTION_CONTROL_VERSION, type CircuitSendControl, CongestionWindow, ReceiveWindow, SendWindow } from "../onion/flow-control.js";
import { ntorClientFinish, ntorClientPrecompute, ntorClientStart, relayIdFromIdentity } from "../onion/ntor.js";
import { type RelayMessage, type RelayMessageInit, decodeRelayMessage, encodeRelayCell, encodeRelayMessage, readRelayCell } from "../onion/relay-cell.js";
import { ClientCircuitCrypto, RELAY_BODY_LEN, RELAY_DATA_MAX, type RunningDigest, digestBytes } from "../onion/relay-crypto.js";
import { type Channel, ChannelManager, type DrainWaiter } from "../link/channels.js";
import { ClientStream, type StreamOwner } from "./stream.js";
import { formatHostPort } from "../common/host-port.js";

export { ClientStream } from "./stream.js";

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

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_BUILD_TIMEOUT_MS = 30_000;
const DEFAULT_STREAM_TIMEOUT_MS = 30_000;
/** Client links without circuits close after this long (Tor closes idle client channels after minutes too). */
const CLIENT_LINK_IDLE_MS = 300_000;
/** Streams take turns of this many cells (8 KB) on a circuit, as at the exit. */
const STREAM_TURN_CELLS = 16;
/** At most 8 RELAY_EARLY cells per circuit (link.proto): one per EXTEND2. */
const MAX_HOPS = 9;

const log = componentLogger("circuit");
// Module-private entry points of ClientCircuit (for buildCircuit and the channel manager).
const kFrames = Symbol("frames");
const kChannelClosed = Symbol("channelClosed");
const kBuild = Symbol("build");
const kRequestCongestionControl = Symbol("requestCongestionControl");

/** One anonymous link per relay, shared by every circuit through it. */
export class ClientChannelManager {
  readonly #manager: ChannelManager<ClientCircuit>;

  constructor(options: { connectTimeoutMs?: number } = {}) {
    this.#manager = new ChannelManager<ClientCircuit>({
      identity: undefined,
      idleTimeoutMs: CLIENT_LINK_IDLE_MS,
      connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      onChannel: (channel) => {
        channel.link.onFrames = (frames) => {
          for (let from = 0; from < frames.length; ) {
            const circuitId = frames[from].circuitId;
            let to = from + 1;
            while (to < frames.length && frames[to].circuitId === circuitId) to++;
            channel.circuits.get(circuitId)?.[kFrames](frames, from, to);
            from = to;
          }
        };
      },
      onChannelClosed: (channel) => {
        for (const circuit of [...channel.circuits.values()]) circuit[kChannelClosed]();
      },
    });
  }

  /** The link to `target` (opened and checked against its identity key if there is none). */
  async getLink(target: RelayTarget): Promise<Link> {
    return (await this.channel(target)).link;
  }

  /** The channel to `target`: its link plus the circuit table buildCircuit registers in. */
  channel(target: RelayTarget): Promise<Channel<ClientCircuit>> {
    return this.#manager.channelTo(target.identityKey, target.host, target.port);
  }

  /** Close every link; their circuits close with CHANNEL_CLOSED. */
  close(): void {
    this.#manager.close();
  }
}

/**
 * Build a circuit through `path` (first hop first). Rejects with a CircuitError naming the hop
 * that failed and why (OR_IDENTITY, CONNECTFAILED, TIMEOUT, PROTOCOL, or the reason a relay gave).
 */
export async function buildCircuit(
  channels: ClientChannelManager,
  path: RelayTarget[],
  options: { timeoutMs?: number; congestionControl?: boolean } = {},
): Promise<ClientCircuit> {
  if (path.length === 0 || path.length > MAX_HOPS) {
    throw new CircuitError(DestroyReason.INTERNAL, 0, `a path has 1..${MAX_HOPS} hops, got ${path.length}`);
  }
  const started = performance.now();
  const timeoutMs = options.timeoutMs ?? DEFAULT_BUILD_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CircuitError(DestroyReason.TIMEOUT, 0, `first hop not reached within ${timeoutMs} ms`)), timeoutMs);
  });
  let circuit: ClientCircuit | undefined;
  try {
    let channel: Channel<ClientCircuit>;
    try {
      channel = await Promise.race([channels.channel(path[0]), deadline]);
    } catch (error) {
      if (error instanceof CircuitError) throw error;
      throw new CircuitError(toDestroyReason(error), 0, `cannot link to ${path[0].nickname}: ${(error as Error).message}`, { cause: error });
    }
    if (channel.link.isClosed) throw new CircuitError(DestroyReason.CHANNEL_CLOSED, 0, `link to ${path[0].nickname} closed`);
    circuit = new ClientCircuit(channel, path);
    clearTimeout(timer);
    await circuit[kBuild](started, started + timeoutMs);
    if ((options.congestionControl ?? true) && path[path.length - 1].congestionControl === true) circuit[kRequestCongestionControl]();
    return circuit;
  } catch (error) {
    circuit?.destroy(error instanceof CircuitError && error.reason === DestroyReason.TIMEOUT ? DestroyReason.TIMEOUT : DestroyReason.PROTOCOL);
    if (error instanceof CircuitError) throw error;
    throw new CircuitError(DestroyReason.INTERNAL, circuit?.hopCount ?? 0, (error as Error).message, { cause: error });
  } finally {
    clearTimeout(timer);
  }
}

interface Waiter<T> {
  resolve(value: T): void;
  reject(error: Error): void;
}

interface PendingResolve extends Waiter<string[]> {
  timer: NodeJS.Timeout;
}

interface PendingOpen extends Waiter<ClientStream> {
  timer: NodeJS.Timeout;
}

let nextLocalId = 1;
/** Plaintext cell being sent; encrypted in place and copied into the link's output (single-threaded, never shared across a yield). */
const scratch = new Uint8Array(RELAY_BODY_LEN);
/** Bodies of a run of inbound cells, decrypted together (same single-threaded rule; grows as needed). */
let inboundBatch = new Uint8Array(32 * RELAY_BODY_LEN);

export class ClientCircuit extends EventEmitter<{ close: [reason: DestroyReason] }> {
  /** Local id, unique in this process, never reused (not the id on the wire). */
  readonly id = nextLocalId++;
  readonly createdAt = new Date();
  bytesSent = 0;
  bytesReceived = 0;
  readonly #channel: Channel<ClientCircuit>;
  readonly #circuitId: number;
  readonly #crypto = new ClientCircuitCrypto();
  readonly #streams = new Map<number, ClientStream>();
  readonly #opening = new Map<number, PendingOpen>();
  readonly #resolving = new Map<number, PendingResolve>();
  #package: CircuitSendControl = SendWindow.circuit();
  #deliver = ReceiveWindow.circuit();
  /** CONGESTION_CONTROL_REQUEST sent, its response not yet in. */
  #congestionControlAsked = false;
  /** The last hop adopted congestion control: streams opened from now on use XOFF/XON. */
  #congestionControl = false;
  /** Streams holding DATA of the current link read for their reader (see #flushDelivered). */
  readonly #delivering: ClientStream[] = [];
  /** Streams with bytes (or an END) to package, served round robin. */
  #ready: ClientStream[] = [];
  #cursor = 0;
  /** Cells the stream at the cursor has had in its current turn. */
  #turn = 0;
  #pumping = false;
  #hops = 0;
  #buildMs = 0;
  #step: Waiter<Uint8Array> | undefined;
  #truncating: Waiter<void> | undefined;
  #closed = false;
  #nextStreamId = 1;

  constructor(
    channel: Channel<ClientCircuit>,
    readonly path: RelayTarget[],
  ) {
    super();
    this.#channel = channel;
    this.#circuitId = channel.link.allocateCircuitId((id) => channel.circuits.has(id));
    channel.circuits.set(this.#circuitId, this);
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

  /** Hops the circuit currently reaches (path.length once built, fewer after truncate()). */
  get hopCount(): number {
    return this.#hops;
  }

  /** Extend hop by hop until the whole path is built (or fail with a CircuitError). */
  async [kBuild](started: number, deadline: number): Promise<void> {
    const timer = setTimeout(() => this.#failStep(new CircuitError(DestroyReason.TIMEOUT, this.#hops, "circuit build timed out")), Math.max(0, deadline - performance.now()));
    const startHop = (target: RelayTarget) => ntorClientStart(relayIdFromIdentity(target.identityKey), target.ntorOnionKey);
    try {
      let next = startHop(this.path[0]);
      for (let hop = 0; hop < this.path.length; hop++) {
        const target = this.path[hop];
        const { state, onionskin } = next;
        const create2 = { handshakeType: HandshakeType.NTOR, handshakeData: onionskin };
        const reply = this.#awaitStep();
        if (hop === 0) {
          this.#sendFrame({ case: "create2", value: create2 });
        } else {
          const linkSpecifiers = [
            { specifier: { case: "address" as const, value: formatHostPort(target.host, target.port) } },
            { specifier: { case: "identityKey" as const, value: target.identityKey } },
          ];
          this.#send({ command: RelayCommand.EXTEND2, streamId: 0, body: { linkSpecifiers, create2 } }, hop - 1, true);
        }
        this.#channel.link.flush();
        // While the onionskin travels: this hop's half of the ntor work and the next hop's start.
        ntorClientPrecompute(state);
        if (hop + 1 < this.path.length) next = startHop(this.path[hop + 1]);
        const handshake = await reply;
        let keyMaterial: Uint8Array;
        try {
          keyMaterial = ntorClientFinish(state, handshake);
        } catch (error) {
          throw new CircuitError(DestroyReason.PROTOCOL, hop, `ntor with ${target.nickname} failed: ${(error as Error).message}`, { cause: error });
        }
        this.#crypto.addHop(keyMaterial);
        this.#hops = hop + 1;
      }
      this.#buildMs = performance.now() - started;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Whether the last hop adopted congestion control (relay.proto, CONGESTION CONTROL). */
  get congestionControlled(): boolean {
    return this.#congestionControl;
  }

  /**
   * Ask the last hop for congestion control, before any stream. Not waited for: the response
   * arrives before any CONNECTED, and streams take their flow control at CONNECTED.
   */
  [kRequestCongestionControl](): void {
    this.#congestionControlAsked = true;
    this.#send({ command: RelayCommand.CONGESTION_CONTROL_REQUEST, streamId: 0, body: { version: CONGESTION_CONTROL_VERSION } }, this.#hops - 1);
  }

  /** Open a TCP stream from the exit to host:port (resolved at the exit). */
  openStream(host: string, port: number, options: { timeoutMs?: number } = {}): Promise<ClientStream> {
    return new Promise((resolve, reject) => {
      const streamId = this.#allocateStreamId();
      if (streamId === undefined) {
        reject(this.#closed ? this.#deadStreamError() : new StreamError(EndReason.RESOURCELIMIT, "no free stream id on this circuit"));
        return;
      }
      const stream = new ClientStream(streamId, this.#owner);
      const timeoutMs = options.timeoutMs ?? DEFAULT_STREAM_TIMEOUT_MS;
      const timer = setTimeout(() => {
        this.#opening.delete(streamId);
        this.#streams.delete(streamId);
        this.#send({ command: RelayCommand.END, streamId, body: { reason: EndReason.TIMEOUT } }, this.#hops - 1);
        stream.destroy();
        reject(new StreamError(EndReason.TIMEOUT, `no CONNECTED within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#streams.set(streamId, stream);
      this.#opening.set(streamId, { resolve, reject, timer });
      this.#send({ command: RelayCommand.BEGIN, streamId, body: { host, port } }, this.#hops - 1);
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
      this.#send({ command: RelayCommand.RESOLVE, streamId, body: { host } }, this.#hops - 1);
    });
  }

  /**
   * Cut the circuit after its first `hops` hops (TRUNCATE to hop `hops - 1`); resolves on
   * TRUNCATED. Streams on the old last hop are closed. The circuit cannot be extended again.
   */
  truncate(hops: number): Promise<void> {
    if (this.#closed) return Promise.reject(new CircuitError(DestroyReason.FINISHED, hops, "circuit is closed"));
    if (!Number.isInteger(hops) || hops < 1 || hops >= this.#hops || this.#truncating !== undefined) {
      return Promise.reject(new RangeError(`cannot truncate a ${this.#hops}-hop circuit to ${hops}`));
    }
    return new Promise((resolve, reject) => {
      this.#truncating = { resolve, reject };
      this.#send({ command: RelayCommand.TRUNCATE, streamId: 0, body: {} }, hops - 1);
      this.#hops = hops;
      this.#closeStreams(new StreamError(EndReason.DESTROY, "circuit truncated"));
    });
  }

  /** Tear the circuit down (DESTROY to the first hop). */
  destroy(reason: DestroyReason = DestroyReason.FINISHED): void {
    if (this.#closed) return;
    this.#sendFrame({ case: "destroy", value: { reason } });
    this.#teardown(reason, `destroyed locally (${DestroyReason[reason]})`);
  }

  /** What this circuit's streams call (kept off the public API). */
  readonly #owner: StreamOwner = {
    pump: (stream) => this.#pumpStream(stream),
    readMore: (stream) => this.#readMore(stream),
    abort: (stream) => this.#abort(stream),
  };

  /** Resumes packaging when the first hop's link can take more. */
  readonly #drainWaiter: DrainWaiter = { onDrain: () => this.#pump() };

  #pumpStream(stream: ClientStream): void {
    if (!stream.sentEnd && this.#streams.get(stream.streamId) === stream && !stream.ready) {
      stream.ready = true;
      this.#ready.push(stream);
    }
    this.#pump();
  }

  #readMore(stream: ClientStream): void {
    if (this.#closed || this.#streams.get(stream.streamId) !== stream) return;
    for (let n = stream.deliver.takeSendmes(); n > 0; n--) {
      this.#send({ command: RelayCommand.SENDME, streamId: stream.streamId, body: { version: 0 } }, this.#hops - 1);
    }
    if (stream.deliver.onDrained() === "xon") this.#send({ command: RelayCommand.XON, streamId: stream.streamId, body: {} }, this.#hops - 1);
  }

  #abort(stream: ClientStream): void {
    if (this.#streams.get(stream.streamId) !== stream) return;
    this.#forgetStream(stream);
    // END with a reason other than DONE closes both directions at the exit.
    if (!this.#closed && !(stream.sentEnd && stream.receivedEnd)) {
      this.#send({ command: RelayCommand.END, streamId: stream.streamId, body: { reason: EndReason.MISC } }, this.#hops - 1);
    }
  }

  /** A run of frames for this circuit from one read of its link. */
  [kFrames](frames: Frame[], from: number, to: number): void {
    for (let i = from; i < to && !this.#closed; ) {
      if (frames[i].command.case !== "relay") {
        this.#onFrame(frames[i++]);
        continue;
      }
      let end = i + 1;
      while (end < to && frames[end].command.case === "relay") end++;
      this.#onRelayRun(frames, i, end);
      i = end;
    }
    this.#flushDelivered();
  }

  /** Consecutive RELAY frames (one or more): decrypted as one batch, then handled in order. */
  #onRelayRun(frames: Frame[], from: number, to: number): void {
    const n = to - from;
    if (inboundBatch.length < n * RELAY_BODY_LEN) inboundBatch = new Uint8Array(n * RELAY_BODY_LEN);
    const cells = inboundBatch.subarray(0, n * RELAY_BODY_LEN);
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
    // DATA views point into the shared batch buffer: the readers get them before it is reused.
    this.#flushDelivered();
  }

  #onFrame(frame: Frame): void {
    try {
      switch (frame.command.case) {
        case "created2":
          if (this.#hops !== 0 || this.#step === undefined) throw new OnionError("cell-malformed", "unexpected CREATED2");
          this.#resolveStep(frame.command.value.handshakeData);
          return;
        case "destroy": {
          const reason = frame.command.value.reason;
          this.#failStep(new CircuitError(reason, this.#hops, `hop ${this.#hops} refused or lost: ${DestroyReason[reason] ?? reason}`));
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

  /** A bad cell (OnionError) or a bug: the circuit is destroyed, a build in progress fails. */
  #onError(error: unknown): void {
    if (this.#closed) return;
    const why = error instanceof OnionError ? `${error.reason}: ${error.message}` : (error as Error).message;
    if (!(error instanceof OnionError)) log.error({ err: error }, "internal error on a circuit");
    this.#failStep(new CircuitError(DestroyReason.PROTOCOL, this.#hops, why));
    this.destroy(error instanceof OnionError ? DestroyReason.PROTOCOL : DestroyReason.INTERNAL);
  }

  /** The link carrying this circuit closed. */
  [kChannelClosed](): void {
    this.#failStep(new CircuitError(DestroyReason.CHANNEL_CLOSED, this.#hops, "link to the first hop closed"));
    this.#teardown(DestroyReason.CHANNEL_CLOSED, "link closed");
  }

  /** A decrypted cell from `hop`; `body` and views into it are valid during the call only. */
  #onCell(body: Uint8Array, hop: number, digest: RunningDigest): void {
    if (hop >= this.#hops) throw new OnionError("cell-unrecognized", `cell from hop ${hop} beyond the circuit`);
    if (body[0] === RelayCommand.DATA) {
      const cell = readRelayCell(body);
      this.#onData(hop, cell.streamId, cell.data, digest);
      return;
    }
    // Data held for the reader comes before whatever this message does (END, for one).
    this.#flushDelivered();
    this.#onMessage(hop, decodeRelayMessage(body));
  }

  #onData(hop: number, streamId: number, data: Uint8Array, digest: RunningDigest): void {
    if (hop !== this.#hops - 1 || data.length === 0) throw new OnionError("cell-malformed", "DATA not from the last hop, or empty");
    if (this.#deliver.onReceived()) {
      this.#send({ command: RelayCommand.SENDME, streamId: 0, body: { version: 1, digest: digestBytes(digest) } }, hop);
    }
    this.bytesReceived += data.length;
    const stream = this.#streams.get(streamId);
    // DATA may cross our END on the wire: drop it.
    if (stream === undefined || stream.receivedEnd || this.#opening.has(streamId)) return;
    stream.deliver.onReceived();
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
    const signal = stream.deliver.onHeld(stream.readableLength);
    if (signal === "xoff") this.#send({ command: RelayCommand.XOFF, streamId: stream.streamId, body: {} }, this.#hops - 1);
    else if (signal === "end") stream.destroy(new StreamError(EndReason.RESOURCELIMIT, "the exit ignored XOFF"));
  }

  #onCongestionControlResponse(hop: number, version: number): void {
    if (!this.#congestionControlAsked || hop !== this.#hops - 1) throw new OnionError("cell-malformed", "unexpected CONGESTION_CONTROL_RESPONSE");
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
        if (this.#step === undefined || hop !== this.#hops - 1) throw new OnionError("cell-malformed", "unexpected EXTENDED2");
        this.#resolveStep(message.body.handshakeData);
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
      if (message.body.version !== 1 || hop !== this.#hops - 1) throw new OnionError("flow-control", "bad circuit SENDME");
      this.#package.onSendme(message.body.digest, performance.now());
      this.#pump();
      return;
    }
    if (hop !== this.#hops - 1) throw new OnionError("cell-malformed", "stream cell not from the last hop");
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
          stream.package.onXoff();
          return;
        }
        stream.package.onXon();
        this.#pumpStream(stream);
        return;
      }
      case RelayCommand.SENDME: {
        if (message.body.version !== 0) throw new OnionError("flow-control", "stream SENDME with a version");
        const stream = this.#streams.get(streamId);
        if (stream === undefined) return;
        stream.package.onSendme();
        this.#pumpStream(stream);
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
      resolving.reject(new StreamError(reason, `RESOLVE refused: ${EndReason[reason] ?? reason}`));
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
      opening.reject(new StreamError(reason, `stream refused by the exit: ${EndReason[reason] ?? reason}`));
      return;
    }
    if (reason !== EndReason.DONE || stream.sentEnd) this.#forgetStream(stream);
    stream.remoteEnd(reason);
  }

  #onTruncated(hop: number, reason: DestroyReason): void {
    const truncating = this.#truncating;
    if (truncating !== undefined && hop === this.#hops - 1) {
      this.#truncating = undefined;
      truncating.resolve();
      return;
    }
    // Unasked: an extension failed at `hop` (the relay destroys the circuit right after).
    this.#failStep(new CircuitError(reason, hop + 1, `extending beyond hop ${hop} failed: ${DestroyReason[reason] ?? reason}`));
    this.destroy(DestroyReason.REQUESTED);
  }

  /** Package pending stream bytes into DATA cells while the windows and the link allow. */
  #pump(): void {
    if (this.#pumping || this.#closed) return;
    this.#pumping = true;
    const link = this.#channel.link;
    const last = this.#hops - 1;
    const now = performance.now();
    // Streams blocked only by the circuit window stay queued; stop after a pass without progress.
    let idle = 0;
    while (this.#ready.length > idle && !link.congested && !this.#closed) {
      if (this.#cursor >= this.#ready.length) this.#cursor = 0;
      const stream = this.#ready[this.#cursor];
      if (this.#canSendData(stream)) {
        const data = stream.takePending(RELAY_DATA_MAX);
        encodeRelayCell(RelayCommand.DATA, stream.streamId, data, scratch);
        this.#crypto.encryptOutbound(scratch, last);
        stream.package.onSent();
        this.#package.onSent(this.#package.needsDigest ? this.#crypto.lastOutboundDigest(last) : undefined, now);
        link.sendRelay(this.#circuitId, scratch);
        this.bytesSent += data.length;
        idle = 0;
        if (this.#canSendData(stream)) {
          if (++this.#turn === STREAM_TURN_CELLS) {
            this.#turn = 0;
            this.#cursor++;
          }
          continue;
        }
      }
      this.#turn = 0;
      if (stream.pendingBytes === 0) {
        if (stream.endCallback !== undefined && !stream.sentEnd) this.#sendEnd(stream);
        this.#unready(stream); // until the next write
      } else if (stream.package.available === 0) {
        this.#unready(stream); // until a stream SENDME
      } else {
        idle++;
        this.#cursor++;
      }
    }
    this.#pumping = false;
    if (this.#ready.length > idle && link.congested && !this.#closed) this.#channel.waitForDrain(this.#drainWaiter);
  }

  #canSendData(stream: ClientStream): boolean {
    return stream.pendingBytes > 0 && stream.package.available > 0 && this.#package.available > 0;
  }

  #sendEnd(stream: ClientStream): void {
    stream.sentEnd = true;
    this.#send({ command: RelayCommand.END, streamId: stream.streamId, body: { reason: EndReason.DONE } }, this.#hops - 1);
    if (stream.receivedEnd) this.#forgetStream(stream);
    const done = stream.endCallback!;
    stream.endCallback = undefined;
    done();
  }

  #unready(stream: ClientStream): void {
    stream.ready = false;
    const index = this.#ready.indexOf(stream);
    if (index >= 0) this.#ready.splice(index, 1);
  }

  #allocateStreamId(): number | undefined {
    if (this.#closed || this.#hops === 0) return undefined;
    for (let tries = 0; tries < 0xffff; tries++) {
      const id = this.#nextStreamId;
      this.#nextStreamId = id === 0xffff ? 1 : id + 1;
      if (!this.#streams.has(id) && !this.#resolving.has(id)) return id;
    }
    return undefined;
  }

  #forgetStream(stream: ClientStream): void {
    if (this.#streams.get(stream.streamId) === stream) this.#streams.delete(stream.streamId);
    if (stream.ready) this.#unready(stream);
  }

  #awaitStep(): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      this.#step = { resolve, reject };
    });
  }

  #resolveStep(handshake: Uint8Array): void {
    const step = this.#step;
    this.#step = undefined;
    step?.resolve(Uint8Array.from(handshake));
  }

  #failStep(error: CircuitError): void {
    const step = this.#step;
    this.#step = undefined;
    step?.reject(error);
  }

  /** Encrypt a relay message for `hop` and send it (RELAY_EARLY only for EXTEND2). */
  #send(message: RelayMessageInit, hop: number, early = false): void {
    if (this.#closed) return;
    const body = encodeRelayMessage(message, scratch);
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
    this.#failStep(new CircuitError(reason, this.#hops, why));
    this.#truncating?.reject(new CircuitError(reason, this.#hops, why));
    this.#truncating = undefined;
    this.#closeStreams(new StreamError(EndReason.DESTROY, `circuit closed: ${DestroyReason[reason] ?? reason}`));
    log.debug({ circuit: this.id, reason: DestroyReason[reason], why }, "circuit closed");
    this.emit("close", reason);
  }
}
