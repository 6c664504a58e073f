/**
 * A SOCKS5 client (RFC 1928, CONNECT; RFC 1929 username/password, which MeowOnion and Tor take
 * as a stream isolation key): the terminal UI, the tests and the benchmarks all go through this
 * one. IP literals are sent as addresses, names as DOMAINNAME: the exit resolves them, the
 * client never does DNS itself.
 */
import { connect, isIP, type Socket } from "node:net";
import { MeowOnionError } from "../onion/errors.js";
import { kindOfSocks5Reply, Socks5Reply } from "../onion/reasons.js";
import { encodeIpv6 } from "./socks-protocol.js";

const DEFAULT_TIMEOUT_MS = 30_000;

/** What each SOCKS5 reply code means (RFC 1928 §6). */
export const SOCKS5_REPLY_TEXT: Record<number, string> = {
  [Socks5Reply.SUCCEEDED]: "succeeded",
  [Socks5Reply.GENERAL_FAILURE]: "general SOCKS server failure",
  [Socks5Reply.NOT_ALLOWED]: "connection not allowed by ruleset",
  [Socks5Reply.NETWORK_UNREACHABLE]: "network unreachable",
  [Socks5Reply.HOST_UNREACHABLE]: "host unreachable",
  [Socks5Reply.CONNECTION_REFUSED]: "connection refused",
  [Socks5Reply.TTL_EXPIRED]: "TTL expired",
  [Socks5Reply.COMMAND_NOT_SUPPORTED]: "command not supported",
  [Socks5Reply.ADDRESS_TYPE_NOT_SUPPORTED]: "address type not supported",
  [Socks5Reply.ONION_SERVICE_NOT_FOUND]: "onion service descriptor not found",
  [Socks5Reply.ONION_SERVICE_DESCRIPTOR_INVALID]: "onion service descriptor invalid",
  [Socks5Reply.ONION_SERVICE_INTRODUCTION_FAILED]: "onion service introduction failed",
  [Socks5Reply.ONION_SERVICE_RENDEZVOUS_FAILED]: "onion service rendezvous failed",
  [Socks5Reply.ONION_SERVICE_MISSING_CLIENT_AUTH]: "onion service client authorization missing",
  [Socks5Reply.ONION_SERVICE_BAD_CLIENT_AUTH]: "onion service client authorization wrong",
  [Socks5Reply.ONION_SERVICE_BAD_ADDRESS]: "onion service address invalid",
  [Socks5Reply.ONION_SERVICE_INTRODUCTION_TIMEOUT]: "onion service introduction timed out",
};

/** The SOCKS server refused (`reply` is its code) or broke the protocol (`reply` undefined). */
export class SocksError extends MeowOnionError {
  override readonly name = "SocksError";

  constructor(
    message: string,
    readonly reply?: number,
  ) {
    super(reply === undefined ? "protocol-violation" : kindOfSocks5Reply(reply), message);
  }
}

export interface SocksConnectOptions {
  /** The SOCKS listener. */
  proxyHost: string;
  proxyPort: number;
  /** Destination: a host name (resolved by the exit) or an IP literal. */
  host: string;
  port: number;
  /** Isolation credentials: a different username gets a different circuit. */
  username?: string;
  password?: string;
  /** Deadline for the whole handshake, ms (default 30 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Bind the client socket to this local address (e.g. another 127.x address). */
  localAddress?: string;
}

/** The CONNECT request for a destination (IPv4, IPv6 or a domain name). */
export function encodeConnectRequest(host: string, port: number): Buffer {
  let address: Buffer;
  const family = isIP(host);
  if (family === 4) address = Buffer.from([1, ...host.split(".").map(Number)]);
  else if (family === 6) address = Buffer.concat([Buffer.from([4]), encodeIpv6(host)]);
  else {
    const name = Buffer.from(host, "utf8");
    if (name.length === 0 || name.length > 255) throw new SocksError(`host name must be 1..255 bytes: '${host}'`);
    address = Buffer.concat([Buffer.from([3, name.length]), name]);
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new SocksError(`port out of range: ${port}`);
  const portBytes = Buffer.alloc(2);
  portBytes.writeUInt16BE(port);
  return Buffer.concat([Buffer.from([5, 1, 0]), address, portBytes]);
}

/**
 * Opens a stream to host:port through the SOCKS5 server. Resolves with the connected socket
 * once the server replied "succeeded" (MeowOnion and Tor answer after the exit's CONNECTED);
 * rejects with SocksError carrying the reply code. TCP_NODELAY is set. The socket comes back
 * PAUSED with any bytes that arrived behind the reply still in it: attach handlers, then
 * resume() it (or pipe() it).
 */
export async function socksConnect(options: SocksConnectOptions): Promise<Socket> {
  const request = encodeConnectRequest(options.host, options.port);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const socket = connect({ host: options.proxyHost, port: options.proxyPort, localAddress: options.localAddress });
  socket.setNoDelay(true);
  socket.pause();
  const stop = (error: Error) => socket.destroy(error);
  const timer = setTimeout(() => stop(new SocksError(`SOCKS handshake not done within ${timeoutMs} ms`)), timeoutMs);
  const onAbort = () => stop(new MeowOnionError("cancelled", "SOCKS connect aborted"));
  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    const auth = options.username !== undefined;
    socket.write(Buffer.from(auth ? [5, 1, 2] : [5, 1, 0]));
    const method = await readExact(socket, 2);
    if (method[0] !== 5) throw new SocksError(`not a SOCKS5 server (version ${method[0]})`);
    if (method[1] === 2 && auth) {
      const user = Buffer.from(options.username ?? "", "utf8");
      const password = Buffer.from(options.password ?? "x", "utf8");
      if (user.length > 255 || password.length > 255) throw new SocksError("username/password too long");
      socket.write(Buffer.concat([Buffer.from([1, user.length]), user, Buffer.from([password.length]), password]));
      if ((await readExact(socket, 2))[1] !== 0) throw new SocksError("SOCKS username/password refused");
    } else if (method[1] !== 0) {
      throw new SocksError(`SOCKS server accepted no offered method (0x${method[1].toString(16)})`);
    }
    socket.write(request);
    const head = await readExact(socket, 4);
    if (head[0] !== 5) throw new SocksError(`bad SOCKS reply version ${head[0]}`);
    const reply = head[1];
    if (reply !== Socks5Reply.SUCCEEDED) {
      throw new SocksError(`SOCKS reply 0x${reply.toString(16).padStart(2, "0")}: ${SOCKS5_REPLY_TEXT[reply] ?? "unknown"}`, reply);
    }
    const type = head[3];
    const addressLength = type === 1 ? 4 : type === 4 ? 16 : type === 3 ? (await readExact(socket, 1))[0] : -1;
    if (addressLength < 0) throw new SocksError(`bad address type ${type} in SOCKS reply`);
    await readExact(socket, addressLength + 2);
    return socket;
  } catch (error) {
    socket.destroy();
    throw error;
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
  }
}

/** Reads exactly n bytes from a paused socket, leaving anything after them buffered. */
function readExact(socket: Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const tryRead = (): void => {
      const bytes = socket.read(n) as Buffer | null;
      if (bytes === null) return;
      if (bytes.length < n) return fail(new SocksError("SOCKS server closed the connection mid-reply"));
      cleanup();
      resolve(bytes);
    };
    const onEnd = (): void => fail(new SocksError("SOCKS server closed the connection during the handshake"));
    const fail = (error: Error): void => {
      cleanup();
      reject(error);
    };
    const cleanup = (): void => {
      socket.off("readable", tryRead);
      socket.off("end", onEnd);
      socket.off("close", onEnd);
      socket.off("error", fail);
    };
    socket.on("readable", tryRead);
    socket.on("end", onEnd);
    socket.on("close", onEnd);
    socket.on("error", fail);
    tryRead();
  });
}
