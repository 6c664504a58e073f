/**
 * The stream edge of one circuit: the streams that end at this hop, at an exit relay, at an
 * HSDir (BEGIN_DIR) or at an onion service. Where a stream goes is the StreamTargets' affair
 * (an exit's DNS, exit policy and TCP; a service's port map; an HSDir's directory); the edge
 * runs the protocol: BEGIN answered with CONNECTED or END, DATA both ways under circuit and
 * stream flow control (authenticated circuit SENDMEs, or congestion control), END DONE as a
 * half-close mapped to the target's FIN both ways, RESOLVE answered with RESOLVED.
 *
 * Target bytes wait in each stream's ByteQueue and are packaged by the shared StreamScheduler
 * (onion/streams.ts), as at the client. Backpressure: a target is paused while its bytes cannot
 * be packaged (a window is empty or the link towards the client is congested), so at most one
 * read per stream waits here; stream SENDMEs for the client's DATA are held back while the
 * target does not take bytes as fast as they come.
 */
import type { Duplex } from "node:stream";
import { DestroyReason } from "../../gen/meowonion/v1/link_pb.js";
import { type Begin, EndReason, RelayCommand, type Sendme } from "../../gen/meowonion/v1/relay_pb.js";
import type { Logger } from "../common/log.js";
import type { DrainWaiter } from "../link/channels.js";
import { OnionError, endReasonOfSocketError, StreamError } from "../onion/errors.js";
import {
  CONGESTION_CONTROL_VERSION,
  type CircuitSendControl,
  CongestionWindow,
  ReceiveWindow,
  SendWindow,
  type StreamSendControl,
  StreamReceiveControl,
  type StreamSignal,
  streamSendControl,
} from "../onion/flow-control.js";
import { RELAY_BODY_LEN } from "../onion/frame.js";
import type { RelayMessage, RelayMessageInit } from "../onion/relay-cell.js";
import { type RunningDigest, digestBytes } from "../onion/relay-crypto.js";
import { endReasonName } from "../onion/reasons.js";
import { ByteQueue, type CellSink, type ScheduledStream, StreamScheduler } from "../onion/streams.js";

/** A stream's other end at this hop: a TCP socket, or any Duplex that behaves like one. */
export type TargetSocket = Duplex & { readonly writableNeedDrain: boolean };

/** An opened BEGIN target: the socket once connected, and what CONNECTED tells the client. */
export interface OpenedTarget {
  socket: TargetSocket;
  /** The address connected to ("" to reveal none). */
  address: string;
  /** How long the client may cache the name → address mapping, seconds. */
  ttlSeconds: number;
}

/** Where the streams of one edge go (an exit's, a service's, an HSDir's). */
export interface StreamTargets {
  /** Why BEGIN to host:port must be refused before any work (END with it), if it must. */
  refuseBegin(host: string, port: number): EndReason | undefined;
  /**
   * Connect for BEGIN; rejects with a StreamError (its END reason) or a socket's error (by its
   * code). `signal` aborts when the stream is gone before the connection is up.
   */
  open(host: string, port: number, signal: AbortSignal): Promise<OpenedTarget>;
  /** Why RESOLVE must be refused before any work, if it must. */
  refuseResolve(host: string): EndReason | undefined;
  /** RESOLVE's answers (empty: the name did not resolve); rejects with a StreamError to END. */
  resolve(host: string): Promise<string[]>;
  /** A directory stream for BEGIN_DIR, or undefined when this hop serves none (END NOTDIRECTORY). */
  openDirectory(): TargetSocket | undefined;
}

/** The counters an edge keeps (a relay's metrics, or a service's). */
export interface EdgeCounters {
  /** Streams open now. */
  streams: number;
  bytesFromTargets: number;
  bytesToTargets: number;
  /** A stream connected. */
  opened(): void;
  /** An END was sent with `reason`. */
  ended(reason: EndReason): void;
}

/** The circuit, as seen from its edge. */
export interface EdgeHost {
  /** Stamp, encrypt and send N concatenated plaintext bodies towards the client. */
  sendCells(cells: Uint8Array): void;
  /** The running digest after the last cell sent (for the authenticated circuit SENDME). */
  lastSentDigest(): Uint8Array;
  sendMessage(message: RelayMessageInit): void;
  /** Cells sent now leave without queueing. */
  readonly writable: boolean;
  /** Call waiter.onDrain() once `writable` may be true again. */
  waitWritable(waiter: DrainWaiter): void;
  /** Destroy the circuit (a protocol violation on a stream is a circuit-level error). */
  fail(reason: DestroyReason, why: string): void;
  /** Memory accounting of bytes waiting in stream buffers. */
  queued(deltaBytes: number): void;
}

export interface EdgeContext {
  targets: StreamTargets;
  /** How long BEGIN may take to connect. */
  connectTimeoutMs: number;
  /** Streams open at once on one circuit; more are refused with END RESOURCELIMIT. */
  maxStreamsPerCircuit: number;
  counters: EdgeCounters;
  log: Logger;
}

/** The stream commands (besides DATA) an edge handles: StreamEdge.onMessage. */
export const EDGE_COMMANDS: ReadonlySet<RelayCommand> = new Set([
  RelayCommand.BEGIN,
  RelayCommand.BEGIN_DIR,
  RelayCommand.END,
  RelayCommand.SENDME,
  RelayCommand.RESOLVE,
  RelayCommand.XOFF,
  RelayCommand.XON,
]);

/** Cells encrypted and sent together. */
const BATCH_CELLS = 32;
const STAGE_BYTES = 64 * 1024;
const MAX_SPARE_STAGES = 2;
const MAX_ANSWERS = 16;
/** How long a client may cache a RESOLVE answer, seconds. */
const NAME_TTL_SECONDS = 60;

/** A stream id is taken while resolving/connecting/open; END both ways frees it. */
export class EdgeStream implements ScheduledStream {
  socket: TargetSocket | undefined;
  /** Destination bytes waiting to be packaged. */
  readonly queue = new ByteQueue();
  readonly sendControl: StreamSendControl;
  readonly receiveControl: StreamReceiveControl;
  paused = false;
  /** DATA for the destination gathered during this tick: one socket write per read of cells. */
  staged: Buffer | undefined;
  stagedBytes = 0;
  /** The destination sent FIN: END DONE goes out once the queue is packaged. */
  finReceived = false;
  sentEnd = false;
  receivedEnd = false;
  timer: NodeJS.Timeout | undefined;
  /** While BEGIN's target is being opened: aborted if the stream goes first. */
  opening: AbortController | undefined;

  constructor(
    readonly streamId: number,
    congestionControlled: boolean,
  ) {
    this.sendControl = streamSendControl(congestionControlled);
    this.receiveControl = new StreamReceiveControl(congestionControlled);
  }
}

export class StreamEdge implements DrainWaiter {
  readonly #streams = new Map<number, EdgeStream>();
  #package: CircuitSendControl = SendWindow.circuit();
  #deliver = ReceiveWindow.circuit();
  /** Congestion control was negotiated (CONGESTION_CONTROL_REQUEST answered with version 1). */
  #congestionControl = false;
  /** A request was answered, or a stream was opened: no (further) negotiation. */
  #negotiationClosed = false;
  readonly #scheduler = new StreamScheduler<EdgeStream>();
  /** Plaintext cells being packaged (Uint8Array, not Buffer: its fill() is much cheaper). */
  readonly #batch = new Uint8Array(BATCH_CELLS * RELAY_BODY_LEN);
  #batched = 0;
  readonly #sink: CellSink;
  /** Staging buffers whose write completed, reused. */
  readonly #spareStages: Buffer[] = [];
  #pumping = false;
  #closed = false;

  constructor(
    private readonly host: EdgeHost,
    private readonly ctx: EdgeContext,
  ) {
    const edge = this;
    this.#sink = {
      get writable() {
        return host.writable && !edge.#closed;
      },
      nextCell: () => this.#batch.subarray(this.#batched * RELAY_BODY_LEN, (this.#batched + 1) * RELAY_BODY_LEN),
      commit: (dataBytes) => {
        host.queued(-dataBytes);
        if (++this.#batched === BATCH_CELLS) this.#sendBatch();
      },
      lastDigest: () => {
        this.#sendBatch(); // the digest after this very cell
        return host.lastSentDigest();
      },
    };
  }

  get streamCount(): number {
    return this.#streams.size;
  }

  /** Oldest unpackaged stream bytes (for the out-of-memory policy), 0 if none. */
  get pendingSince(): number {
    let oldest = 0;
    for (const s of this.#streams.values()) {
      const since = s.queue.since;
      if (since !== 0 && (oldest === 0 || since < oldest)) oldest = since;
    }
    return oldest;
  }

  /** Unpackaged stream bytes held here. */
  get pendingBytes(): number {
    let bytes = 0;
    for (const s of this.#streams.values()) bytes += s.queue.length;
    return bytes;
  }

  /** A DATA cell recognized at this hop; `data` is a view valid only during the call. */
  onData(streamId: number, data: Uint8Array, digest: RunningDigest): void {
    if (data.length === 0) throw new OnionError("cell-malformed", "empty DATA cell");
    if (this.#deliver.onReceived()) {
      this.host.sendMessage({ command: RelayCommand.SENDME, streamId: 0, body: { version: 1, digest: digestBytes(digest) } });
    }
    const s = this.#streams.get(streamId);
    // DATA for a stream we already closed crosses our END on the wire: drop it (as Tor does).
    if (s === undefined || s.receivedEnd) return;
    const socket = s.socket;
    if (socket === undefined) {
      this.#end(s, EndReason.TORPROTOCOL, "DATA before CONNECTED");
      return;
    }
    s.receiveControl.onReceived();
    this.ctx.counters.bytesToTargets += data.length;
    if (s.staged !== undefined && s.stagedBytes + data.length > STAGE_BYTES) this.#flushStaged(s);
    if (s.staged === undefined) {
      s.staged = this.#spareStages.pop() ?? Buffer.allocUnsafe(STAGE_BYTES);
      s.stagedBytes = 0;
      process.nextTick(() => this.#flushStaged(s));
    }
    s.staged.set(data, s.stagedBytes);
    s.stagedBytes += data.length;
  }

  /** Write what was staged; SENDMEs held back go out if the destination keeps up. */
  #flushStaged(s: EdgeStream): void {
    const staged = s.staged;
    const socket = s.socket;
    if (staged === undefined || socket === undefined) return;
    s.staged = undefined;
    if (socket.destroyed) return;
    socket.write(staged.subarray(0, s.stagedBytes), () => {
      if (this.#spareStages.length < MAX_SPARE_STAGES) this.#spareStages.push(staged);
    });
    if (!socket.writableNeedDrain) this.#payOwedSendmes(s);
    else this.#signal(s, s.receiveControl.onHeld(socket.writableLength));
  }

  /** Tell the client what the stream's receive control asks for. */
  #signal(s: EdgeStream, signal: StreamSignal): void {
    if (signal === "xoff") this.host.sendMessage({ command: RelayCommand.XOFF, streamId: s.streamId, body: {} });
    else if (signal === "xon") this.host.sendMessage({ command: RelayCommand.XON, streamId: s.streamId, body: {} });
    else if (signal === "end") this.#end(s, EndReason.RESOURCELIMIT, "client ignored XOFF");
  }

  onSendme(streamId: number, sendme: Sendme): void {
    if (streamId === 0) {
      if (sendme.version !== 1) throw new OnionError("flow-control", `circuit SENDME version ${sendme.version}`);
      this.#package.onSendme(sendme.digest, performance.now());
    } else {
      if (sendme.version !== 0) throw new OnionError("flow-control", `stream SENDME version ${sendme.version}`);
      const s = this.#streams.get(streamId);
      if (s === undefined) return;
      s.sendControl.onSendme();
      if (s.queue.length > 0) this.#scheduler.wake(s);
    }
    this.#pump();
  }

  /** XOFF (`on` false) or XON from the client for one of our streams (ignored once it is gone). */
  onXoffXon(streamId: number, on: boolean): void {
    if (streamId === 0) throw new OnionError("cell-malformed", "XOFF/XON on stream 0");
    const s = this.#streams.get(streamId);
    if (s === undefined) {
      if (!this.#congestionControl) throw new OnionError("flow-control", "XOFF/XON on a circuit without congestion control");
      return;
    }
    if (!on) {
      s.sendControl.onXoff();
      return;
    }
    s.sendControl.onXon();
    if (s.queue.length > 0) this.#scheduler.wake(s);
    this.#pump();
  }

  /** CONGESTION_CONTROL_REQUEST: adopt version 1 before any stream, or decline other versions. */
  onCongestionControlRequest(version: number): void {
    if (this.#negotiationClosed) {
      this.host.fail(DestroyReason.PROTOCOL, "CONGESTION_CONTROL_REQUEST after a stream or a first request");
      return;
    }
    this.#negotiationClosed = true;
    const adopted = version === CONGESTION_CONTROL_VERSION;
    this.host.sendMessage({ command: RelayCommand.CONGESTION_CONTROL_RESPONSE, streamId: 0, body: { version: adopted ? version : 0 } });
    if (!adopted) return;
    this.#congestionControl = true;
    this.#package = new CongestionWindow();
    this.#deliver = ReceiveWindow.congestionControlled();
  }

  onBegin(streamId: number, begin: Begin): void {
    const s = this.#open(streamId, "BEGIN");
    if (s === undefined) return;
    const refusal = this.ctx.targets.refuseBegin(begin.host, begin.port);
    if (refusal !== undefined) {
      this.#end(s, refusal, "BEGIN refused");
      return;
    }
    s.timer = setTimeout(() => this.#end(s, EndReason.TIMEOUT, "connect timed out"), this.ctx.connectTimeoutMs);
    s.opening = new AbortController();
    this.ctx.targets.open(begin.host, begin.port, s.opening.signal).then(
      (opened) => {
        clearTimeout(s.timer);
        s.opening = undefined;
        if (this.#streams.get(s.streamId) !== s) {
          opened.socket.destroy();
          return;
        }
        this.#attach(s, opened.socket);
        this.ctx.counters.opened();
        this.host.sendMessage({ command: RelayCommand.CONNECTED, streamId: s.streamId, body: { address: opened.address, ttlSeconds: opened.ttlSeconds } });
      },
      (error: unknown) => {
        if (this.#streams.get(s.streamId) !== s) return;
        // A refusal, or a socket's error (its code says which END reason); anything else is a bug.
        if (error instanceof StreamError) this.#end(s, error.reason, "BEGIN refused");
        else if ((error as NodeJS.ErrnoException).code !== undefined) this.#end(s, endReasonOfSocketError(error), "connect failed");
        else this.#internalError(s, error);
      },
    );
  }

  /** BEGIN_DIR: a directory stream to this hop, if it serves one. */
  onBeginDir(streamId: number): void {
    const s = this.#open(streamId, "BEGIN_DIR");
    if (s === undefined) return;
    const socket = this.ctx.targets.openDirectory();
    if (socket === undefined) {
      this.#end(s, EndReason.NOTDIRECTORY, "not a directory");
      return;
    }
    this.#attach(s, socket);
    this.host.sendMessage({ command: RelayCommand.CONNECTED, streamId: s.streamId, body: {} });
  }

  onEnd(streamId: number, reason: EndReason): void {
    const s = this.#streams.get(streamId);
    if (s === undefined || (s.receivedEnd && reason === EndReason.DONE)) return;
    s.receivedEnd = true;
    if (reason !== EndReason.DONE || s.socket === undefined) {
      // Anything but DONE closes both directions at once (also after a half-close).
      this.#free(s);
      return;
    }
    this.#flushStaged(s);
    s.socket.end();
    if (s.sentEnd) this.#free(s);
  }

  /** RESOLVE: RESOLVED with the targets' answers (empty when the name does not resolve), or END. */
  onResolve(streamId: number, host: string): void {
    const s = this.#open(streamId, "RESOLVE");
    if (s === undefined) return;
    const refusal = this.ctx.targets.refuseResolve(host);
    if (refusal !== undefined) {
      this.#end(s, refusal, "RESOLVE refused");
      return;
    }
    this.ctx.targets.resolve(host).then(
      (addresses) => {
        if (this.#streams.get(streamId) !== s) return;
        const answers = addresses.slice(0, MAX_ANSWERS).map((address) => ({ address, ttlSeconds: NAME_TTL_SECONDS }));
        this.host.sendMessage({ command: RelayCommand.RESOLVED, streamId, body: { answers } });
        this.#free(s);
      },
      (error: unknown) => {
        if (this.#streams.get(streamId) !== s) return;
        if (error instanceof StreamError) this.#end(s, error.reason, "RESOLVE refused");
        else this.#internalError(s, error);
      },
    );
  }

  /** A message of one of the EDGE_COMMANDS recognized at this hop. */
  onMessage(message: RelayMessage): void {
    switch (message.command) {
      case RelayCommand.BEGIN:
        this.onBegin(message.streamId, message.body);
        return;
      case RelayCommand.BEGIN_DIR:
        this.onBeginDir(message.streamId);
        return;
      case RelayCommand.END:
        this.onEnd(message.streamId, message.body.reason);
        return;
      case RelayCommand.SENDME:
        this.onSendme(message.streamId, message.body);
        return;
      case RelayCommand.RESOLVE:
        this.onResolve(message.streamId, message.body.host);
        return;
      case RelayCommand.XOFF:
      case RelayCommand.XON:
        this.onXoffXon(message.streamId, message.command === RelayCommand.XON);
        return;
      default:
        throw new OnionError("cell-malformed", `${RelayCommand[message.command]} is not a stream command`);
    }
  }

  /** The link towards the client can take more. */
  onWritable(): void {
    this.#pump();
  }

  onDrain(): void {
    this.#pump();
  }

  /** The circuit is gone: close every destination socket without sending anything. */
  close(): void {
    this.#closed = true;
    for (const s of [...this.#streams.values()]) this.#free(s);
  }

  /**
   * A new stream for BEGIN or RESOLVE; undefined (after destroying the circuit, or refusing
   * with END RESOURCELIMIT) for a stream id that is 0 or in use, or one stream too many.
   */
  #open(streamId: number, what: string): EdgeStream | undefined {
    this.#negotiationClosed = true;
    if (streamId === 0 || this.#streams.has(streamId)) {
      this.host.fail(DestroyReason.PROTOCOL, `${what} on stream id ${streamId === 0 ? "0" : "in use"}`);
      return undefined;
    }
    if (this.#streams.size >= this.ctx.maxStreamsPerCircuit) {
      this.host.sendMessage({ command: RelayCommand.END, streamId, body: { reason: EndReason.RESOURCELIMIT } });
      this.ctx.counters.ended(EndReason.RESOURCELIMIT);
      return undefined;
    }
    const s = new EdgeStream(streamId, this.#congestionControl);
    this.#streams.set(streamId, s);
    this.ctx.counters.streams++;
    return s;
  }

  /** The target of a stream is open: its bytes flow from now on. */
  #attach(s: EdgeStream, socket: TargetSocket): void {
    s.socket = socket;
    socket.on("data", (chunk: Buffer) => {
      try {
        this.#onSocketData(s, chunk);
      } catch (error) {
        this.#internalError(s, error);
      }
    });
    socket.on("end", () => {
      s.finReceived = true;
      if (s.queue.length === 0) this.#sendEndDone(s);
    });
    socket.on("drain", () => {
      this.#payOwedSendmes(s);
      this.#signal(s, s.receiveControl.onDrained());
    });
    socket.on("error", (error: NodeJS.ErrnoException) => {
      if (this.#streams.get(s.streamId) === s && !s.sentEnd) this.#end(s, endReasonOfSocketError(error), "target socket error");
    });
  }

  #onSocketData(s: EdgeStream, chunk: Buffer): void {
    if (this.#closed || s.sentEnd) return;
    this.ctx.counters.bytesFromTargets += chunk.length;
    s.queue.push(chunk, Date.now());
    this.host.queued(chunk.length);
    this.#scheduler.wake(s);
    this.#pump();
    if (s.queue.length > 0 && !s.paused) {
      s.paused = true;
      s.socket?.pause();
    }
  }

  /** Package waiting stream bytes into DATA cells while every window and the link allow. */
  #pump(): void {
    if (this.#pumping || this.#closed) return;
    this.#pumping = true;
    const emptied = this.#scheduler.pump(this.#package, this.#sink, performance.now());
    this.#sendBatch();
    this.#pumping = false;
    for (const s of emptied) {
      if (this.#streams.get(s.streamId) !== s) continue;
      if (s.finReceived) this.#sendEndDone(s);
      else if (s.paused) {
        s.paused = false;
        s.socket?.resume();
      }
    }
    if (this.#scheduler.pending && !this.host.writable) this.host.waitWritable(this);
  }

  #sendBatch(): void {
    if (this.#batched === 0) return;
    this.host.sendCells(this.#batch.subarray(0, this.#batched * RELAY_BODY_LEN));
    this.#batched = 0;
  }

  #payOwedSendmes(s: EdgeStream): void {
    for (let n = s.receiveControl.takeSendmes(); n > 0; n--) {
      this.host.sendMessage({ command: RelayCommand.SENDME, streamId: s.streamId, body: { version: 0 } });
    }
  }

  #sendEndDone(s: EdgeStream): void {
    if (s.sentEnd || this.#streams.get(s.streamId) !== s) return;
    s.sentEnd = true;
    this.host.sendMessage({ command: RelayCommand.END, streamId: s.streamId, body: { reason: EndReason.DONE } });
    this.ctx.counters.ended(EndReason.DONE);
    if (s.receivedEnd) this.#free(s);
  }

  /** Send END with `reason` and forget the stream. */
  #end(s: EdgeStream, reason: EndReason, why: string): void {
    if (!s.sentEnd) {
      s.sentEnd = true;
      this.host.sendMessage({ command: RelayCommand.END, streamId: s.streamId, body: { reason } });
      this.ctx.counters.ended(reason);
      this.ctx.log.debug({ stream: s.streamId, reason: endReasonName(reason), why }, "stream ended");
    }
    this.#free(s);
  }

  /** A bug, not bad input: log it and end the stream (never let it escape as an unhandled rejection). */
  #internalError(s: EdgeStream, error: unknown): void {
    this.ctx.log.error({ err: error }, "internal error on an edge stream");
    if (this.#streams.get(s.streamId) === s) this.#end(s, EndReason.INTERNAL, "internal error");
  }

  #free(s: EdgeStream): void {
    if (this.#streams.get(s.streamId) !== s) return;
    this.#streams.delete(s.streamId);
    this.ctx.counters.streams--;
    clearTimeout(s.timer);
    s.opening?.abort();
    this.host.queued(-s.queue.clear(new Error("stream closed")));
    this.#scheduler.remove(s);
    // A half-closed socket we ended keeps flushing on its own; otherwise close it now.
    if (s.socket !== undefined && !(s.receivedEnd && s.sentEnd && s.socket.writableEnded)) s.socket.destroy();
  }
}
