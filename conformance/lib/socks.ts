/** Minimal SOCKS5 (RFC 1928) and HTTP CONNECT (RFC 9110 9.3.6) clients for the proxy tests. */
import net from "node:net";

export interface Tunnel {
  socket: net.Socket;
  /** SOCKS reply code (0 = succeeded) or HTTP status. */
  code: number;
  /** Bytes that arrived after the reply (already tunnel data). */
  rest: Buffer;
}

function reader(socket: net.Socket) {
  let buf = Buffer.alloc(0);
  let ended = false;
  let wake: (() => void) | undefined;
  socket.on("data", (d) => {
    buf = Buffer.concat([buf, d]);
    wake?.();
  });
  socket.on("close", () => {
    ended = true;
    wake?.();
  });
  socket.on("error", () => {});
  return {
    async read(n: number, timeoutMs: number): Promise<Buffer | undefined> {
      const end = Date.now() + timeoutMs;
      while (buf.length < n && !ended && Date.now() < end) await new Promise<void>((r) => { wake = r; setTimeout(r, 100); });
      if (buf.length < n) return undefined;
      const out = buf.subarray(0, n);
      buf = buf.subarray(n);
      return out;
    },
    async until(marker: string, timeoutMs: number): Promise<Buffer | undefined> {
      const end = Date.now() + timeoutMs;
      while (!buf.includes(marker) && !ended && Date.now() < end) await new Promise<void>((r) => { wake = r; setTimeout(r, 100); });
      const i = buf.indexOf(marker);
      if (i < 0) return undefined;
      const out = buf.subarray(0, i + marker.length);
      buf = buf.subarray(i + marker.length);
      return out;
    },
    rest(): Buffer {
      const r = buf;
      buf = Buffer.alloc(0);
      return r;
    },
    get ended() {
      return ended;
    },
    detach() {
      socket.removeAllListeners("data");
      socket.removeAllListeners("close");
    },
  };
}

export async function connectTcp(host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port });
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`connect to ${host}:${port} timed out`));
    }, timeoutMs);
    s.once("connect", () => {
      clearTimeout(t);
      resolve(s);
    });
    s.once("error", (e) => {
      clearTimeout(t);
      reject(e);
    });
  });
}

export class SocksError extends Error {
  constructor(
    message: string,
    readonly code?: number,
  ) {
    super(message);
  }
}

/** SOCKS5 no-auth CONNECT. `atyp` 1 = IPv4, 3 = domain name. Overrides allow malformed requests. */
export async function socks5Connect(
  proxy: { host: string; port: number },
  dest: { host: string; port: number },
  opts: { timeoutMs?: number; version?: number; command?: number; atyp?: 1 | 3; username?: string } = {},
): Promise<Tunnel> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const socket = await connectTcp(proxy.host, proxy.port, 5000);
  const r = reader(socket);
  const fail = (msg: string, code?: number): never => {
    socket.destroy();
    throw new SocksError(msg, code);
  };
  const auth = opts.username !== undefined ? 0x02 : 0x00;
  socket.write(Buffer.from([opts.version ?? 5, 1, auth]));
  const m = await r.read(2, 5000);
  if (!m) fail("no method selection reply (connection closed)");
  if (m![0] !== 5) fail(`method reply version ${m![0]}`);
  if (m![1] === 0xff) fail("no acceptable authentication method");
  if (auth === 0x02 && m![1] === 0x02) {
    const u = Buffer.from(opts.username!);
    socket.write(Buffer.concat([Buffer.from([1, u.length]), u, Buffer.from([1]), Buffer.from("x")]));
    const a = await r.read(2, 5000);
    if (!a || a[1] !== 0) fail("username/password refused");
  }
  const atyp = opts.atyp ?? 1;
  const addr = atyp === 1 ? Buffer.from(dest.host.split(".").map(Number)) : Buffer.concat([Buffer.from([Buffer.byteLength(dest.host)]), Buffer.from(dest.host)]);
  const port = Buffer.from([dest.port >> 8, dest.port & 0xff]);
  socket.write(Buffer.concat([Buffer.from([5, opts.command ?? 1, 0, atyp]), addr, port]));
  const head = await r.read(4, timeoutMs);
  if (!head) fail("no CONNECT reply (connection closed or timed out)");
  const code = head![1];
  const alen = head![3] === 1 ? 4 : head![3] === 4 ? 16 : head![3] === 3 ? ((await r.read(1, 2000))?.[0] ?? 0) : 0;
  await r.read(alen + 2, 2000);
  const rest = r.rest();
  r.detach();
  return { socket, code, rest };
}

/** HTTP CONNECT host:port on the proxy port. */
export async function httpConnect(proxy: { host: string; port: number }, dest: { host: string; port: number }, opts: { timeoutMs?: number; method?: string } = {}): Promise<Tunnel> {
  const socket = await connectTcp(proxy.host, proxy.port, 5000);
  const r = reader(socket);
  const target = `${dest.host}:${dest.port}`;
  const method = opts.method ?? "CONNECT";
  socket.write(`${method} ${method === "CONNECT" ? target : `http://${target}/`} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
  const head = await r.until("\r\n\r\n", opts.timeoutMs ?? 30_000);
  if (!head) {
    socket.destroy();
    throw new SocksError("no HTTP response to CONNECT");
  }
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(head.toString("latin1"));
  const rest = r.rest();
  r.detach();
  return { socket, code: m ? Number(m[1]) : 0, rest };
}
