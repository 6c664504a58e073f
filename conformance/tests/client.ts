/**
 * client/*: an onion proxy (feature "proxy") black box over its SOCKS port: SOCKS5 (RFC 1928)
 * and HTTP CONNECT to servers the suite runs, through the network the suite is testing.
 * The proto spec has no SOCKS clause; these cite RFC 1928 and control.proto GetStatusResponse.socks_address.
 */
import type net from "node:net";
import { TestServer, patternBytes, sha256hex } from "../lib/tcp.js";
import { type Tunnel, SocksError, httpConnect, socks5Connect } from "../lib/socks.js";
import { type TestCase, type TestContext, check, fail, skip } from "../framework.js";
import { sleep } from "./helpers.js";

const T = (id: string, clause: string, title: string, run: (ctx: TestContext) => Promise<void>, extra: Partial<TestCase> = {}): TestCase => ({
  id: `client/${id}`,
  clause,
  level: "MUST",
  requires: ["proxy"],
  title,
  run,
  timeoutMs: 60_000,
  ...extra,
});

function proxy(ctx: TestContext) {
  const p = ctx.target.proxy;
  if (!p) skip("no proxy given");
  return p;
}

async function server(ctx: TestContext, b: ConstructorParameters<typeof TestServer>[0]): Promise<TestServer> {
  const s = await new TestServer(b).start();
  ctx.defer(() => s.close());
  return s;
}

/** Send `up`, read `down.length` bytes, compare both hashes. */
async function exchange(ctx: TestContext, t: Tunnel, s: TestServer, up: Uint8Array, down: Uint8Array, what: string): Promise<void> {
  const sock: net.Socket = t.socket;
  ctx.defer(() => sock.destroy());
  const chunks: Buffer[] = [t.rest];
  let got = t.rest.length;
  sock.on("data", (d: Buffer) => {
    chunks.push(d);
    got += d.length;
  });
  sock.write(up);
  const end = Date.now() + ctx.ms(30_000);
  while (got < down.length && Date.now() < end && !sock.destroyed) await sleep(50);
  const conn = await s.waitConnection(1000);
  check(conn, `${what}: the destination never saw a connection`);
  await conn.waitBytes(up.length, ctx.ms(10_000));
  check(sha256hex(Buffer.concat(chunks)) === sha256hex(down), `${what}: received ${got} of ${down.length} bytes from the destination (or different bytes)`);
  check(sha256hex(conn.received()) === sha256hex(up), `${what}: the destination received ${conn.bytesReceived} of ${up.length} bytes (or different bytes)`);
}

/** The proxy may still be bootstrapping: retry a tunnel a few times while it answers "general failure". */
async function withRetry(ctx: TestContext, open: () => Promise<Tunnel>, okCode: number): Promise<Tunnel> {
  const end = Date.now() + ctx.ms(45_000);
  let last = "";
  for (;;) {
    try {
      const t = await open();
      if (t.code === okCode) return t;
      t.socket.destroy();
      last = `reply ${t.code}`;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > end) fail(`no working tunnel within 45 s (last: ${last})`);
    await sleep(1000);
  }
}

export const clientTests: TestCase[] = [
  T("socks5/connect-ipv4", "RFC 1928 CONNECT (ATYP IPv4); relay.proto Begin (resolved at the exit)", "SOCKS5 CONNECT to a suite server through the network; 300 KB each way intact", async (ctx) => {
    const down = patternBytes(300_000, "socks/down");
    const up = patternBytes(300_000, "socks/up");
    const s = await server(ctx, { send: down });
    const t = await withRetry(ctx, () => socks5Connect(proxy(ctx), { host: "127.0.0.1", port: s.port }, { timeoutMs: ctx.ms(30_000) }), 0);
    await exchange(ctx, t, s, up, down, "SOCKS5 tunnel");
  }),
  T("socks5/connect-hostname", "RFC 1928 CONNECT (ATYP DOMAINNAME, resolved at the exit); relay.proto Begin.host", "SOCKS5 CONNECT with the destination as a name (\"127.0.0.1\" as DOMAINNAME) works", async (ctx) => {
    const down = patternBytes(20_000, "socks/name");
    const s = await server(ctx, { send: down });
    const t = await withRetry(ctx, () => socks5Connect(proxy(ctx), { host: "127.0.0.1", port: s.port }, { atyp: 3, timeoutMs: ctx.ms(30_000) }), 0);
    await exchange(ctx, t, s, new Uint8Array(0), down, "SOCKS5 tunnel by name");
  }),
  T("socks5/unsupported-command", "RFC 1928 section 6 (REP 0x07 command not supported)", "SOCKS5 BIND (0x02) gets reply 0x07", async (ctx) => {
    const t = await socks5Connect(proxy(ctx), { host: "127.0.0.1", port: 9 }, { command: 0x02, timeoutMs: ctx.ms(10_000) }).catch((e) => fail(`no reply to BIND: ${(e as Error).message}`));
    t.socket.destroy();
    check(t.code === 0x07, `BIND answered with reply ${t.code}, expected 0x07 (command not supported)`, "7", String(t.code));
  }),
  T("socks5/bad-version", "RFC 1928 section 3 (version 5)", "a greeting with version 6 is refused: no success reply, connection closed", async (ctx) => {
    try {
      const t = await socks5Connect(proxy(ctx), { host: "127.0.0.1", port: 9 }, { version: 6, timeoutMs: ctx.ms(5000) });
      t.socket.destroy();
      fail(`a SOCKS version 6 greeting was answered and the request got reply ${t.code}`);
    } catch (e) {
      if (!(e instanceof SocksError)) throw e;
    }
  }),
  T("socks5/refused-destination", "RFC 1928 section 6 (REP 0x05 connection refused); relay.proto EndReason.END_REASON_CONNECTREFUSED", "CONNECT to a closed port gets a failure reply (0x05 connection refused expected)", async (ctx) => {
    const { closedPort } = await import("../lib/tcp.js");
    const port = await closedPort();
    const t = await socks5Connect(proxy(ctx), { host: "127.0.0.1", port }, { timeoutMs: ctx.ms(45_000) }).catch((e) => fail(`no reply: ${(e as Error).message}`));
    t.socket.destroy();
    check(t.code !== 0, "CONNECT to a closed port reported success");
    check(t.code === 0x05, `reply ${t.code}, expected 0x05 (connection refused)`, "5", String(t.code));
  }, { level: "SHOULD" }),
  T("http-connect/tunnel", "RFC 9110 section 9.3.6 (CONNECT) on the SOCKS port", "HTTP CONNECT to a suite server gets 200 and a working tunnel", async (ctx) => {
    const down = patternBytes(100_000, "http/down");
    const up = patternBytes(50_000, "http/up");
    const s = await server(ctx, { send: down });
    const t = await withRetry(ctx, () => httpConnect(proxy(ctx), { host: "127.0.0.1", port: s.port }, { timeoutMs: ctx.ms(30_000) }), 200);
    await exchange(ctx, t, s, up, down, "HTTP CONNECT tunnel");
  }, { requires: ["proxy", "httpConnect"] }),
  T("http-connect/not-connect", "RFC 9110 section 9.3.6 (a tunnel proxy refuses other methods)", "an HTTP GET to the proxy port is refused with a 4xx/5xx status, no tunnel", async (ctx) => {
    const t = await httpConnect(proxy(ctx), { host: "127.0.0.1", port: 9 }, { method: "GET", timeoutMs: ctx.ms(10_000) }).catch(() => undefined);
    if (!t) return; // closed without an answer: acceptable
    t.socket.destroy();
    check(t.code >= 400, `a GET request got HTTP ${t.code}`, "4xx or 5xx", String(t.code));
  }, { requires: ["proxy", "httpConnect"], level: "SHOULD" }),
];
