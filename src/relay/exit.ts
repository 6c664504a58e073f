/**
 * The exit edge of one circuit: the streams that end at this relay. BEGIN resolves the host
 * here, checks the exit policy against the resolved address, connects over TCP and answers
 * CONNECTED or END; DATA flows both ways under circuit and stream windows (authenticated
 * circuit SENDMEs); END DONE is a half-close mapped to TCP FIN in both directions; RESOLVE
 * answers RESOLVED.
 *
 * Backpressure: a destination socket is paused while its bytes cannot be packaged (a window
 * is empty or the link towards the client is congested), so at most one socket read per
 * stream waits here; stream SENDMEs for the client's DATA are held back while the
 * destination socket does not take bytes as fast as they come.
 */
import { lookup } from "node:dns/promises";
import net from "node:net";
import { DestroyReason } from "../../gen/meowonion/v1/link_pb.js";
import { type Begin, EndReason, RelayCommand, type Sendme } from "../../gen/meowonion/v1/relay_pb.js";
import type { Logger } from "../common/log.js";
import { OnionError, endReasonOfSocketError } from "../onion/errors.js";
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
import { type RelayMessageInit, encodeRelayCell } from "../onion/relay-cell.js";
import { RELAY_BODY_LEN, RELAY_DATA_MAX, type RunningDigest, digestBytes } from "../onion/relay-crypto.js";
import type { DrainWaiter } from "../link/channels.js";
import type { RelayLimits } from "./limits.js";
import type { RelayMetrics } from "./metrics.js";

/** What the exit needs from an exit policy. */
export interface ExitPolicyCheck {
  /** False if the policy rejects everything (the relay is not an exit). */
  readonly isExit: boolean;
  allows(address: string, port: number): boolean;
}

/** The circuit, as seen from its exit edge. */
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
  policy: ExitPolicyCheck;
  limits: RelayLimits;
  metrics: RelayMetrics;
  log: Logger;
}

const BATCH_CELLS = 32;
/**
 * Streams take turns of this many cells (8 KB), as Tor gives each stream its share of the
 * window in one go: the client then gets each stream's data in larger pieces (fewer writes to
 * its applications) while no stream waits long behind another.
 */
const STREAM_TURN_CELLS = 16;
const STAGE_BYTES = 64 * 1024;
const MAX_SPARE_STAGES = 2;
const HOSTNAME = /^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.?$/;
const MAX_ANSWERS = 16;
const NAME_TTL_SECONDS = 60;

/** A stream id is taken while resolving/connecting/open; END both ways frees it. */
class ExitStream {
  socket: net.Socket | undefined;
  readonly package: StreamSendControl;
  readonly deliver: StreamReceiveControl;
  readonly #pending: Buffer[] = [];
  #offset = 0;
  pendingBytes = 0;
  pendingSince = 0;
  paused = false;
  /** DATA for the destination gathered during this tick: one socket write per read of cells. */
  staged: Buffer | undefined;
  stagedBytes = 0;
  /** The destination sent FIN: END DONE goes out once pending bytes are packaged. */
  finReceived = false;
  sentEnd = false;
  receivedEnd = false;
  ready = false;
  timer: NodeJS.Timeout | undefined;

  constructor(
    readonly id: number,
    congestionControlled: boolean,
  ) {
    this.package = streamSendControl(congestionControlled);
    this.deliver = new StreamReceiveControl(congestionControlled);
  }

  push(chunk: Buffer): void {
    if (this.pendingBytes === 0) this.pendingSince = Date.now();
    this.#pending.push(chunk);
    this.pendingBytes += chunk.length;
  }

  /** Up to `max` pending bytes: a view when they lie in one chunk, else a copy. */
  take(max: number): Uint8Array {
    const first = this.#pending[0];
    const n = Math.min(max, this.pendingBytes);
    let out: Uint8Array;
    if (first.length - this.#offset >= n) {
      out = first.subarray(this.#offset, this.#offset + n);
      this.#offset += n;
      if (this.#offset === first.length) {
        this.#pending.shift();
        this.#offset = 0;
      }
    } else {
      out = new Uint8Array(n);
      for (let filled = 0; filled < n; ) {
        const chunk = this.#pending[0];
        const part = Math.min(n - filled, chunk.length - this.#offset);
        out.set(chunk.subarray(this.#offset, this.#offset + part), filled);
        filled += part;
        this.#offset += part;
        if (this.#offset === chunk.length) {
          this.#pending.shift();
          this.#offset = 0;
        }
      }
    }
    this.pendingBytes -= n;
    if (this.pendingBytes === 0) this.pendingSince = 0;
    return out;
  }

  dropPending(): number {
    const bytes = this.pendingBytes;
    this.#pending.length = 0;
    this.#offset = 0;
    this.pendingBytes = 0;
    this.pendingSince = 0;
    return bytes;
  }
}

export class ExitEdge implements DrainWaiter {
  readonly #streams = new Map<number, ExitStream>();
  #package: CircuitSendControl = SendWindow.circuit();
  #deliver = ReceiveWindow.circuit();
  /** Congestion control was negotiated (CONGESTION_CONTROL_REQUEST answered with version 1). */
  #congestionControl = false;
  /** A request was answered, or a stream was opened: no (further) negotiation. */
  #negotiationClosed = false;
  /** Streams with pending bytes, served round robin. */
  #ready: ExitStream[] = [];
  #cursor = 0;
  /** Cells the stream at the cursor has had in its current turn. */
  #turn = 0;
  /** Plaintext cells being packaged (Uint8Array, not Buffer: its fill() is much cheaper). */
  #batch = new Uint8Array(BATCH_CELLS * RELAY_BODY_LEN);
  /** Staging buffers whose write completed, reused. */
  readonly #spareStages: Buffer[] = [];
  #pumping = false;
  #closed = false;

  constructor(
    private readonly host: EdgeHost,
    private readonly ctx: EdgeContext,
  ) {}

  get streamCount(): number {
    return this.#streams.size;
  }

  /** Oldest unpackaged stream bytes (for the out-of-memory policy), 0 if none. */
  get pendingSince(): number {
    let oldest = 0;
    for (const s of this.#streams.values()) if (s.pendingSince !== 0 && (oldest === 0 || s.pendingSince < oldest)) oldest = s.pendingSince;
    return oldest;
  }

  /** Unpackaged stream bytes held here. */
  get pendingBytes(): number {
    let bytes = 0;
    for (const s of this.#streams.values()) bytes += s.pendingBytes;
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
    s.deliver.onReceived();
    this.ctx.metrics.exitBytesOut += data.length;
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
  #flushStaged(s: ExitStream): void {
    const staged = s.staged;
    const socket = s.socket;
    if (staged === undefined || socket === undefined) return;
    s.staged = undefined;
    if (socket.destroyed) return;
    socket.write(staged.subarray(0, s.stagedBytes), () => {
      if (this.#spareStages.length < MAX_SPARE_STAGES) this.#spareStages.push(staged);
    });
    if (!socket.writableNeedDrain) this.#payOwedSendmes(s);
    else this.#signal(s, s.deliver.onHeld(socket.writableLength));
  }

  /** Tell the client what the stream's receive control asks for. */
  #signal(s: ExitStream, signal: StreamSignal): void {
    if (signal === "xoff") this.host.sendMessage({ command: RelayCommand.XOFF, streamId: s.id, body: {} });
    else if (signal === "xon") this.host.sendMessage({ command: RelayCommand.XON, streamId: s.id, body: {} });
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
      s.package.onSendme();
      if (s.pendingBytes > 0) this.#markReady(s);
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
      s.package.onXoff();
      return;
    }
    s.package.onXon();
    if (s.pendingBytes > 0) this.#markReady(s);
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
    if (!this.#claim(streamId, "BEGIN")) return;
    const s = new ExitStream(streamId, this.#congestionControl);
    this.#streams.set(streamId, s);
    this.ctx.metrics.streams++;
    const refusal = this.#refusal(begin.host, begin.port);
    if (refusal !== undefined) {
      this.#end(s, refusal, "BEGIN refused");
      return;
    }
    s.timer = setTimeout(() => this.#end(s, EndReason.TIMEOUT, "connect timed out"), this.ctx.limits.exitConnectTimeoutMs);
    this.#connect(s, begin.host, begin.port).catch((error: unknown) => this.#internalError(s, error));
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

  onResolve(streamId: number, host: string): void {
    if (!this.#claim(streamId, "RESOLVE")) return;
    const s = new ExitStream(streamId, this.#congestionControl);
    this.#streams.set(streamId, s);
    this.ctx.metrics.streams++;
    const refusal = this.#refusal(host, 1);
    if (refusal !== undefined) {
      this.#end(s, refusal, "RESOLVE refused");
      return;
    }
    this.#resolve(host)
      .catch(() => [] as string[]) // RESOLVED with no answers: the name did not resolve
      .then((addresses) => {
        if (this.#streams.get(streamId) !== s) return;
        const answers = addresses.slice(0, MAX_ANSWERS).map((address) => ({ address, ttlSeconds: NAME_TTL_SECONDS }));
        this.host.sendMessage({ command: RelayCommand.RESOLVED, streamId, body: { answers } });
        this.#free(s);
      })
      .catch((error: unknown) => this.#internalError(s, error));
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

  /** False (after destroying the circuit) for a stream id that is 0 or already in use. */
  #claim(streamId: number, what: string): boolean {
    this.#negotiationClosed = true;
    if (streamId === 0 || this.#streams.has(streamId)) {
      this.host.fail(DestroyReason.PROTOCOL, `${what} on stream id ${streamId === 0 ? "0" : "in use"}`);
      return false;
    }
    if (this.#streams.size >= this.ctx.limits.maxStreamsPerCircuit) {
      this.host.sendMessage({ command: RelayCommand.END, streamId, body: { reason: EndReason.RESOURCELIMIT } });
      this.ctx.metrics.ended(EndReason.RESOURCELIMIT);
      return false;
    }
    return true;
  }

  /** Why a BEGIN/RESOLVE must be refused before any DNS work, if it must. */
  #refusal(host: string, port: number): EndReason | undefined {
    if (!Number.isInteger(port) || port < 1 || port > 65535) return EndReason.TORPROTOCOL;
    if (net.isIP(host) === 0 && (host.length === 0 || host.length > 255 || !HOSTNAME.test(host))) return EndReason.TORPROTOCOL;
    if (!this.ctx.policy.isExit) return EndReason.EXITPOLICY;
    return undefined;
  }

  async #resolve(host: string): Promise<string[]> {
    if (net.isIP(host) !== 0) return [host];
    const answers = await lookup(host, { all: true, verbatim: true });
    return answers.map((a) => a.address);
  }

  async #connect(s: ExitStream, host: string, port: number): Promise<void> {
    let addresses: string[];
    try {
      addresses = await this.#resolve(host);
    } catch {
      if (this.#streams.get(s.id) === s) this.#end(s, EndReason.RESOLVEFAILED, "resolve failed");
      return;
    }
    if (this.#streams.get(s.id) !== s) return;
    const address = addresses.find((a) => this.ctx.policy.allows(a, port));
    if (address === undefined) {
      this.#end(s, EndReason.EXITPOLICY, "exit policy");
      return;
    }
    this.ctx.log.debug({ host, port, address }, "exit connecting");
    const socket = net.connect({ host: address, port, allowHalfOpen: true, noDelay: true });
    s.socket = socket;
    socket.once("connect", () => {
      clearTimeout(s.timer);
      if (this.#streams.get(s.id) !== s) return;
      this.ctx.metrics.streamsOpened.inc();
      const ttlSeconds = net.isIP(host) === 0 ? NAME_TTL_SECONDS : 0;
      this.host.sendMessage({ command: RelayCommand.CONNECTED, streamId: s.id, body: { address, ttlSeconds } });
    });
    socket.on("data", (chunk: Buffer) => {
      try {
        this.#onSocketData(s, chunk);
      } catch (error) {
        this.#internalError(s, error);
      }
    });
    socket.on("end", () => {
      s.finReceived = true;
      if (s.pendingBytes === 0) this.#sendEndDone(s);
    });
    socket.on("drain", () => {
      this.#payOwedSendmes(s);
      this.#signal(s, s.deliver.onDrained());
    });
    socket.on("error", (error: NodeJS.ErrnoException) => {
      if (this.#streams.get(s.id) === s && !s.sentEnd) this.#end(s, endReasonOfSocketError(error), "destination socket error");
    });
  }

  #onSocketData(s: ExitStream, chunk: Buffer): void {
    if (this.#closed || s.sentEnd) return;
    this.ctx.metrics.exitBytesIn += chunk.length;
    s.push(chunk);
    this.host.queued(chunk.length);
    this.#markReady(s);
    this.#pump();
    if (s.pendingBytes > 0 && !s.paused) {
      s.paused = true;
      s.socket?.pause();
    }
  }

  #markReady(s: ExitStream): void {
    if (s.ready) return;
    s.ready = true;
    this.#ready.push(s);
  }

  /** Package pending stream bytes into DATA cells while every window and the link allow. */
  #pump(): void {
    if (this.#pumping || this.#closed) return;
    this.#pumping = true;
    const finished: ExitStream[] = [];
    const now = performance.now();
    let n = 0;
    const flush = (): void => {
      if (n === 0) return;
      this.host.sendCells(this.#batch.subarray(0, n * RELAY_BODY_LEN));
      n = 0;
    };
    while (this.#ready.length > 0 && this.#package.available > 0 && this.host.writable && !this.#closed) {
      if (this.#cursor >= this.#ready.length) this.#cursor = 0;
      const s = this.#ready[this.#cursor];
      if (s.pendingBytes === 0 || s.package.available === 0) {
        s.ready = false;
        this.#ready.splice(this.#cursor, 1);
        this.#turn = 0;
        continue;
      }
      const data = s.take(RELAY_DATA_MAX);
      this.host.queued(-data.length);
      encodeRelayCell(RelayCommand.DATA, s.id, data, this.#batch.subarray(n * RELAY_BODY_LEN, (n + 1) * RELAY_BODY_LEN));
      n++;
      s.package.onSent();
      if (this.#package.needsDigest) {
        flush(); // the digest after this very cell
        this.#package.onSent(this.host.lastSentDigest(), now);
      } else {
        this.#package.onSent(undefined, now);
      }
      if (n === BATCH_CELLS) flush();
      if (s.pendingBytes === 0) {
        finished.push(s);
        s.ready = false;
        this.#ready.splice(this.#cursor, 1);
        this.#turn = 0;
      } else if (++this.#turn === STREAM_TURN_CELLS) {
        this.#turn = 0;
        this.#cursor++;
      }
    }
    flush();
    this.#pumping = false;
    for (const s of finished) {
      if (this.#streams.get(s.id) !== s) continue;
      if (s.finReceived) this.#sendEndDone(s);
      else if (s.paused) {
        s.paused = false;
        s.socket?.resume();
      }
    }
    if (this.#ready.length > 0 && !this.host.writable) this.host.waitWritable(this);
  }

  #payOwedSendmes(s: ExitStream): void {
    for (let n = s.deliver.takeSendmes(); n > 0; n--) {
      this.host.sendMessage({ command: RelayCommand.SENDME, streamId: s.id, body: { version: 0 } });
    }
  }

  #sendEndDone(s: ExitStream): void {
    if (s.sentEnd || this.#streams.get(s.id) !== s) return;
    s.sentEnd = true;
    this.host.sendMessage({ command: RelayCommand.END, streamId: s.id, body: { reason: EndReason.DONE } });
    this.ctx.metrics.ended(EndReason.DONE);
    if (s.receivedEnd) this.#free(s);
  }

  /** Send END with `reason` and forget the stream. */
  #end(s: ExitStream, reason: EndReason, why: string): void {
    if (!s.sentEnd) {
      s.sentEnd = true;
      this.host.sendMessage({ command: RelayCommand.END, streamId: s.id, body: { reason } });
      this.ctx.metrics.ended(reason);
      this.ctx.log.debug({ stream: s.id, reason: EndReason[reason], why }, "stream ended");
    }
    this.#free(s);
  }

  /** A bug, not bad input: log it and end the stream (never let it escape as an unhandled rejection). */
  #internalError(s: ExitStream, error: unknown): void {
    this.ctx.log.error({ err: error }, "internal error on an exit stream");
    if (this.#streams.get(s.id) === s) this.#end(s, EndReason.INTERNAL, "internal error");
  }

  #free(s: ExitStream): void {
    if (this.#streams.get(s.id) !== s) return;
    this.#streams.delete(s.id);
    this.ctx.metrics.streams--;
    clearTimeout(s.timer);
    this.host.queued(-s.dropPending());
    if (s.ready) {
      s.ready = false;
      this.#ready.splice(this.#ready.indexOf(s), 1);
    }
    // A half-closed socket we ended keeps flushing on its own; otherwise close it now.
    if (s.socket !== undefined && !(s.receivedEnd && s.sentEnd && s.socket.writableEnded)) s.socket.destroy();
  }
}
