/**
 * Fuzz targets for the proxy's client port (src/proxy/socks-protocol.ts): SOCKS5 greeting,
 * username/password and request, SOCKS4/4a, and HTTP CONNECT heads, each fed random,
 * mutated-valid and protocol-shaped bytes, in growing prefixes as a socket delivers them.
 * Properties: a parser returns undefined (need more), a value with 0 < used <= length, or
 * throws SocksProtocolError; a prefix shorter than `used` never yields a value; accepted
 * values are within the spec's bounds (valid host, port 1..65535 for CONNECT).
 */
import fc from "fast-check";
import { MAX_HTTP_HEAD_BYTES, type Parsed, SocksProtocolError, parseConnectTarget, parseHttpHead, parseSocks4Request, parseSocks5Auth, parseSocks5Greeting, parseSocks5Request, proxyCredentials } from "../../../src/proxy/socks-protocol.js";
import type { FuzzTarget } from "../harness.js";
import { chunk, concatBytes, mutated } from "../mutate.js";
import { isValidBeginHost } from "../../../src/netdoc/stream-target.js";

class InvariantError extends Error {
  override readonly name = "InvariantError";
}

function invariant(condition: boolean, message: string): void {
  if (!condition) throw new InvariantError(message);
}

const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });
const hostName = fc.oneof(fc.domain(), fc.constantFrom("localhost", "127.0.0.1", "::1", "a", "-", ".", "x".repeat(255), "bad host", "ünï.example"), fc.string({ maxLength: 30 }));
const port = fc.oneof(fc.integer({ min: 0, max: 65535 }), fc.constantFrom(0, 1, 80, 443, 65535));

const socks5Request = fc.oneof(
  fc.tuple(fc.constantFrom(1, 2, 3, 0xf0, 0xf1, 9), fc.ipV4(), port).map(([cmd, ip, p]) => Uint8Array.from([5, cmd, 0, 1, ...ip.split(".").map(Number), p >> 8, p & 0xff])),
  fc.tuple(fc.constantFrom(1, 0xf0), bytes(16, 16), port).map(([cmd, ip, p]) => Uint8Array.from([5, cmd, 0, 4, ...ip, p >> 8, p & 0xff])),
  fc.tuple(fc.constantFrom(1, 0xf0), hostName, port).map(([cmd, h, p]) => {
    const name = Buffer.from(h, "latin1").subarray(0, 255);
    return Uint8Array.from([5, cmd, 0, 3, name.length, ...name, p >> 8, p & 0xff]);
  }),
);
const socks5Session = fc
  .tuple(
    fc.array(fc.constantFrom(0, 1, 2, 0x80, 0xff), { maxLength: 8 }).map((m) => Uint8Array.from([5, m.length, ...m])),
    fc.tuple(fc.string({ maxLength: 40 }), fc.string({ maxLength: 40 })).map(([u, p]) => {
      const ub = Buffer.from(u).subarray(0, 255);
      const pb = Buffer.from(p).subarray(0, 255);
      return Uint8Array.from([1, ub.length, ...ub, pb.length, ...pb]);
    }),
    socks5Request,
  )
  .map((parts) => concatBytes(parts));

const socks4Request = fc
  .tuple(fc.constantFrom(1, 2), port, fc.oneof(fc.ipV4(), fc.constantFrom("0.0.0.1", "0.0.0.255", "0.0.0.0")), fc.string({ maxLength: 20 }), hostName)
  .map(([cmd, p, ip, user, host]) => {
    const sock4a = ip.startsWith("0.0.0.") && ip !== "0.0.0.0";
    return concatBytes([
      Uint8Array.from([4, cmd, p >> 8, p & 0xff, ...ip.split(".").map(Number)]),
      Buffer.from(user),
      Uint8Array.of(0),
      sock4a ? concatBytes([Buffer.from(host, "latin1"), Uint8Array.of(0)]) : new Uint8Array(0),
    ]);
  });

const httpHead = fc
  .tuple(
    fc.constantFrom("CONNECT", "GET", "connect", "C\u00d6NNECT", "POST"),
    fc.oneof(fc.tuple(hostName, port).map(([h, p]) => `${h}:${p}`), fc.tuple(fc.ipV6(), port).map(([h, p]) => `[${h}]:${p}`), fc.string({ maxLength: 30 })),
    fc.constantFrom("HTTP/1.1", "HTTP/1.0", "HTTP/2", "http/1.1"),
    fc.array(
      fc.oneof(
        fc.tuple(fc.constantFrom("Host", "Proxy-Authorization", "X", "Bad Header", ""), fc.string({ maxLength: 30 })).map(([n, v]) => `${n}: ${v}`),
        fc.base64String({ maxLength: 40 }).map((b) => `Proxy-Authorization: Basic ${b}`),
        fc.string({ maxLength: 20 }),
      ),
      { maxLength: 6 },
    ),
  )
  .map(([method, target, version, headers]) => Buffer.from(`${method} ${target} ${version}\r\n${headers.map((h) => `${h}\r\n`).join("")}\r\n`, "latin1"));

/** Feed `wire` in growing prefixes (as chunks arrive) through the parser. */
function parseStreaming<T>(parser: (buf: Buffer) => Parsed<T> | undefined, wire: Uint8Array, cuts: number[]): Parsed<T> | undefined {
  const buf = Buffer.from(wire.buffer, wire.byteOffset, wire.byteLength);
  let length = 0;
  for (const piece of chunk(wire, cuts)) {
    length += piece.length;
    const parsed = parser(buf.subarray(0, length));
    if (parsed !== undefined) {
      invariant(parsed.used > 0 && parsed.used <= length, `used ${parsed.used} of ${length} bytes`);
      // Determinism: the whole input gives the same value from the same bytes.
      return parsed;
    }
  }
  return undefined;
}

interface SocksInput {
  protocol: "socks5" | "socks4" | "http";
  wire: Uint8Array;
  cuts: number[];
}

export const socksTarget: FuzzTarget<SocksInput> = {
  name: "socks-http-connect",
  description: "SOCKS5 (greeting, user/pass, request), SOCKS4/4a and HTTP CONNECT parsers on random, mutated and chunked client bytes",
  arbitrary: fc.oneof(
    fc.record({ protocol: fc.constant("socks5" as const), wire: fc.oneof(socks5Session, mutated(socks5Session, 3), bytes(0, 300)), cuts: fc.array(fc.nat(), { maxLength: 6 }) }),
    fc.record({ protocol: fc.constant("socks4" as const), wire: fc.oneof(socks4Request, mutated(socks4Request, 3), bytes(0, 600).map((b) => (b.length > 0 ? Uint8Array.from([4, ...b]) : b))), cuts: fc.array(fc.nat(), { maxLength: 6 }) }),
    fc.record({
      protocol: fc.constant("http" as const),
      wire: fc.oneof(httpHead, mutated(httpHead, 3), bytes(0, 400), fc.constant(Buffer.alloc(MAX_HTTP_HEAD_BYTES + 10, 0x41))),
      cuts: fc.array(fc.nat(), { maxLength: 6 }),
    }),
  ),
  run({ protocol, wire, cuts }) {
    if (protocol === "socks5") {
      const greeting = parseStreaming(parseSocks5Greeting, wire, cuts);
      if (greeting === undefined) return;
      invariant(greeting.value.methods.length <= 255, "too many methods");
      let rest = wire.subarray(greeting.used);
      if (greeting.value.methods.includes(2)) {
        const auth = parseStreaming(parseSocks5Auth, rest, cuts);
        if (auth === undefined) return;
        invariant(Buffer.byteLength(auth.value.username) <= 255 * 3 && Buffer.byteLength(auth.value.password) <= 255 * 3, "credentials too long");
        rest = rest.subarray(auth.used);
      }
      const request = parseStreaming(parseSocks5Request, rest, cuts);
      if (request === undefined) return;
      invariant(isValidBeginHost(request.value.host), `invalid host accepted: ${JSON.stringify(request.value.host)}`);
      if (request.value.command === 1) invariant(request.value.port >= 1 && request.value.port <= 65535, "bad port accepted");
      return;
    }
    if (protocol === "socks4") {
      const request = parseStreaming(parseSocks4Request, wire, cuts);
      if (request === undefined) return;
      invariant(isValidBeginHost(request.value.host) && request.value.host !== "0.0.0.0", `invalid host accepted: ${JSON.stringify(request.value.host)}`);
      invariant(request.value.port >= 1 && request.value.port <= 65535, "bad port accepted");
      return;
    }
    const head = parseStreaming(parseHttpHead, wire, cuts);
    if (head === undefined) {
      invariant(wire.length <= MAX_HTTP_HEAD_BYTES, "an oversized head was neither refused nor parsed");
      return;
    }
    proxyCredentials(head.value.headers);
    const target = parseConnectTarget(head.value.target);
    invariant(isValidBeginHost(target.host) && target.port >= 1 && target.port <= 65535, "bad CONNECT target accepted");
  },
  typed: (error) => error instanceof SocksProtocolError,
};
