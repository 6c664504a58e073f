/**
 * A client stream over a circuit, as a node:stream Duplex. Writes are packaged into DATA cells
 * by the circuit (the write callback fires once a chunk is in cells, so a full window or a
 * congested link is backpressure on the writer); received DATA is pushed to the reader, and
 * stream SENDMEs are held back while the reader does not keep up. end() sends END DONE
 * (half-close); END from the exit ends the readable side.
 */
import { Duplex } from "node:stream";
import { EndReason } from "../../gen/meowonion/v1/relay_pb.js";
import { StreamError } from "../onion/errors.js";
import { StreamReceiveControl, type StreamSendControl, streamSendControl } from "../onion/flow-control.js";

/** What a stream needs from its circuit. */
export interface StreamOwner {
  /** New bytes (or an END request) are waiting in `stream`: package what the windows allow. */
  pump(stream: ClientStream): void;
  /** The reader took data: stream SENDMEs held back may go now. */
  readMore(stream: ClientStream): void;
  /** The stream was destroyed locally: tell the exit unless both sides already ended. */
  abort(stream: ClientStream): void;
}

const HIGH_WATER_MARK = 64 * 1024;

interface PendingWrite {
  /** A plain Uint8Array view of the written Buffer: its subarray() is cheaper than Buffer's. */
  chunk: Uint8Array;
  callback: (error?: Error | null) => void;
}

export class ClientStream extends Duplex {
  /** Fixed stream windows until adoptFlowControl() says otherwise (at CONNECTED, before any DATA). */
  package: StreamSendControl = streamSendControl(false);
  deliver = new StreamReceiveControl(false);
  sentEnd = false;
  receivedEnd = false;
  /** In the circuit's round-robin list of streams with something to send. */
  ready = false;
  /** Set by end(): END DONE goes out once the pending bytes are in cells. */
  endCallback: ((error?: Error | null) => void) | undefined;
  readonly #writes: PendingWrite[] = [];
  readonly #staged: Uint8Array[] = [];
  #stagedBytes = 0;
  #offset = 0;
  #pendingBytes = 0;

  constructor(
    readonly streamId: number,
    private readonly owner: StreamOwner,
  ) {
    super({ readableHighWaterMark: HIGH_WATER_MARK, writableHighWaterMark: HIGH_WATER_MARK, allowHalfOpen: true });
  }

  /** The circuit's flow control for this stream: fixed windows, or XOFF/XON under congestion control. */
  adoptFlowControl(congestionControlled: boolean): void {
    this.package = streamSendControl(congestionControlled);
    this.deliver = new StreamReceiveControl(congestionControlled);
  }

  /** Bytes written but not yet packaged into cells. */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /** Take up to `max` pending bytes: a view when they lie in one chunk. Finished writes are acknowledged. */
  takePending(max: number): Uint8Array {
    const n = Math.min(max, this.#pendingBytes);
    const first = this.#writes[0];
    let out: Uint8Array;
    if (first.chunk.length - this.#offset >= n) {
      out = first.chunk.subarray(this.#offset, this.#offset + n);
      this.#offset += n;
    } else {
      out = new Uint8Array(n);
      for (let filled = 0; filled < n; ) {
        const { chunk } = this.#writes[0];
        const part = Math.min(n - filled, chunk.length - this.#offset);
        out.set(chunk.subarray(this.#offset, this.#offset + part), filled);
        filled += part;
        this.#offset += part;
        if (this.#offset === chunk.length) this.#completeWrite();
      }
    }
    if (this.#writes.length > 0 && this.#offset === this.#writes[0].chunk.length) this.#completeWrite();
    this.#pendingBytes -= n;
    return out;
  }

  /**
   * Hold DATA from the exit until flushDelivered(): the cells of one link read reach the
   * reader as one chunk (one push, one socket write downstream) instead of 498 bytes each.
   * `data` must stay valid until then. Returns true if this stream held nothing before.
   */
  stageDelivery(data: Uint8Array): boolean {
    this.#staged.push(data);
    this.#stagedBytes += data.length;
    return this.#staged.length === 1;
  }

  /** Push what stageDelivery() held; returns false when the reader is behind (hold stream SENDMEs). */
  flushDelivered(): boolean {
    const staged = this.#staged;
    if (staged.length === 0) return true;
    const chunk = Buffer.allocUnsafe(this.#stagedBytes);
    for (let i = 0, at = 0; i < staged.length; at += staged[i].length, i++) chunk.set(staged[i], at);
    staged.length = 0;
    this.#stagedBytes = 0;
    return this.push(chunk);
  }

  /** END from the exit (DONE: the readable side ends; anything else: the stream fails). */
  remoteEnd(reason: EndReason): void {
    this.receivedEnd = true;
    if (reason === EndReason.DONE) this.push(null);
    else this.destroy(new StreamError(reason, `stream ended by the exit: ${EndReason[reason] ?? reason}`));
  }

  /** Fail every write still pending (the stream or circuit is gone). */
  failWrites(error: Error): void {
    for (const write of this.#writes.splice(0)) write.callback(error);
    this.#offset = 0;
    this.#pendingBytes = 0;
    this.endCallback?.(error);
    this.endCallback = undefined;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (chunk.length === 0) {
      callback();
      return;
    }
    this.#writes.push({ chunk: new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength), callback });
    this.#pendingBytes += chunk.length;
    this.owner.pump(this);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.endCallback = callback;
    this.owner.pump(this);
  }

  override _read(): void {
    this.owner.readMore(this);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.owner.abort(this);
    this.failWrites(error ?? new StreamError(EndReason.MISC, "stream destroyed"));
    callback(error);
  }

  #completeWrite(): void {
    const write = this.#writes.shift()!;
    this.#offset = 0;
    write.callback();
  }
}
