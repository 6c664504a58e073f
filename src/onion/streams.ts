/**
 * The sending half of the stream data path, shared by both ends of a circuit (the client's
 * streams and the exit's): each stream's bytes wait in a ByteQueue, and a StreamScheduler
 * packages them into DATA cells round robin, in turns of a few cells per stream, while the
 * stream's and the circuit's flow control and the link allow. Pure: no I/O, no clock (callers
 * pass the time); cells go to a CellSink that the circuit's end provides.
 */
import { RelayCommand } from "../../gen/meowonion/v1/relay_pb.js";
import type { CircuitSendControl, StreamSendControl } from "./flow-control.js";
import { RELAY_DATA_MAX, encodeRelayCell } from "./relay-cell.js";

/**
 * Streams take turns of this many cells (8 KB), as Tor gives each stream its share of the
 * window in one go: the other end then gets each stream's data in larger pieces (fewer writes
 * to its applications) while no stream waits long behind another.
 */
export const STREAM_TURN_CELLS = 16;

interface QueuedChunk {
  /** A plain Uint8Array view: its subarray() is cheaper than Buffer's. */
  bytes: Uint8Array;
  /** Called once every byte of the chunk has been taken (with an error if it was dropped). */
  done: ((error?: Error) => void) | undefined;
}

/** Bytes of one stream waiting to be packaged into cells, in the order they were pushed. */
export class ByteQueue {
  readonly #chunks: QueuedChunk[] = [];
  /** Bytes of the first chunk already taken. */
  #offset = 0;
  #length = 0;
  #since = 0;

  /** Bytes waiting. */
  get length(): number {
    return this.#length;
  }

  /** The time passed to push() when the queue last became non-empty; 0 while empty. */
  get since(): number {
    return this.#since;
  }

  /** Queue `bytes` (kept by reference: not to be changed until taken); `done` once all are taken. */
  push(bytes: Uint8Array, now: number, done?: (error?: Error) => void): void {
    if (bytes.length === 0) {
      done?.();
      return;
    }
    if (this.#length === 0) this.#since = now;
    this.#chunks.push({ bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), done });
    this.#length += bytes.length;
  }

  /** Up to `max` bytes from the front: a view when they lie in one chunk, else a copy. */
  take(max: number): Uint8Array {
    const n = Math.min(max, this.#length);
    const first = this.#chunks[0];
    let out: Uint8Array;
    if (first.bytes.length - this.#offset >= n) {
      out = first.bytes.subarray(this.#offset, this.#offset + n);
      this.#offset += n;
      if (this.#offset === first.bytes.length) this.#shift();
    } else {
      out = new Uint8Array(n);
      for (let filled = 0; filled < n; ) {
        const { bytes } = this.#chunks[0];
        const part = Math.min(n - filled, bytes.length - this.#offset);
        out.set(bytes.subarray(this.#offset, this.#offset + part), filled);
        filled += part;
        this.#offset += part;
        if (this.#offset === bytes.length) this.#shift();
      }
    }
    this.#length -= n;
    if (this.#length === 0) this.#since = 0;
    return out;
  }

  /** Drop everything (the stream is gone): pending `done` callbacks get `error`. Returns the bytes dropped. */
  clear(error: Error): number {
    const dropped = this.#length;
    for (const chunk of this.#chunks.splice(0)) chunk.done?.(error);
    this.#offset = 0;
    this.#length = 0;
    this.#since = 0;
    return dropped;
  }

  #shift(): void {
    this.#offset = 0;
    this.#chunks.shift()!.done?.();
  }
}

/** A stream as the scheduler sees it. */
export interface ScheduledStream {
  readonly streamId: number;
  /** Bytes to package. */
  readonly queue: ByteQueue;
  /** This stream's window (fixed SENDME windows) or XOFF gate (congestion control). */
  readonly sendControl: StreamSendControl;
}

/**
 * Where one end of a circuit puts the DATA cells it packages: it stamps, encrypts and sends
 * them (now or batched), and knows the running digest an authenticated SENDME will carry.
 */
export interface CellSink {
  /** False while the link towards the other end is congested: packaging stops. */
  readonly writable: boolean;
  /** The 509 bytes to lay the next cell out in (plaintext). */
  nextCell(): Uint8Array;
  /** The cell in nextCell()'s buffer, carrying `dataBytes` of stream data, is complete. */
  commit(dataBytes: number): void;
  /** The running digest after the last committed cell (batched cells go out first). */
  lastDigest(): Uint8Array;
}

/** Round-robin packaging of the streams of one circuit end that have something to send. */
export class StreamScheduler<S extends ScheduledStream> {
  /** Streams with bytes to send and not known to be blocked by their own window. */
  readonly #ready: S[] = [];
  #cursor = 0;
  /** Cells the stream at the cursor has had in its current turn. */
  #turn = 0;

  /** Whether any stream still waits to send. */
  get pending(): boolean {
    return this.#ready.length > 0;
  }

  /** `stream` may have something to send (new bytes, an END to follow them, a reopened window). */
  wake(stream: S): void {
    if (!this.#ready.includes(stream)) this.#ready.push(stream);
  }

  /** `stream` is gone. */
  remove(stream: S): void {
    const index = this.#ready.indexOf(stream);
    if (index < 0) return;
    this.#ready.splice(index, 1);
    if (index < this.#cursor) this.#cursor--;
    else if (index === this.#cursor) this.#turn = 0;
  }

  /**
   * Package DATA cells into `sink` while the sink is writable, stream by stream in turns of
   * STREAM_TURN_CELLS. A stream whose window is shut leaves the list until it is woken again;
   * one blocked only by the circuit's window stays. Returns the streams whose queues are now
   * empty (the caller may end them, or read more from their source), in order.
   */
  pump(circuit: CircuitSendControl, sink: CellSink, now: number): S[] {
    const emptied: S[] = [];
    const ready = this.#ready;
    const canSend = (s: S) => s.queue.length > 0 && s.sendControl.available > 0 && circuit.available > 0;
    // Streams blocked only by the circuit window stay queued: stop after a pass without progress.
    let idle = 0;
    while (ready.length > idle && sink.writable) {
      if (this.#cursor >= ready.length) this.#cursor = 0;
      const s = ready[this.#cursor];
      if (canSend(s)) {
        const data = s.queue.take(RELAY_DATA_MAX);
        encodeRelayCell(RelayCommand.DATA, s.streamId, data, sink.nextCell());
        s.sendControl.onSent();
        const needsDigest = circuit.needsDigest;
        sink.commit(data.length);
        circuit.onSent(needsDigest ? sink.lastDigest() : undefined, now);
        idle = 0;
        if (canSend(s)) {
          if (++this.#turn === STREAM_TURN_CELLS) {
            this.#turn = 0;
            this.#cursor++;
          }
          continue;
        }
      }
      this.#turn = 0;
      if (s.queue.length === 0) {
        ready.splice(this.#cursor, 1);
        emptied.push(s);
      } else if (s.sendControl.available === 0) {
        ready.splice(this.#cursor, 1); // until a stream SENDME or XON wakes it
      } else {
        idle++;
        this.#cursor++;
      }
    }
    return emptied;
  }
}
