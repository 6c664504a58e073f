/**
 * Links: TLS 1.3 connections carrying size-delimited frames (proto/meowonion/v1/link.proto).
 * This module owns the link handshake (LinkHello and the identity proof bound to the TLS
 * exporter), frame I/O with write coalescing and backpressure, and circuit id allocation.
 * It knows nothing of circuits: owners receive the frames of each socket read through onFrames.
 */
import { EventEmitter } from "node:events";
import { randomInt } from "node:crypto";
import net from "node:net";
import tls from "node:tls";
import { create } from "@bufbuild/protobuf";
import { type Frame, FrameSchema, type LinkHello, LinkHelloSchema } from "../../gen/meowonion/v1/link_pb.js";
import { componentLogger, type Logger } from "../common/log.js";
import { type ErrorKind, MeowOnionError } from "../onion/errors.js";
import { FrameDecoder, RELAY_FRAME_WIRE_LEN, encodeFrame, writeRelayFrame } from "../onion/frame.js";
import { DOMAIN_LINK_AUTH, type Ed25519KeyPair, signWithDomain, verifyWithDomain } from "../onion/signing.js";
import type { LinkThrottle } from "./throttle.js";

export const LINK_PROTOCOL_VERSION = 1;
const EXPORTER_LABEL = "EXPORTER-meowonion-link-v1";
const EXPORTER_LEN = 32;
const ROLE_RESPONDER = 0x01;
const ROLE_INITIATOR = 0x02;
const TOP_BIT = 0x80000000;
const MAX_CIRCUIT_ID_TRIES = 64;
const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
const OUTPUT_BUFFER_BYTES = 64 * 1024;
/**
 * Bytes the socket may hold before the link reports `congested`. Well above the socket's own
 * 16 KiB high-water mark, which one coalesced 64 KiB write always exceeds: owners would
 * otherwise queue (and copy) cells on every burst although the kernel takes them at once.
 */
const CONGESTION_BYTES = 256 * 1024;
const MAX_SPARE_OUTPUTS = 4;
/** Flushes up to this size are written as a copy (Buffer.from uses node's 8 KiB pool below 4 KiB). */
const SMALL_WRITE_BYTES = 4 * 1024;
/** More than this queued within one turn (about 8 frames) is a burst, written in the loop's check phase. */
const BURST_BYTES = 4 * 1024;
/** How long a closed link may take to flush its last frames before its socket is destroyed. */
const GRACEFUL_CLOSE_MS = 2_000;

export type LinkErrorReason =
  | "connect-failed"
  | "timeout"
  | "identity-mismatch"
  | "bad-proof"
  | "version-mismatch"
  | "protocol"
  | "closed"
  | "circuit-ids-exhausted";

const LINK_ERROR_KINDS: Record<LinkErrorReason, ErrorKind> = {
  "connect-failed": "relay-unreachable",
  // A link not up in time is a relay not reached.
  timeout: "relay-unreachable",
  "identity-mismatch": "relay-identity",
  "bad-proof": "relay-identity",
  "version-mismatch": "protocol-violation",
  protocol: "protocol-violation",
  closed: "circuit-collapsed",
  "circuit-ids-exhausted": "resource-limit",
};

/** A link-level failure; `reason` says which. */
export class LinkError extends MeowOnionError {
  override readonly name = "LinkError";

  constructor(
    readonly reason: LinkErrorReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(LINK_ERROR_KINDS[reason], message, options);
  }

  override get code(): string {
    return this.reason;
  }
}

export interface LinkEvents {
  drain: [];
  close: [error: Error | undefined];
}

/**
 * An authenticated link. Its owner sets `onFrames` as soon as it has the link; events:
 * "drain" when the socket can take more after `congested` was true, "close" once (with the
 * error that closed it, if any).
 */
export class Link extends EventEmitter<LinkEvents> {
  private output: Buffer = Buffer.allocUnsafe(OUTPUT_BUFFER_BYTES);
  private outputUsed = 0;
  /** Output buffers whose write completed, reused: a fresh 64 KiB per flush made GC a hot spot. */
  private readonly spareOutputs: Buffer[] = [];
  /** The previous read, where a frame split across reads began (see decode()). */
  private previousChunk: Uint8Array = new Uint8Array(0);
  private flushScheduled = false;
  private closed = false;
  private readonly decoder = new FrameDecoder();
  /** Set when the socket's buffer is full. */
  private socketCongested = false;
  /** The relay's bandwidth buckets, if it limits its links (throttle.ts). */
  private throttle: LinkThrottle | undefined;
  /** The write bucket ran out: congested until its tokens are back and "drain" was emitted. */
  private throttleBlocked = false;
  lastActivity = Date.now();
  /**
   * Receives the frames of each socket read together, in order, so that owners can batch the
   * cells of one circuit (relay crypto is cheaper per cell over several cells at once).
   * Frames read before an owner set it are dropped (owners set it when they get the link,
   * before its first read is handled).
   */
  onFrames: (frames: Frame[]) => void = () => undefined;

  constructor(
    private readonly socket: tls.TLSSocket,
    /** True on the side that opened the connection (it allocates ids with the top bit set). */
    readonly initiator: boolean,
    /** The peer's proven Ed25519 identity; undefined for an anonymous client. */
    readonly peerIdentity: Uint8Array | undefined,
    leftover: Uint8Array,
    private readonly log: Logger,
  ) {
    super();
    socket.on("data", (chunk: Buffer) => this.receive(chunk));
    socket.on("drain", () => {
      this.socketCongested = false;
      this.emit("drain");
    });
    socket.on("error", (error) => this.destroy(new LinkError("closed", `link socket error: ${error.message}`)));
    socket.on("close", () => this.destroy(undefined));
    socket.on("end", () => {
      try {
        this.decoder.end();
        this.destroy(undefined, true);
      } catch (error) {
        this.destroy(error as Error, true);
      }
    });
    if (leftover.length > 0) queueMicrotask(() => this.receive(leftover));
  }

  get remoteAddress(): string {
    return this.socket.remoteAddress ?? "";
  }

  get remotePort(): number {
    return this.socket.remotePort ?? 0;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * True while the link cannot take more: its socket's buffer is full, or the relay's write
   * bucket has no tokens left for what is queued. Owners stop sending (queue their cells, stop
   * reading their sources) until "drain".
   */
  get congested(): boolean {
    if (this.socketCongested || this.throttleBlocked) return true;
    const throttle = this.throttle;
    if (throttle === undefined || this.closed || throttle.write.available() > this.outputUsed) return false;
    // Once congested, it stays so until "drain": tokens trickle in continuously, and an owner
    // that saw the link congested must be woken, not find it writable a moment later unasked.
    this.throttleBlocked = true;
    throttle.write.whenAvailable(this.writeTokensBack);
    return true;
  }

  /** Count what this link reads and writes against `throttle`'s buckets, and stop when they are empty. */
  setThrottle(throttle: LinkThrottle): void {
    this.throttle = throttle;
  }

  private readonly writeTokensBack = (): void => {
    this.throttleBlocked = false;
    if (!this.closed && !this.congested) this.emit("drain");
  };

  private readonly readTokensBack = (): void => {
    if (!this.closed) this.socket.resume();
  };

  /** Bytes queued in the socket not yet handed to the kernel. */
  get bufferedBytes(): number {
    return this.socket.writableLength + this.outputUsed;
  }

  /** Queue any frame. Frames queued in one tick go out in one socket write. */
  send(frame: Frame): void {
    if (this.closed) return;
    const bytes = encodeFrame(frame);
    this.reserve(bytes.length);
    this.output.set(bytes, this.outputUsed);
    this.outputUsed += bytes.length;
    this.scheduleFlush();
  }

  /** Queue a RELAY/RELAY_EARLY frame without going through protobuf (hot path). */
  sendRelay(circuitId: number, body: Uint8Array, early = false): void {
    if (this.closed) return;
    this.reserve(RELAY_FRAME_WIRE_LEN);
    this.outputUsed = writeRelayFrame(this.output, this.outputUsed, circuitId, body, early);
    this.scheduleFlush();
  }

  /**
   * A fresh circuit id for a circuit this side creates on the link: random, nonzero, top bit
   * set if we opened the link and clear otherwise, not in use.
   */
  allocateCircuitId(inUse: (id: number) => boolean): number {
    for (let i = 0; i < MAX_CIRCUIT_ID_TRIES; i++) {
      const low = randomInt(1, TOP_BIT);
      const id = (this.initiator ? (low | TOP_BIT) >>> 0 : low) >>> 0;
      if (!inUse(id)) return id;
    }
    throw new LinkError("circuit-ids-exhausted", `no free circuit id after ${MAX_CIRCUIT_ID_TRIES} tries`);
  }

  /** True if `circuitId` has the top bit the peer (not us) must use for circuits it creates. */
  isPeerAllocated(circuitId: number): boolean {
    const topSet = (circuitId & TOP_BIT) !== 0;
    return circuitId !== 0 && topSet !== this.initiator;
  }

  /** Flush what is queued and close the link. */
  close(error?: Error): void {
    if (this.closed) return;
    this.flush();
    this.destroy(error, true);
  }

  /**
   * Mark the link closed and tell the owner. `graceful` (the socket still works): TLS close,
   * then TCP close, as link.proto says, so frames already written (DESTROY on shutdown) still
   * reach the peer; otherwise (a socket error) the socket is destroyed at once.
   */
  private destroy(error: Error | undefined, graceful = false): void {
    if (this.closed) return;
    this.closed = true;
    this.throttle?.read.cancel(this.readTokensBack);
    this.throttle?.write.cancel(this.writeTokensBack);
    if (error !== undefined) {
      this.log.warn({ peer: peerForLog(this.log, this.remoteAddress), reason: MeowOnionError.from(error).code, err: error.message }, "link closed on error");
    }
    if (graceful) {
      closeTls(this.socket);
    } else {
      this.socket.destroy();
    }
    this.emit("close", error);
  }

  private receive(chunk: Uint8Array): void {
    if (this.closed) return;
    this.lastActivity = Date.now();
    const throttle = this.throttle;
    if (throttle !== undefined) {
      throttle.read.take(chunk.byteLength);
      if (throttle.read.available() <= 0) {
        this.socket.pause();
        throttle.read.whenAvailable(this.readTokensBack);
      }
    }
    let frames: Frame[];
    try {
      frames = this.decode(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    } catch (error) {
      this.destroy(error as Error, true);
      return;
    }
    const delivered: Frame[] = [];
    let violation: LinkError | undefined;
    for (const frame of frames) {
      if (frame.command.case === "hello") {
        violation = new LinkError("protocol", "second LinkHello on an established link");
        break;
      }
      if (frame.circuitId === 0 && frame.command.case !== "padding") {
        violation = new LinkError("protocol", `${frame.command.case} frame with circuit id 0`);
        break;
      }
      if (frame.command.case !== "padding") delivered.push(frame);
    }
    // Frames before a bad one were valid: deliver them, then close.
    if (delivered.length > 0) this.onFrames(delivered);
    if (violation !== undefined) this.destroy(violation, true);
  }

  /**
   * Decode one read. `chunk` is a plain Uint8Array view: relay payloads are subarrays of it,
   * and Uint8Array methods (fill, subarray) are several times cheaper than Buffer's on 509-byte
   * cells. A frame split across reads is completed first with just the bytes it lacks, so the
   * decoder does not copy the whole new read onto its leftover (nearly every TLS record of
   * 16 KiB ends inside a frame).
   */
  private decode(chunk: Uint8Array): Frame[] {
    const pending = this.decoder.bufferedBytes;
    const previous = this.previousChunk;
    this.previousChunk = chunk;
    if (pending === 0 || pending > previous.length) return this.decoder.push(chunk);
    const start = previous.length - pending;
    let size = 0;
    let prefix = 0;
    for (let i = 0; i < 3; i++) {
      const at = start + i;
      const byte = at < previous.length ? previous[at] : chunk[at - previous.length];
      if (byte === undefined) return this.decoder.push(chunk);
      size |= (byte & 0x7f) << (7 * i);
      if ((byte & 0x80) === 0) {
        prefix = i + 1;
        break;
      }
    }
    const need = prefix === 0 ? 0 : prefix + size - pending;
    if (need <= 0 || need >= chunk.length) return this.decoder.push(chunk);
    const first = this.decoder.push(chunk.subarray(0, need));
    const rest = this.decoder.push(chunk.subarray(need));
    if (first.length === 0) return rest;
    for (const frame of rest) first.push(frame);
    return first;
  }

  private reserve(bytes: number): void {
    if (this.outputUsed + bytes > this.output.length) this.flush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(this.endOfTurn);
  }

  /**
   * Runs when the code that queued the first frame (a socket read's frames, an application's
   * write) is done. A few frames on an idle link (a handshake step, an interactive cell) go to
   * the socket now, in the same turn; a burst, or a link whose socket still holds data, waits
   * for the loop's check phase, gathering what the other reads of this poll phase add: fewer,
   * larger writes under load.
   */
  private readonly endOfTurn = (): void => {
    if (!this.flushScheduled) return;
    if (this.outputUsed > BURST_BYTES || this.socket.writableLength > 0) setImmediate(this.flushQueued);
    else this.flush();
  };

  private readonly flushQueued = (): void => this.flush();

  /**
   * Write what is queued now instead of when the event loop gets to it: for a handshake step,
   * whose answer the peer waits for, so that work done after it (circuit setup, the next
   * step's precomputation) is off the path of that answer.
   */
  flush(): void {
    this.flushScheduled = false;
    if (this.outputUsed === 0 || this.closed) return;
    this.lastActivity = Date.now();
    this.throttle?.write.take(this.outputUsed);
    if (this.outputUsed <= SMALL_WRITE_BYTES) {
      // A few frames (a handshake step, a SENDME, an interactive cell): a copy is cheaper than
      // handing over the whole output buffer, and flushing once per frame allocates nothing big.
      const copy = Buffer.from(this.output.subarray(0, this.outputUsed));
      this.outputUsed = 0;
      if (!this.socket.write(copy) && this.socket.writableLength >= CONGESTION_BYTES) this.socketCongested = true;
      return;
    }
    const full = this.output;
    const chunk = full.subarray(0, this.outputUsed);
    this.output = this.spareOutputs.pop() ?? Buffer.allocUnsafe(OUTPUT_BUFFER_BYTES);
    this.outputUsed = 0;
    // write() returning false guarantees a later "drain", which clears `socketCongested`.
    const recycle = () => {
      if (this.spareOutputs.length < MAX_SPARE_OUTPUTS) this.spareOutputs.push(full);
    };
    if (!this.socket.write(chunk, recycle) && this.socket.writableLength >= CONGESTION_BYTES) this.socketCongested = true;
  }
}

/** A peer's address is user data (a client's IP): logged only at debug level, as Tor's SafeLogging. */
function peerForLog(log: Logger, address: string | undefined): string | undefined {
  return log.isLevelEnabled("debug") ? address : undefined;
}

function proofMessage(role: number, exporter: Uint8Array): Uint8Array {
  const message = new Uint8Array(1 + exporter.length);
  message[0] = role;
  message.set(exporter, 1);
  return message;
}

function exporterOf(socket: tls.TLSSocket): Uint8Array {
  return socket.exportKeyingMaterial(EXPORTER_LEN, EXPORTER_LABEL, Buffer.alloc(0));
}

function helloFrame(versions: number[], identity: Ed25519KeyPair | undefined, role: number, exporter: Uint8Array): Frame {
  const hello = create(LinkHelloSchema, { versions });
  if (identity !== undefined) {
    hello.identityKey = identity.publicKey;
    hello.signature = signWithDomain(DOMAIN_LINK_AUTH, proofMessage(role, exporter), identity.privateKey);
  }
  return create(FrameSchema, { circuitId: 0, command: { case: "hello", value: hello } });
}

/** Check a peer's proof; returns its identity (undefined if it sent none and none is required). */
function checkHello(hello: LinkHello, role: number, exporter: Uint8Array, required: boolean): Uint8Array | undefined {
  if (hello.identityKey.length === 0 && hello.signature.length === 0) {
    if (required) throw new LinkError("bad-proof", "peer sent no identity proof");
    return undefined;
  }
  if (!verifyWithDomain(DOMAIN_LINK_AUTH, proofMessage(role, exporter), hello.signature, hello.identityKey)) {
    throw new LinkError("bad-proof", "peer's identity proof does not verify");
  }
  return Uint8Array.from(hello.identityKey);
}

/** Read the first frame of a fresh TLS socket (the peer's LinkHello) with a deadline. */
function readHello(socket: tls.TLSSocket, timeoutMs: number): Promise<{ hello: LinkHello; leftover: Uint8Array }> {
  return new Promise((resolve, reject) => {
    let buffered = new Uint8Array(0);
    const finish = (error: Error | undefined, result?: { hello: LinkHello; leftover: Uint8Array }) => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("close", onClose);
      socket.off("error", onError);
      if (error !== undefined) reject(error);
      else resolve(result!);
    };
    const onData = (chunk: Buffer) => {
      // Decode only the first frame: everything after it belongs to the Link.
      buffered = buffered.length === 0 ? new Uint8Array(chunk) : Buffer.concat([buffered, chunk]);
      let frames: Frame[];
      try {
        frames = new FrameDecoder().push(buffered.subarray(0, firstFrameEnd(buffered)));
      } catch (error) {
        finish(new LinkError("protocol", `bad first frame: ${(error as Error).message}`, { cause: error }));
        return;
      }
      if (frames.length === 0) return;
      const [first] = frames;
      if (first.command.case !== "hello" || first.circuitId !== 0) {
        finish(new LinkError("protocol", `expected LinkHello, got ${first.command.case}`));
        return;
      }
      finish(undefined, { hello: first.command.value, leftover: buffered.subarray(firstFrameEnd(buffered)) });
    };
    const onClose = () => finish(new LinkError("connect-failed", "link closed during the handshake"));
    const onError = (error: Error) => finish(new LinkError("connect-failed", error.message, { cause: error }));
    const timer = setTimeout(() => finish(new LinkError("timeout", `no LinkHello within ${timeoutMs} ms`)), timeoutMs);
    socket.on("data", onData);
    socket.on("close", onClose);
    socket.on("error", onError);
  });
}

/** Offset just after the first size-delimited frame in `buffer`, or buffer.length if incomplete. */
function firstFrameEnd(buffer: Uint8Array): number {
  let size = 0;
  for (let i = 0; i < 3 && i < buffer.length; i++) {
    size |= (buffer[i] & 0x7f) << (7 * i);
    if ((buffer[i] & 0x80) === 0) return Math.min(buffer.length, i + 1 + size);
  }
  return buffer.length;
}

export interface ConnectLinkOptions {
  host: string;
  port: number;
  /** The identity the responder must prove (from the consensus or EXTEND2). */
  expectedIdentity: Uint8Array;
  /** Our identity if we are a relay; omitted by anonymous clients. */
  identity?: Ed25519KeyPair;
  /** Source address to connect from (a relay's own address on a host with several); default: the system's choice. */
  localAddress?: string;
  timeoutMs?: number;
  log?: Logger;
}

// One client TLS context for every link this process opens: building one per connection (what
// tls.connect does when given none) costs more than the handshake's own key exchange, and the
// context carries nothing per peer (no certificate is checked: identity is the LinkHello proof).
let clientContext: tls.SecureContext | undefined;

/** Open a link to a relay and check that it proves `expectedIdentity`. */
export async function connectLink(options: ConnectLinkOptions): Promise<Link> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  const socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
    clientContext ??= tls.createSecureContext({ minVersion: "TLSv1.3" });
    // tls.connect hands the TCP options (localAddress among them) to net.connect.
    const connectOptions: tls.ConnectionOptions & Pick<net.TcpNetConnectOpts, "localAddress"> = {
      host: options.host,
      port: options.port,
      localAddress: options.localAddress,
      secureContext: clientContext,
      rejectUnauthorized: false,
      minVersion: "TLSv1.3",
      servername: net.isIP(options.host) === 0 ? options.host : undefined,
    };
    const s = tls.connect(connectOptions);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new LinkError("timeout", `TLS to ${options.host}:${options.port} not up within ${timeoutMs} ms`));
    }, timeoutMs);
    s.once("secureConnect", () => {
      clearTimeout(timer);
      resolve(s);
    });
    s.once("error", (error) => {
      clearTimeout(timer);
      s.destroy();
      reject(new LinkError("connect-failed", `cannot reach ${options.host}:${options.port}: ${error.message}`, { cause: error }));
    });
  });
  try {
    socket.setNoDelay(true);
    const exporter = exporterOf(socket);
    socket.write(encodeFrame(helloFrame([LINK_PROTOCOL_VERSION], options.identity, ROLE_INITIATOR, exporter)));
    const { hello, leftover } = await readHello(socket, Math.max(1, deadline - Date.now()));
    if (!hello.versions.includes(LINK_PROTOCOL_VERSION)) {
      throw new LinkError("version-mismatch", `responder chose versions ${hello.versions.join(",")}`);
    }
    const identity = checkHello(hello, ROLE_RESPONDER, exporter, true)!;
    if (!Buffer.from(identity).equals(Buffer.from(options.expectedIdentity))) {
      throw new LinkError("identity-mismatch", `${options.host}:${options.port} proved a different identity than expected`);
    }
    return new Link(socket, true, identity, leftover, options.log ?? componentLogger("link"));
  } catch (error) {
    closeTls(socket);
    throw error instanceof LinkError ? error : new LinkError("protocol", (error as Error).message, { cause: error });
  }
}

export interface ListenLinksOptions {
  host: string;
  port: number;
  identity: Ed25519KeyPair;
  /** Called for every link whose handshake succeeded. */
  onLink: (link: Link) => void;
  /** Called before the TLS handshake; return false to refuse the connection (rate limits). */
  accept?: (remoteAddress: string) => boolean;
  handshakeTimeoutMs?: number;
  log?: Logger;
}

export interface LinkListener {
  host: string;
  port: number;
  close(): Promise<void>;
}

/** Accept links, proving `identity` to every initiator. */
export async function listenLinks(options: ListenLinksOptions): Promise<LinkListener> {
  // Loaded here, not at the top: only listeners need a certificate, and the X.509 library
  // costs an anonymous client (the proxy) memory it would never use (docs/bench-compare.md).
  const { tlsServerContext } = await import("./tls-credentials.js");
  const secureContext = await tlsServerContext();
  const timeoutMs = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
  const log = options.log ?? componentLogger("link");
  const sockets = new Set<net.Socket>();
  // A plain TCP server wrapping each connection in a TLS socket of the shared context:
  // tls.createServer would build a context of its own per listener.
  const server = net.createServer((raw) => {
    if (options.accept !== undefined && !options.accept(raw.remoteAddress ?? "")) {
      raw.destroy();
      return;
    }
    sockets.add(raw);
    raw.once("close", () => sockets.delete(raw));
    const socket = new tls.TLSSocket(raw, { isServer: true, secureContext });
    const handshakeFailed = () => socket.destroy();
    const timer = setTimeout(handshakeFailed, timeoutMs);
    raw.once("close", () => clearTimeout(timer));
    socket.on("error", handshakeFailed);
    socket.once("secure", () => {
      clearTimeout(timer);
      socket.setNoDelay(true);
      void acceptLink(socket, options, timeoutMs, log);
      socket.off("error", handshakeFailed);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as net.AddressInfo;
  return {
    host: address.address,
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

async function acceptLink(socket: tls.TLSSocket, options: ListenLinksOptions, timeoutMs: number, log: Logger): Promise<void> {
  try {
    const exporter = exporterOf(socket);
    const { hello, leftover } = await readHello(socket, timeoutMs);
    if (!hello.versions.includes(LINK_PROTOCOL_VERSION)) {
      throw new LinkError("version-mismatch", `initiator offers versions ${hello.versions.join(",")}`);
    }
    const peer = checkHello(hello, ROLE_INITIATOR, exporter, false);
    socket.write(encodeFrame(helloFrame([LINK_PROTOCOL_VERSION], options.identity, ROLE_RESPONDER, exporter)));
    options.onLink(new Link(socket, false, peer, leftover, log));
  } catch (error) {
    log.info({ peer: peerForLog(log, socket.remoteAddress), reason: MeowOnionError.from(error).code, err: (error as Error).message }, "link handshake refused");
    closeTls(socket);
  }
}

/**
 * Close a link's socket as link.proto says: TLS close (close_notify), then TCP close. A peer
 * that lingers without closing its side is cut off after GRACEFUL_CLOSE_MS.
 */
function closeTls(socket: tls.TLSSocket): void {
  socket.end();
  setTimeout(() => socket.destroy(), GRACEFUL_CLOSE_MS).unref();
}
