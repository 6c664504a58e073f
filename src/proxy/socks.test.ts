import { createHash, randomBytes } from "node:crypto";
import net from "node:net";
import { PassThrough } from "node:stream";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EndReason } from "../../gen/meowonion/v1/relay_pb.js";
import { startSocksServer, type SocksServer, type StreamBackend, type StreamRequest } from "./socks.js";
import {
  isolationKeyFor,
  parseConnectTarget,
  parseHttpHead,
  parseSocks4Request,
  parseSocks5Request,
  SocksProtocolError,
  socks5ResolvedReply,
} from "./socks-protocol.js";
import { StreamError } from "../onion/errors.js";
import { Socks5Reply } from "../onion/reasons.js";

/** A fake backend: every stream is an echo (PassThrough), or fails with the host's reason. */
class FakeBackend implements StreamBackend {
  requests: StreamRequest[] = [];
  sent = 0;
  received = 0;
  async openStream(request: StreamRequest) {
    this.requests.push(request);
    const m = /^fail-(\w+)\./.exec(request.host);
    if (m) {
      if (m[1] === "plain") throw new Error("boom");
      throw new StreamError(EndReason[m[1].toUpperCase() as keyof typeof EndReason], "refused");
    }
    return {
      stream: new PassThrough(),
      countSent: (n: number) => (this.sent += n),
      countReceived: (n: number) => (this.received += n),
    };
  }
  async resolve(host: string) {
    if (host.startsWith("fail-")) throw new StreamError(EndReason.RESOLVEFAILED, "nope");
    return host === "v6.example" ? ["2001:db8::1"] : ["192.0.2.7"];
  }
}

/** A raw client: write, then collect what the server sends until it closes or `n` bytes arrive. */
class RawClient {
  readonly socket: net.Socket;
  private data: Buffer = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  closed = false;
  ended = false;

  constructor(port: number) {
    this.socket = net.connect({ port, host: "127.0.0.1", allowHalfOpen: true });
    this.socket.on("data", (c: Buffer) => {
      this.data = Buffer.concat([this.data, c]);
      this.notify();
    });
    this.socket.on("end", () => {
      this.ended = true;
      this.socket.end(); // as a normal client: the server is done, so are we
      this.notify();
    });
    this.socket.on("close", () => {
      this.closed = true;
      this.notify();
    });
    this.socket.on("error", () => undefined);
  }

  private notify() {
    for (const w of this.waiters.splice(0)) w();
  }

  write(bytes: Buffer | number[] | string) {
    this.socket.write(typeof bytes === "string" ? bytes : Buffer.from(bytes));
  }

  async read(n: number): Promise<Buffer> {
    while (this.data.length < n) {
      if (this.closed || this.ended) throw new Error(`closed after ${this.data.length} of ${n} bytes: ${this.data.toString("hex")}`);
      await new Promise<void>((r) => this.waiters.push(r));
    }
    const out = this.data.subarray(0, n);
    this.data = this.data.subarray(n);
    return out;
  }

  /** Everything until the server closes or ends. */
  async rest(): Promise<Buffer> {
    const chunks: Buffer[] = [this.data];
    this.socket.removeAllListeners("data");
    this.socket.on("data", (c: Buffer) => chunks.push(c));
    while (!this.closed && !this.ended) await new Promise<void>((r) => this.waiters.push(r));
    this.data = Buffer.alloc(0);
    return Buffer.concat(chunks);
  }

  async untilClosed(): Promise<void> {
    while (!this.closed) await new Promise<void>((r) => this.waiters.push(r));
  }

  close() {
    this.socket.destroy();
  }
}

const socks5Domain = (host: string, port: number, command = 1) => [
  5,
  command,
  0,
  3,
  host.length,
  ...Buffer.from(host, "latin1"),
  port >> 8,
  port & 0xff,
];

let backend: FakeBackend;
let server: SocksServer;

beforeAll(async () => {
  backend = new FakeBackend();
  server = await startSocksServer({ host: "127.0.0.1", port: 0, backend, handshakeTimeoutMs: 300 });
});
afterAll(async () => {
  await server.close();
});

async function socks5(host: string, port: number, auth?: [string, string]): Promise<{ client: RawClient; reply: Buffer }> {
  const client = new RawClient(server.port);
  client.write(auth ? [5, 2, 0, 2] : [5, 1, 0]);
  expect([...(await client.read(2))]).toEqual([5, auth ? 2 : 0]);
  if (auth) {
    client.write([1, auth[0].length, ...Buffer.from(auth[0]), auth[1].length, ...Buffer.from(auth[1])]);
    expect([...(await client.read(2))]).toEqual([1, 0]);
  }
  client.write(socks5Domain(host, port));
  return { client, reply: await client.read(10) };
}

describe("SOCKS5", () => {
  it("connects to a host name unresolved, with no auth, and pipes both ways", async () => {
    const { client, reply } = await socks5("example.onion.test", 443);
    expect([...reply]).toEqual([5, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    expect(backend.requests.at(-1)).toEqual({ host: "example.onion.test", port: 443, isolationKey: "", protocol: "socks5" });
    client.write("meow");
    expect((await client.read(4)).toString()).toBe("meow");
    client.socket.end();
    await client.untilClosed();
  });

  it("uses username/password as the isolation key", async () => {
    const { client, reply } = await socks5("a.test", 80, ["alice", "s:cret"]);
    expect(reply[1]).toBe(0);
    expect(backend.requests.at(-1)?.isolationKey).toBe(isolationKeyFor("alice", "s:cret"));
    expect(isolationKeyFor("alice", "s:cret")).not.toBe(isolationKeyFor("alice:s", "cret"));
    client.close();
  });

  it("accepts IPv4 and IPv6 address types", async () => {
    for (const [atyp, addr, expected] of [
      [1, [127, 0, 0, 1], "127.0.0.1"],
      [4, [0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 1], "2001:db8::1"],
    ] as const) {
      const client = new RawClient(server.port);
      client.write([5, 1, 0, 5, 1, 0, atyp, ...addr, 0, 80]);
      expect([...(await client.read(2))]).toEqual([5, 0]);
      expect((await client.read(10))[1]).toBe(0);
      expect(backend.requests.at(-1)?.host).toBe(expected);
      client.close();
    }
  });

  it.each([
    ["exitpolicy", 0x02],
    ["connectrefused", 0x05],
    ["resolvefailed", 0x04],
    ["noroute", 0x04],
    ["timeout", 0x06],
    ["misc", 0x01],
    ["destroy", 0x01],
    ["plain", 0x01],
  ])("maps a %s failure to reply %i", async (reason, code) => {
    const { client, reply } = await socks5(`fail-${reason}.test`, 80);
    expect(reply[1]).toBe(code);
    await client.untilClosed();
  });

  it("refuses BIND (0x07), an unknown address type (0x08) and no acceptable method (0xFF)", async () => {
    const bind = new RawClient(server.port);
    bind.write([5, 1, 0, ...socks5Domain("x.test", 80, 2)]);
    expect([...(await bind.read(2))]).toEqual([5, 0]);
    expect((await bind.read(10))[1]).toBe(0x07);
    await bind.untilClosed();

    const atyp = new RawClient(server.port);
    atyp.write([5, 1, 0, 5, 1, 0, 9, 1, 2, 3]);
    await atyp.read(2);
    expect((await atyp.read(10))[1]).toBe(0x08);
    await atyp.untilClosed();

    const gssapi = new RawClient(server.port);
    gssapi.write([5, 1, 1]);
    expect([...(await gssapi.rest())]).toEqual([5, 0xff]);
  });

  it("answers Tor's RESOLVE extension with the exit's address", async () => {
    for (const [host, expected] of [
      ["a.example", [5, 0, 0, 1, 192, 0, 2, 7, 0, 0]],
      ["fail-x.example", [5, 4, 0, 1, 0, 0, 0, 0, 0, 0]],
    ] as const) {
      const client = new RawClient(server.port);
      client.write([5, 1, 0, ...socks5Domain(host, 0, 0xf0)]);
      await client.read(2);
      expect([...(await client.rest())]).toEqual(expected);
    }
    expect(socks5ResolvedReply("2001:db8::1").subarray(4, 20).toString("hex")).toBe("20010db8000000000000000000000001");
  });

  it("passes early data sent with the request and half-closes both ways", async () => {
    const client = new RawClient(server.port);
    client.write([5, 1, 0, ...socks5Domain("early.test", 80), ...Buffer.from("early!")]);
    await client.read(2);
    expect((await client.read(10))[1]).toBe(0);
    expect((await client.read(6)).toString()).toBe("early!");
    client.socket.end();
    // The echo ends its side when ours ends: the FIN comes back.
    expect((await client.rest()).length).toBe(0);
    expect(client.ended).toBe(true);
  });

  it("moves 8 MB intact with backpressure and counts the bytes", async () => {
    const before = { sent: backend.sent, received: backend.received };
    const { client } = await socks5("bulk.test", 80);
    const payload = randomBytes(8 * 1024 * 1024);
    client.socket.end(payload);
    const echoed = await client.rest();
    expect(createHash("sha256").update(echoed).digest("hex")).toBe(createHash("sha256").update(payload).digest("hex"));
    expect(backend.sent - before.sent).toBe(payload.length);
    expect(backend.received - before.received).toBe(payload.length);
  });
});

describe("SOCKS4/4a", () => {
  it("connects by IPv4 and by host name (4a), with the user id as isolation key", async () => {
    const v4 = new RawClient(server.port);
    v4.write([4, 1, 0, 80, 127, 0, 0, 1, ...Buffer.from("bob"), 0]);
    expect([...(await v4.read(8))]).toEqual([0, 0x5a, 0, 0, 0, 0, 0, 0]);
    expect(backend.requests.at(-1)).toEqual({ host: "127.0.0.1", port: 80, isolationKey: isolationKeyFor("bob", ""), protocol: "socks4" });
    v4.close();

    const v4a = new RawClient(server.port);
    v4a.write([4, 1, 1, 187, 0, 0, 0, 1, 0, ...Buffer.from("named.test"), 0]);
    expect((await v4a.read(8))[1]).toBe(0x5a);
    expect(backend.requests.at(-1)).toMatchObject({ host: "named.test", port: 443, isolationKey: "" });
    v4a.close();
  });

  it("rejects with 0x5B on failure, BIND and a bad destination", async () => {
    for (const bytes of [
      [4, 1, 0, 80, 0, 0, 0, 1, 0, ...Buffer.from("fail-exitpolicy.test"), 0],
      [4, 2, 0, 80, 127, 0, 0, 1, 0],
      [4, 1, 0, 0, 127, 0, 0, 1, 0],
    ]) {
      const client = new RawClient(server.port);
      client.write(bytes);
      expect([...(await client.rest())]).toEqual([0, 0x5b, 0, 0, 0, 0, 0, 0]);
    }
  });
});

describe("HTTP CONNECT", () => {
  async function http(request: string): Promise<{ client: RawClient; head: string }> {
    const client = new RawClient(server.port);
    client.write(request);
    let text = "";
    while (!text.includes("\r\n\r\n")) text += (await client.read(1)).toString("latin1");
    return { client, head: text };
  }

  it("tunnels CONNECT with Proxy-Authorization as isolation key", async () => {
    const auth = Buffer.from("carol:pw").toString("base64");
    const { client, head } = await http(`CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\nProxy-Authorization: Basic ${auth}\r\n\r\n`);
    expect(head).toBe("HTTP/1.1 200 Connection established\r\n\r\n");
    expect(backend.requests.at(-1)).toEqual({ host: "example.test", port: 443, isolationKey: isolationKeyFor("carol", "pw"), protocol: "http-connect" });
    client.write("tls bytes");
    expect((await client.read(9)).toString()).toBe("tls bytes");
    client.close();
  });

  it("accepts a bracketed IPv6 target", async () => {
    const { client, head } = await http("CONNECT [::1]:8443 HTTP/1.1\r\n\r\n");
    expect(head.startsWith("HTTP/1.1 200")).toBe(true);
    expect(backend.requests.at(-1)).toMatchObject({ host: "::1", port: 8443 });
    client.close();
  });

  it.each([
    ["CONNECT fail-exitpolicy.test:80 HTTP/1.1\r\n\r\n", 403],
    ["CONNECT fail-timeout.test:80 HTTP/1.1\r\n\r\n", 504],
    ["CONNECT fail-connectrefused.test:80 HTTP/1.1\r\n\r\n", 502],
    ["GET http://example.test/ HTTP/1.1\r\nHost: example.test\r\n\r\n", 405],
    ["BREW /pot HTTP/1.1\r\n\r\n", 501],
    ["CONNECT example.test HTTP/1.1\r\n\r\n", 400],
    ["CONNECT example.test:0 HTTP/1.1\r\n\r\n", 400],
    ["CONNECT a.test:80 HTTP/1.1\r\nno colon here\r\n\r\n", 400],
    ["Hello there\r\n\r\n", 400],
  ])("answers %j with %i and closes", async (request, status) => {
    const client = new RawClient(server.port);
    client.write(request);
    const answer = (await client.rest()).toString("latin1");
    expect(answer.startsWith(`HTTP/1.1 ${status} `)).toBe(true);
    if (status === 405) expect(answer).toContain("Allow: CONNECT");
  });

  it("refuses an oversized request head with 431", async () => {
    const client = new RawClient(server.port);
    client.write(`CONNECT a.test:80 HTTP/1.1\r\nX-Big: ${"a".repeat(20_000)}`);
    expect((await client.rest()).toString("latin1").startsWith("HTTP/1.1 431 ")).toBe(true);
  });
});

describe("robustness", () => {
  it("closes a client that sends nothing after the handshake timeout", async () => {
    const client = new RawClient(server.port);
    const opened = performance.now();
    client.write([5]);
    await client.untilClosed();
    // Closed by the 300 ms timeout: not before it, and not much after.
    const waited = performance.now() - opened;
    expect(waited).toBeGreaterThanOrEqual(250);
    expect(waited).toBeLessThan(3_000);
  });

  it("survives arbitrary bytes and keeps serving", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 64 }), async (bytes) => {
        const client = new RawClient(server.port);
        client.write(Buffer.from(bytes));
        client.socket.end();
        await client.untilClosed();
      }),
      { numRuns: 60 },
    );
    const { client, reply } = await socks5("still-alive.test", 80);
    expect(reply[1]).toBe(0);
    client.close();
  });
});

describe("parsers", () => {
  it("parse the same request from any split point and ask for more before the end", () => {
    const cases: [Buffer, (b: Buffer) => unknown][] = [
      [Buffer.from(socks5Domain("split.test", 8080)), parseSocks5Request],
      [Buffer.from([4, 1, 0, 80, 0, 0, 0, 9, ...Buffer.from("u"), 0, ...Buffer.from("h.test"), 0]), parseSocks4Request],
      [Buffer.from("CONNECT h.test:1 HTTP/1.0\r\nA: b\r\nA: c\r\n\r\n"), parseHttpHead],
    ];
    for (const [bytes, parse] of cases) {
      const full = parse(bytes);
      expect(full).toBeDefined();
      for (let i = 0; i < bytes.length; i++) expect(parse(bytes.subarray(0, i))).toBeUndefined();
      expect(parse(Buffer.concat([bytes, Buffer.from("extra")]))).toEqual(full);
    }
    expect(parseHttpHead(Buffer.from("CONNECT h.test:1 HTTP/1.0\r\nA: b\r\nA: c\r\n\r\n"))?.value.headers.get("a")).toBe("b, c");
  });

  it("reject malformed host names and targets", () => {
    expect(() => parseSocks5Request(Buffer.from(socks5Domain("bad host", 80)))).toThrow(SocksProtocolError);
    // Names an exit would refuse with a final TORPROTOCOL: refused here, before any circuit.
    for (const name of ["a..b", ".a", "a..", "a b.test"]) {
      expect(() => parseSocks5Request(Buffer.from(socks5Domain(name, 80))), name).toThrow(
        expect.objectContaining({ answer: { socks5Reply: Socks5Reply.GENERAL_FAILURE } }),
      );
      expect(() => parseConnectTarget(`${name}:80`), name).toThrow(expect.objectContaining({ answer: { httpStatus: 400 } }));
    }
    expect(() => parseConnectTarget("[127.0.0.1]:80")).toThrow(SocksProtocolError);
    expect(() => parseConnectTarget("a.test:99999")).toThrow(SocksProtocolError);
    expect(parseConnectTarget("a.test:65535")).toEqual({ host: "a.test", port: 65535 });
  });
});
