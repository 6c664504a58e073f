/**
 * Wire formats of the proxy's client port, as pure functions over a receive buffer: SOCKS5
 * (RFC 1928) with username/password (RFC 1929) and Tor's RESOLVE extension, SOCKS4/4a, and
 * HTTP/1.1 CONNECT. A parser returns undefined while the buffer holds too little, the value
 * and the bytes used once it is complete, and throws SocksProtocolError (which says how to
 * answer) when the input is invalid. Every field is bounded.
 */
import { isIP } from "node:net";
import { isValidBeginHost } from "../netdoc/stream-target.js";
import { Socks5Reply } from "../onion/reasons.js";

/** Largest HTTP request head (request line and headers) accepted. */
export const MAX_HTTP_HEAD_BYTES = 16 * 1024;
const MAX_HTTP_HEADERS = 100;

export interface Parsed<T> {
  value: T;
  used: number;
}

/** Invalid client input; the reply fields say what to answer before closing. */
export class SocksProtocolError extends Error {
  override readonly name = "SocksProtocolError";
  constructor(
    message: string,
    readonly answer: { socks5Reply?: number; socks4Reply?: number; httpStatus?: number } = {},
  ) {
    super(message);
  }
}

export const Socks5Method = { NO_AUTH: 0x00, USERNAME_PASSWORD: 0x02, NONE_ACCEPTABLE: 0xff } as const;
/** The commands served: CONNECT, and Tor's RESOLVE extension (BIND, UDP ASSOCIATE get 0x07). */
export const Socks5Command = { CONNECT: 0x01, RESOLVE: 0xf0 } as const;
const ATYP_IPV4 = 0x01;
const ATYP_DOMAIN = 0x03;
const ATYP_IPV6 = 0x04;
export const SOCKS4_GRANTED = 0x5a;
export const SOCKS4_REJECTED = 0x5b;

function validPort(port: number): boolean {
  return Number.isInteger(port) && port >= 1 && port <= 65535;
}

/**
 * The stream isolation key for client credentials (Tor's IsolateSOCKSAuth): equal
 * credentials share circuits, different ones never do; none gives the default key "".
 */
export function isolationKeyFor(username: string, password: string): string {
  if (username === "" && password === "") return "";
  return `${encodeURIComponent(username)}:${encodeURIComponent(password)}`;
}

// ---------------------------------------------------------------------------- SOCKS5

export interface Socks5Greeting {
  methods: number[];
}

export function parseSocks5Greeting(buf: Buffer): Parsed<Socks5Greeting> | undefined {
  if (buf.length < 2) return undefined;
  if (buf[0] !== 0x05) throw new SocksProtocolError("not a SOCKS5 greeting");
  const n = buf[1];
  if (buf.length < 2 + n) return undefined;
  return { value: { methods: [...buf.subarray(2, 2 + n)] }, used: 2 + n };
}

export function chooseSocks5Method(greeting: Socks5Greeting): number {
  // Credentials select isolation, so take them whenever the client offers them (as Tor).
  if (greeting.methods.includes(Socks5Method.USERNAME_PASSWORD)) return Socks5Method.USERNAME_PASSWORD;
  if (greeting.methods.includes(Socks5Method.NO_AUTH)) return Socks5Method.NO_AUTH;
  return Socks5Method.NONE_ACCEPTABLE;
}

export interface Socks5Credentials {
  username: string;
  password: string;
}

export function parseSocks5Auth(buf: Buffer): Parsed<Socks5Credentials> | undefined {
  if (buf.length < 2) return undefined;
  if (buf[0] !== 0x01) throw new SocksProtocolError("bad username/password subnegotiation version");
  const ulen = buf[1];
  if (buf.length < 3 + ulen) return undefined;
  const plen = buf[2 + ulen];
  const end = 3 + ulen + plen;
  if (buf.length < end) return undefined;
  return {
    value: { username: buf.toString("utf8", 2, 2 + ulen), password: buf.toString("utf8", 3 + ulen, end) },
    used: end,
  };
}

export interface SocksRequest {
  command: number;
  host: string;
  port: number;
}

export function parseSocks5Request(buf: Buffer): Parsed<SocksRequest> | undefined {
  if (buf.length < 5) return undefined;
  if (buf[0] !== 0x05 || buf[2] !== 0x00) throw new SocksProtocolError("malformed SOCKS5 request", { socks5Reply: Socks5Reply.GENERAL_FAILURE });
  const command = buf[1];
  const known: number[] = [Socks5Command.CONNECT, Socks5Command.RESOLVE];
  if (!known.includes(command)) {
    throw new SocksProtocolError(`SOCKS5 command ${command} not supported`, { socks5Reply: Socks5Reply.COMMAND_NOT_SUPPORTED });
  }
  let host: string;
  let offset: number;
  switch (buf[3]) {
    case ATYP_IPV4:
      if (buf.length < 10) return undefined;
      host = [...buf.subarray(4, 8)].join(".");
      offset = 8;
      break;
    case ATYP_IPV6: {
      if (buf.length < 22) return undefined;
      const groups: string[] = [];
      for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(4 + 2 * i).toString(16));
      host = compressIpv6(groups);
      offset = 20;
      break;
    }
    case ATYP_DOMAIN: {
      const len = buf[4];
      if (buf.length < 5 + len + 2) return undefined;
      host = buf.toString("latin1", 5, 5 + len);
      offset = 5 + len;
      if (!isValidBeginHost(host)) throw new SocksProtocolError("malformed host name", { socks5Reply: Socks5Reply.GENERAL_FAILURE });
      break;
    }
    default:
      throw new SocksProtocolError(`SOCKS5 address type ${buf[3]} not supported`, {
        socks5Reply: Socks5Reply.ADDRESS_TYPE_NOT_SUPPORTED,
      });
  }
  const port = buf.readUInt16BE(offset);
  if (command === Socks5Command.CONNECT && !validPort(port)) {
    throw new SocksProtocolError("port 0", { socks5Reply: Socks5Reply.GENERAL_FAILURE });
  }
  return { value: { command, host, port }, used: offset + 2 };
}

/** RFC 5952 text of eight hex groups (longest run of two or more zero groups as "::"). */
function compressIpv6(groups: string[]): string {
  let best = { start: -1, len: 0 };
  for (let i = 0; i < 8; ) {
    if (groups[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > best.len && j - i >= 2) best = { start: i, len: j - i };
    i = j;
  }
  if (best.start < 0) return groups.join(":");
  return `${groups.slice(0, best.start).join(":")}::${groups.slice(best.start + best.len).join(":")}`;
}

/** A reply with an all-zero bound address: the proxy does not reveal where it connected. */
export function socks5Reply(code: number): Buffer {
  return Buffer.from([0x05, code, 0x00, ATYP_IPV4, 0, 0, 0, 0, 0, 0]);
}

/** Answer to Tor's RESOLVE command: the first address the exit found. */
export function socks5ResolvedReply(address: string): Buffer {
  const family = isIP(address);
  if (family === 4) return Buffer.from([0x05, 0x00, 0x00, ATYP_IPV4, ...address.split(".").map(Number), 0, 0]);
  if (family === 6) {
    const bytes = encodeIpv6(address);
    return Buffer.concat([Buffer.from([0x05, 0x00, 0x00, ATYP_IPV6]), bytes, Buffer.alloc(2)]);
  }
  return socks5Reply(Socks5Reply.HOST_UNREACHABLE);
}

/** The 16 bytes of an IPv6 address in text form. */
export function encodeIpv6(address: string): Buffer {
  const [head, tail] = address.includes("::") ? address.split("::") : [address, undefined];
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), 2 * i));
  return out;
}

// ---------------------------------------------------------------------------- SOCKS4/4a

export interface Socks4Request extends SocksRequest {
  userId: string;
}

export function parseSocks4Request(buf: Buffer): Parsed<Socks4Request> | undefined {
  if (buf.length < 9) return undefined;
  if (buf[0] !== 0x04) throw new SocksProtocolError("not a SOCKS4 request");
  const command = buf[1];
  if (command !== Socks5Command.CONNECT) {
    throw new SocksProtocolError(`SOCKS4 command ${command} not supported`, { socks4Reply: SOCKS4_REJECTED });
  }
  const port = buf.readUInt16BE(2);
  const userEnd = buf.indexOf(0, 8);
  if (userEnd < 0) {
    if (buf.length > 8 + 256) throw new SocksProtocolError("SOCKS4 user id too long", { socks4Reply: SOCKS4_REJECTED });
    return undefined;
  }
  const userId = buf.toString("utf8", 8, userEnd);
  let host = [...buf.subarray(4, 8)].join(".");
  let used = userEnd + 1;
  // SOCKS4a: 0.0.0.x with x != 0 says a host name follows the user id.
  if (buf[4] === 0 && buf[5] === 0 && buf[6] === 0 && buf[7] !== 0) {
    const hostEnd = buf.indexOf(0, used);
    if (hostEnd < 0) {
      if (buf.length > used + 256) throw new SocksProtocolError("SOCKS4a host name too long", { socks4Reply: SOCKS4_REJECTED });
      return undefined;
    }
    host = buf.toString("latin1", used, hostEnd);
    used = hostEnd + 1;
  }
  if (!isValidBeginHost(host) || host === "0.0.0.0" || !validPort(port)) {
    throw new SocksProtocolError("bad SOCKS4 destination", { socks4Reply: SOCKS4_REJECTED });
  }
  return { value: { command, host, port, userId }, used };
}

export function socks4Reply(code: number): Buffer {
  return Buffer.from([0x00, code, 0, 0, 0, 0, 0, 0]);
}

// ---------------------------------------------------------------------------- HTTP CONNECT

export interface HttpRequestHead {
  method: string;
  target: string;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Map<string, string>;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export function parseHttpHead(buf: Buffer): Parsed<HttpRequestHead> | undefined {
  const end = buf.indexOf("\r\n\r\n");
  if (end < 0) {
    if (buf.length > MAX_HTTP_HEAD_BYTES) throw new SocksProtocolError("request head too large", { httpStatus: 431 });
    return undefined;
  }
  if (end > MAX_HTTP_HEAD_BYTES) throw new SocksProtocolError("request head too large", { httpStatus: 431 });
  const lines = buf.toString("latin1", 0, end).split("\r\n");
  const m = /^(\S+) (\S+) HTTP\/1\.[01]$/.exec(lines[0]);
  if (!m || !TOKEN.test(m[1])) throw new SocksProtocolError("malformed request line", { httpStatus: 400 });
  if (lines.length - 1 > MAX_HTTP_HEADERS) throw new SocksProtocolError("too many headers", { httpStatus: 431 });
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    const name = line.slice(0, colon).toLowerCase();
    if (colon <= 0 || !TOKEN.test(name)) throw new SocksProtocolError("malformed header", { httpStatus: 400 });
    const value = line.slice(colon + 1).trim();
    const prev = headers.get(name);
    headers.set(name, prev === undefined ? value : `${prev}, ${value}`);
  }
  return { value: { method: m[1], target: m[2], headers }, used: end + 4 };
}

/** "host:port" or "[v6]:port" of a CONNECT request. */
export function parseConnectTarget(target: string): { host: string; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(target);
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  if (host === undefined || !validPort(port) || !isValidBeginHost(host) || (m?.[1] !== undefined && isIP(host) !== 6)) {
    throw new SocksProtocolError("CONNECT target must be host:port, with a valid host name or IP address", { httpStatus: 400 });
  }
  return { host, port };
}

/** Credentials from "Proxy-Authorization: Basic …", if any. */
export function proxyCredentials(headers: Map<string, string>): Socks5Credentials | undefined {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(headers.get("proxy-authorization") ?? "");
  if (!m) return undefined;
  const decoded = Buffer.from(m[1], "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  return colon < 0 ? { username: decoded, password: "" } : { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

const STATUS_TEXT: Record<number, string> = {
  200: "Connection established",
  400: "Bad Request",
  403: "Forbidden",
  405: "Method Not Allowed",
  431: "Request Header Fields Too Large",
  501: "Not Implemented",
  502: "Bad Gateway",
  504: "Gateway Timeout",
};

export function httpResponse(status: number, body = "", extraHeaders: Record<string, string> = {}): Buffer {
  const head = [`HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? "Error"}`];
  if (status !== 200) {
    head.push("Content-Type: text/plain; charset=utf-8", `Content-Length: ${Buffer.byteLength(body)}`, "Connection: close");
  }
  for (const [name, value] of Object.entries(extraHeaders)) head.push(`${name}: ${value}`);
  return Buffer.from(`${head.join("\r\n")}\r\n\r\n${status === 200 ? "" : body}`);
}

const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE"]);

/** The answer to a request that is not CONNECT: 405 for HTTP methods, 501 for the rest. */
export function notATunnelResponse(method: string): Buffer {
  const body =
    "This is a MeowOnion proxy port: it speaks SOCKS5, SOCKS4a and HTTP CONNECT only.\n" +
    "Configure your program to use it as a SOCKS5 or HTTPS proxy, e.g.\n" +
    "  curl --socks5-hostname HOST:PORT http://example/\n";
  return KNOWN_METHODS.has(method) ? httpResponse(405, body, { Allow: "CONNECT" }) : httpResponse(501, body);
}
