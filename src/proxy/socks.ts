/**
 * The proxy's client port: one TCP listener serving SOCKS5, SOCKS4/4a and HTTP CONNECT,
 * told apart by the first byte (0x05, 0x04, else HTTP). Host names go to the exit unresolved.
 * Once a stream is open, bytes are piped both ways with backpressure, and a FIN from either
 * side becomes a half-close on the other (END DONE towards the exit).
 */
import net from "node:net";
import type { Duplex } from "node:stream";
import { componentLogger, type Logger } from "../common/log.js";
import { endReasonName, httpStatusFor, Socks5Reply, socks5ReplyFor, toEndReason } from "../onion/reasons.js";
import {
  chooseSocks5Method,
  httpResponse,
  isolationKeyFor,
  notATunnelResponse,
  parseConnectTarget,
  parseHttpHead,
  parseSocks4Request,
  parseSocks5Auth,
  parseSocks5Greeting,
  parseSocks5Request,
  proxyCredentials,
  type Parsed,
  Socks5Command,
  Socks5Method,
  socks4Reply,
  SOCKS4_GRANTED,
  SOCKS4_REJECTED,
  socks5Reply,
  socks5ResolvedReply,
  SocksProtocolError,
} from "./socks-protocol.js";

const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
/** Bytes a client may send beyond a complete request before the stream opens. */
const MAX_EARLY_DATA = 64 * 1024;

export type ClientProtocol = "socks5" | "socks4" | "http-connect";

export interface StreamRequest {
  host: string;
  port: number;
  /** "" for no credentials; see isolationKeyFor. */
  isolationKey: string;
  protocol: ClientProtocol;
}

export interface OpenedStream {
  stream: Duplex;
  /** Payload accounting: client → destination. */
  countSent?(bytes: number): void;
  /** Payload accounting: destination → client. */
  countReceived?(bytes: number): void;
}

/**
 * What the port needs from the circuit layer. Failures should be StreamError (their
 * EndReason picks the reply code); anything else is answered as a general failure.
 */
export interface StreamBackend {
  openStream(request: StreamRequest): Promise<OpenedStream>;
  resolve?(host: string, isolationKey: string): Promise<string[]>;
}

export interface SocksServerOptions {
  host: string;
  port: number;
  backend: StreamBackend;
  /** Time allowed from accept to a complete request. */
  handshakeTimeoutMs?: number;
  log?: Logger;
}

export interface SocksServer {
  /** The bound address (the real port when 0 was asked for). */
  readonly host: string;
  readonly port: number;
  /** Stops listening and destroys every client connection. */
  close(): Promise<void>;
}

export async function startSocksServer(options: SocksServerOptions): Promise<SocksServer> {
  const log = options.log ?? componentLogger("proxy", { part: "socks" });
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    void serveClient(socket, options, log);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", (err) => log.warn({ err }, "client port error"));
  const bound = server.address() as net.AddressInfo;
  return {
    host: bound.address,
    port: bound.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

/** Accumulates a connection's bytes until a parser recognises a complete message. */
class HandshakeReader {
  private buffer: Buffer = Buffer.alloc(0);
  private wake: (() => void) | undefined;
  private ended = false;

  constructor(private readonly socket: net.Socket) {
    socket.on("data", this.onData);
    socket.on("end", this.onEnd);
    socket.on("close", this.onEnd);
  }

  private readonly onData = (chunk: Buffer) => {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    // Past any complete request the parsers accept, so stop reading and let TCP push back.
    if (this.buffer.length > MAX_EARLY_DATA) this.socket.pause();
    this.wake?.();
  };

  private readonly onEnd = () => {
    this.ended = true;
    this.wake?.();
  };

  async read<T>(parser: (buf: Buffer) => Parsed<T> | undefined): Promise<T> {
    for (;;) {
      const parsed = parser(this.buffer);
      if (parsed) {
        this.buffer = this.buffer.subarray(parsed.used);
        return parsed.value;
      }
      if (this.ended) throw new SocksProtocolError("client closed the connection mid-request");
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }

  /** Stops reading; returns what the client sent beyond the request (early data). */
  detach(): Buffer {
    this.socket.off("data", this.onData);
    this.socket.off("end", this.onEnd);
    this.socket.off("close", this.onEnd);
    this.socket.pause();
    return this.buffer;
  }
}

async function serveClient(socket: net.Socket, options: SocksServerOptions, log: Logger): Promise<void> {
  socket.on("error", (err) => log.debug({ err }, "client socket error"));
  const timer = setTimeout(() => {
    log.debug("client handshake timed out");
    socket.destroy();
  }, options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS);
  const reader = new HandshakeReader(socket);
  try {
    const first = await reader.read((buf) => (buf.length > 0 ? { value: buf[0], used: 0 } : undefined));
    if (first === 0x05) await serveSocks5(socket, reader, options.backend, timer, log);
    else if (first === 0x04) await serveSocks4(socket, reader, options.backend, timer, log);
    else if ((first >= 0x41 && first <= 0x5a) || (first >= 0x61 && first <= 0x7a)) await serveHttp(socket, reader, options.backend, timer, log);
    else {
      log.debug({ first }, "unknown client protocol");
      socket.destroy();
    }
  } catch (err) {
    // Bad input or an early disconnect: answer if the protocol has a way to, then close.
    log.debug({ err }, "client request failed");
    socket.destroy();
  } finally {
    clearTimeout(timer);
  }
}

/** Writes a final answer and closes the connection once it is flushed. */
function answerAndClose(socket: net.Socket, bytes: Buffer): void {
  if (socket.destroyed) return;
  socket.end(bytes);
  // A client that never reads must not keep the socket: give the answer a moment.
  setTimeout(() => socket.destroy(), 2000).unref();
}

async function serveSocks5(socket: net.Socket, reader: HandshakeReader, backend: StreamBackend, timer: NodeJS.Timeout, log: Logger): Promise<void> {
  const method = chooseSocks5Method(await reader.read(parseSocks5Greeting));
  socket.write(Buffer.from([0x05, method]));
  if (method === Socks5Method.NONE_ACCEPTABLE) return answerAndClose(socket, Buffer.alloc(0));
  let isolationKey = "";
  if (method === Socks5Method.USERNAME_PASSWORD) {
    const credentials = await reader.read(parseSocks5Auth);
    isolationKey = isolationKeyFor(credentials.username, credentials.password);
    socket.write(Buffer.from([0x01, 0x00]));
  }
  let request;
  try {
    request = await reader.read(parseSocks5Request);
  } catch (err) {
    const reply = err instanceof SocksProtocolError ? err.answer.socks5Reply : undefined;
    if (reply === undefined) throw err;
    return answerAndClose(socket, socks5Reply(reply));
  }
  clearTimeout(timer);
  if (request.command === Socks5Command.RESOLVE) {
    if (!backend.resolve) return answerAndClose(socket, socks5Reply(Socks5Reply.COMMAND_NOT_SUPPORTED));
    try {
      const [address] = await backend.resolve(request.host, isolationKey);
      return answerAndClose(socket, address === undefined ? socks5Reply(Socks5Reply.HOST_UNREACHABLE) : socks5ResolvedReply(address));
    } catch (err) {
      return answerAndClose(socket, socks5Reply(socks5ReplyFor(err)));
    }
  }
  await connectAndPipe(log, socket, reader, backend, { host: request.host, port: request.port, isolationKey, protocol: "socks5" }, {
    granted: () => socks5Reply(Socks5Reply.SUCCEEDED),
    refused: (err) => socks5Reply(socks5ReplyFor(err)),
  });
}

async function serveSocks4(socket: net.Socket, reader: HandshakeReader, backend: StreamBackend, timer: NodeJS.Timeout, log: Logger): Promise<void> {
  let request;
  try {
    request = await reader.read(parseSocks4Request);
  } catch (err) {
    const reply = err instanceof SocksProtocolError ? err.answer.socks4Reply : undefined;
    if (reply === undefined) throw err;
    return answerAndClose(socket, socks4Reply(reply));
  }
  clearTimeout(timer);
  const isolationKey = isolationKeyFor(request.userId, "");
  await connectAndPipe(log, socket, reader, backend, { host: request.host, port: request.port, isolationKey, protocol: "socks4" }, {
    granted: () => socks4Reply(SOCKS4_GRANTED),
    refused: () => socks4Reply(SOCKS4_REJECTED),
  });
}

async function serveHttp(socket: net.Socket, reader: HandshakeReader, backend: StreamBackend, timer: NodeJS.Timeout, log: Logger): Promise<void> {
  let head;
  let target;
  try {
    head = await reader.read(parseHttpHead);
    if (head.method !== "CONNECT") return answerAndClose(socket, notATunnelResponse(head.method));
    target = parseConnectTarget(head.target);
  } catch (err) {
    const status = err instanceof SocksProtocolError ? err.answer.httpStatus : undefined;
    if (status === undefined) throw err;
    return answerAndClose(socket, httpResponse(status, `${(err as Error).message}\n`));
  }
  clearTimeout(timer);
  const credentials = proxyCredentials(head.headers);
  const isolationKey = credentials ? isolationKeyFor(credentials.username, credentials.password) : "";
  await connectAndPipe(log, socket, reader, backend, { ...target, isolationKey, protocol: "http-connect" }, {
    granted: () => httpResponse(200),
    refused: (err) => {
      return httpResponse(httpStatusFor(err), `MeowOnion could not open the stream: ${endReasonName(toEndReason(err))}\n`);
    },
  });
}

async function connectAndPipe(
  log: Logger,
  socket: net.Socket,
  reader: HandshakeReader,
  backend: StreamBackend,
  request: StreamRequest,
  answers: { granted: () => Buffer; refused: (err: unknown) => Buffer },
): Promise<void> {
  const early = reader.detach();
  let opened: OpenedStream;
  try {
    opened = await backend.openStream(request);
  } catch (err) {
    log.debug({ err, protocol: request.protocol }, "stream refused");
    return answerAndClose(socket, answers.refused(err));
  }
  if (socket.destroyed) {
    opened.stream.destroy();
    return;
  }
  socket.write(answers.granted());
  pipeBothWays(socket, opened, early, log);
}

/**
 * socket ⇄ stream with backpressure (pipe pauses the faster side). An end on either side
 * is forwarded as a half-close; an error on either side tears down both.
 */
function pipeBothWays(socket: net.Socket, opened: OpenedStream, early: Buffer, log: Logger): void {
  const { stream } = opened;
  if (early.length > 0) {
    opened.countSent?.(early.length);
    stream.write(early);
  }
  socket.on("data", (chunk: Buffer) => opened.countSent?.(chunk.length));
  // A circuit delivers the cells of one TLS record (≤ 16 KiB) per chunk, and one read from the
  // link's socket decrypts into several records: cork the socket until the event loop has
  // handled the whole read, so it leaves in one write, not one syscall per record.
  let corked = false;
  stream.on("data", (chunk: Buffer) => {
    opened.countReceived?.(chunk.length);
    if (corked) return;
    // A small delivery (an interactive reply) is written at once: no bulk to coalesce.
    if (chunk.length <= 2048) return;
    corked = true;
    socket.cork();
    setImmediate(() => {
      corked = false;
      socket.uncork();
    });
  });
  socket.pipe(stream);
  stream.pipe(socket);
  stream.on("error", (err) => {
    log.debug({ err }, "stream error");
    socket.destroy();
  });
  socket.on("close", () => {
    if (!stream.destroyed) stream.destroy();
  });
  stream.on("close", () => {
    // The stream is gone; a socket that still waits for data from it would wait forever.
    if (!socket.destroyed && !socket.writableEnded) socket.destroy();
  });
}
