/**
 * A client stream over a circuit, as a node:stream Duplex. Writes wait in the stream's
 * ByteQueue until the circuit packages them into DATA cells (the write callback fires once a
 * chunk is in cells, so a full window or a congested link is backpressure on the writer);
 * received DATA is pushed to the reader, and the stream's flow control holds SENDMEs back (or
 * sends XOFF) while the reader does not keep up. end() sends END DONE (half-close); END from
 * the exit ends the readable side.
 */
import { Duplex } from "node:stream";
import { EndReason } from "../../gen/meowonion/v1/relay_pb.js";
import { StreamError } from "../onion/errors.js";
import { StreamReceiveControl, type StreamSendControl, streamSendControl } from "../onion/flow-control.js";
import { endReasonName } from "../onion/reasons.js";
import { ByteQueue, type ScheduledStream } from "../onion/streams.js";

/** What a stream needs from its circuit. */
export interface StreamOwner {
  /** New bytes (or an END request) wait in `stream`: package what the windows allow. */
  wake(stream: ClientStream): void;
  /** The reader took data: stream SENDMEs held back (or an XON) may go now. */
  readMore(stream: ClientStream): void;
  /** The stream was destroyed locally: tell the exit unless both sides already ended. */
  abort(stream: ClientStream): void;
}

const HIGH_WATER_MARK = 64 * 1024;

export class ClientStream extends Duplex implements ScheduledStream {
  readonly queue = new ByteQueue();
  /** Fixed stream windows until adoptFlowControl() says otherwise (at CONNECTED, before any DATA). */
  #sendControl: StreamSendControl = streamSendControl(false);
  #receiveControl = new StreamReceiveControl(false);
  #sentEnd = false;
  #receivedEnd = false;
  /** Set by end(): END DONE goes out once the queued bytes are in cells. */
  #endCallback: ((error?: Error | null) => void) | undefined;
  /** DATA of the current link read, held for one push (see stageDelivery). */
  readonly #staged: Uint8Array[] = [];
  #stagedBytes = 0;

  constructor(
    readonly streamId: number,
    private readonly owner: StreamOwner,
  ) {
    super({ readableHighWaterMark: HIGH_WATER_MARK, writableHighWaterMark: HIGH_WATER_MARK, allowHalfOpen: true });
  }

  get sendControl(): StreamSendControl {
    return this.#sendControl;
  }

  get receiveControl(): StreamReceiveControl {
    return this.#receiveControl;
  }

  /** END went to the exit. */
  get sentEnd(): boolean {
    return this.#sentEnd;
  }

  /** END came from the exit. */
  get receivedEnd(): boolean {
    return this.#receivedEnd;
  }

  /** The writer ended and every byte it wrote is in cells: END DONE is due. */
  get endDue(): boolean {
    return this.#endCallback !== undefined && !this.#sentEnd && this.queue.length === 0;
  }

  /** The circuit's flow control for this stream: fixed windows, or XOFF/XON under congestion control. */
  adoptFlowControl(congestionControlled: boolean): void {
    this.#sendControl = streamSendControl(congestionControlled);
    this.#receiveControl = new StreamReceiveControl(congestionControlled);
  }

  /** The circuit sent END (DONE after end(), or another reason when the stream was aborted). */
  markEndSent(): void {
    this.#sentEnd = true;
    const done = this.#endCallback;
    this.#endCallback = undefined;
    done?.();
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
    this.#receivedEnd = true;
    if (reason === EndReason.DONE) this.push(null);
    else this.destroy(new StreamError(reason, `stream ended by the exit: ${endReasonName(reason)}`));
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.queue.push(chunk, 0, callback);
    if (chunk.length > 0) this.owner.wake(this);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#endCallback = callback;
    this.owner.wake(this);
  }

  override _read(): void {
    this.owner.readMore(this);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.owner.abort(this);
    const failure = error ?? new StreamError(EndReason.MISC, "stream destroyed");
    this.queue.clear(failure);
    this.#endCallback?.(failure);
    this.#endCallback = undefined;
    callback(error);
  }
}
