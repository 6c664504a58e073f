/**
 * A stream through the network as its users know a TCP connection: a Duplex shaped like a
 * net.Socket (`connecting`, 'connect'/'ready', half-close, `setTimeout` and 'timeout', the
 * no-op TCP tuning calls), so that http.Agent, tls.connect({ socket }) and undici take it as
 * they take a socket. It is returned at once and attaches to the circuit stream when BEGIN
 * succeeds; writes made meanwhile wait, as net.Socket buffers them while connecting.
 *
 * A failure destroys it with the stream's own error: a MeowOnionError whose `kind` says what
 * went wrong and whose `code` is the END reason (or DESTROY reason) when there is one.
 */
import { isIP } from "node:net";
import { Duplex } from "node:stream";
import { EndReason } from "../../gen/meowonion/v1/relay_pb.js";
import { StreamError } from "../onion/errors.js";
import type { AttachedStream } from "../proxy/pool.js";

/** As the circuit stream's: a chunk it delivers (a link read's worth) fits without pausing it at once. */
const HIGH_WATER_MARK = 64 * 1024;

export class OnionSocket extends Duplex {
  #attached: AttachedStream | undefined;
  /** A write or end made before the stream opened, run once it has. */
  #waiting: (() => void) | undefined;
  #timeoutMs = 0;
  #timer: NodeJS.Timeout | undefined;
  #bytesRead = 0;
  #bytesWritten = 0;

  constructor(
    /** The destination's host as asked for: a name (resolved by the exit), an IP literal or a `.meow` name. */
    readonly remoteHost: string,
    readonly remotePort: number,
    opening: Promise<AttachedStream>,
  ) {
    super({ allowHalfOpen: true, readableHighWaterMark: HIGH_WATER_MARK, writableHighWaterMark: HIGH_WATER_MARK });
    opening.then(
      (attached) => this.#attach(attached),
      (error: unknown) => this.destroy(error as Error),
    );
  }

  /** True until the stream is open (net.Socket's name for it). */
  get connecting(): boolean {
    return this.#attached === undefined && !this.destroyed;
  }

  /** Like `connecting`: net.Socket has both. */
  get pending(): boolean {
    return this.connecting;
  }

  get readyState(): "opening" | "open" | "readOnly" | "writeOnly" | "closed" {
    if (this.connecting) return "opening";
    if (this.destroyed) return "closed";
    if (this.readable && this.writable) return "open";
    return this.readable ? "readOnly" : this.writable ? "writeOnly" : "closed";
  }

  /** The circuit the stream runs on (undefined while connecting), as the ControlService numbers circuits. */
  get circuitId(): bigint | undefined {
    return this.#attached?.circuitId;
  }

  /** The destination's IP address when it was asked for by address; undefined for a name (only the exit resolved it). */
  get remoteAddress(): string | undefined {
    return isIP(this.remoteHost) !== 0 ? this.remoteHost : undefined;
  }

  get bytesRead(): number {
    return this.#bytesRead;
  }

  get bytesWritten(): number {
    return this.#bytesWritten;
  }

  /** The idle timeout set by setTimeout (0: none), as net.Socket's `timeout`. */
  get timeout(): number {
    return this.#timeoutMs;
  }

  /**
   * Emit 'timeout' after `ms` without data in either direction (0 turns it off), as
   * net.Socket does: the socket stays open; the listener decides.
   */
  setTimeout(ms: number, callback?: () => void): this {
    this.#timeoutMs = ms;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (ms > 0) {
      if (callback) this.once("timeout", callback);
      this.#timer = setTimeout(() => this.emit("timeout"), ms).unref();
    } else if (callback) {
      this.off("timeout", callback);
    }
    return this;
  }

  /** Cells leave as soon as they are packaged: there is no Nagle to turn off. */
  setNoDelay(): this {
    return this;
  }

  /** The circuit's link has its own liveness; TCP keep-alive has nothing to probe here. */
  setKeepAlive(): this {
    return this;
  }

  /** What keeps the process alive is the client's links, not a stream: nothing to ref. */
  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  #attach(attached: AttachedStream): void {
    const { stream } = attached;
    if (this.destroyed) {
      stream.destroy();
      return;
    }
    this.#attached = attached;
    stream.on("data", (chunk: Buffer) => {
      this.#bytesRead += chunk.length;
      attached.countReceived(chunk.length);
      this.#timer?.refresh();
      if (!this.push(chunk)) stream.pause();
    });
    stream.on("end", () => this.push(null));
    stream.on("error", (error) => this.destroy(error));
    stream.on("close", () => {
      // Closed under us without an error (both ends done is the normal case): nothing more can flow.
      if (!this.destroyed && !(stream.readableEnded && stream.writableFinished)) this.destroy(new StreamError(EndReason.MISC, "stream closed"));
    });
    this.emit("connect");
    this.emit("ready");
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.();
  }

  override _write(chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const stream = this.#attached?.stream;
    if (stream === undefined) {
      this.#waiting = () => this._write(chunk, encoding, callback);
      return;
    }
    this.#bytesWritten += chunk.length;
    this.#attached!.countSent(chunk.length);
    this.#timer?.refresh();
    if (stream.write(chunk)) callback();
    else stream.once("drain", () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    const stream = this.#attached?.stream;
    if (stream === undefined) {
      this.#waiting = () => this._final(callback);
      return;
    }
    // END DONE once every byte written is in cells: the exit half-closes towards the destination.
    stream.end(() => callback());
  }

  override _read(): void {
    const stream = this.#attached?.stream;
    if (stream?.isPaused()) stream.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const stream = this.#attached?.stream;
    // Tells the exit (END) unless both sides had already ended.
    if (stream !== undefined && !stream.destroyed) stream.destroy();
    callback(error);
  }
}
