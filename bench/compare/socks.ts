/**
 * A small SOCKS5 client (RFC 1928, username/password RFC 1929), the one client used against
 * both networks. The username/password is only an isolation key (Tor's IsolateSOCKSAuth, and
 * ours): a new username asks for a new circuit.
 */
import { connect, isIP, type Socket } from "node:net";

export interface SocksOptions {
  /** The proxy's SOCKS port. */
  proxyHost: string;
  proxyPort: number;
  /** Destination, resolved by the proxy (or the exit) if it is a name. */
  host: string;
  port: number;
  /** Isolation: username/password sent with RFC 1929 if given. */
  username?: string;
  password?: string;
  /** Fail if the proxy has not answered CONNECT within this time. */
  timeoutMs?: number;
}

export const SOCKS_REPLIES: Record<number, string> = {
  1: "general SOCKS server failure",
  2: "connection not allowed by ruleset",
  3: "network unreachable",
  4: "host unreachable",
  5: "connection refused",
  6: "TTL expired",
  7: "command not supported",
  8: "address type not supported",
};

export class SocksError extends Error {
  constructor(
    message: string,
    readonly reply?: number,
  ) {
    super(message);
    this.name = "SocksError";
  }
}

/** The CONNECT request bytes for a destination (IPv4, IPv6 or a domain name). */
export function encodeConnect(host: string, port: number): Buffer {
  let addr: Buffer;
  const kind = isIP(host);
  if (kind === 4) {
    addr = Buffer.from([1, ...host.split(".").map(Number)]);
  } else if (kind === 6) {
    addr = Buffer.concat([Buffer.from([4]), ipv6Bytes(host)]);
  } else {
    const name = Buffer.from(host, "utf8");
    if (name.length > 255) throw new SocksError("host name too long");
    addr = Buffer.concat([Buffer.from([3, name.length]), name]);
  }
  const portBuf = Buffer.alloc(2);
  portBuf.writeUInt16BE(port);
  return Buffer.concat([Buffer.from([5, 1, 0]), addr, portBuf]);
}

function ipv6Bytes(host: string): Buffer {
  const [head, tail] = host.includes("::") ? host.split("::") : [host, undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** Read exactly n bytes from a paused socket, leaving anything after them buffered. */
function readExact(sock: Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const tryRead = (): void => {
      const b = sock.read(n) as Buffer | null;
      if (b !== null) {
        if (b.length < n) return fail(new SocksError("proxy closed the connection mid-reply"));
        cleanup();
        resolve(b);
      }
    };
    const onEnd = (): void => fail(new SocksError("proxy closed the connection"));
    const onError = (e: Error): void => fail(e);
    const fail = (e: Error): void => {
      cleanup();
      reject(e);
    };
    const cleanup = (): void => {
      sock.off("readable", tryRead);
      sock.off("end", onEnd);
      sock.off("close", onEnd);
      sock.off("error", onError);
    };
    sock.on("readable", tryRead);
    sock.on("end", onEnd);
    sock.on("close", onEnd);
    sock.on("error", onError);
    tryRead();
  });
}

/**
 * Open a stream through the SOCKS5 proxy. Resolves with the socket once the proxy says the
 * stream is connected (Tor and ours answer after the exit's CONNECTED). TCP_NODELAY is set.
 * The socket comes back paused, with any early data still buffered: call resume() (or read()).
 */
export async function socksConnect(opts: SocksOptions): Promise<Socket> {
  const sock = connect({ host: opts.proxyHost, port: opts.proxyPort });
  sock.setNoDelay(true);
  sock.pause();
  const timer =
    opts.timeoutMs === undefined
      ? undefined
      : setTimeout(() => sock.destroy(new SocksError(`SOCKS connect timed out after ${opts.timeoutMs} ms`)), opts.timeoutMs);
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once("connect", resolve);
      sock.once("error", reject);
    });
    const auth = opts.username !== undefined;
    sock.write(Buffer.from(auth ? [5, 1, 2] : [5, 1, 0]));
    const method = await readExact(sock, 2);
    if (method[0] !== 5) throw new SocksError(`not a SOCKS5 proxy (version ${method[0]})`);
    if (method[1] === 0xff) throw new SocksError("proxy accepted none of our auth methods");
    if (method[1] === 2) {
      const u = Buffer.from(opts.username ?? "", "utf8");
      const p = Buffer.from(opts.password ?? "x", "utf8");
      sock.write(Buffer.concat([Buffer.from([1, u.length]), u, Buffer.from([p.length]), p]));
      const st = await readExact(sock, 2);
      if (st[1] !== 0) throw new SocksError("proxy refused the username/password");
    } else if (method[1] !== 0) {
      throw new SocksError(`proxy chose an unsupported method ${method[1]}`);
    }
    sock.write(encodeConnect(opts.host, opts.port));
    const head = await readExact(sock, 4);
    if (head[0] !== 5) throw new SocksError(`bad SOCKS reply version ${head[0]}`);
    if (head[1] !== 0) {
      throw new SocksError(`SOCKS CONNECT failed: ${SOCKS_REPLIES[head[1]!] ?? `reply ${head[1]}`}`, head[1]);
    }
    const atyp = head[3];
    const addrLen = atyp === 1 ? 4 : atyp === 4 ? 16 : atyp === 3 ? (await readExact(sock, 1))[0]! : -1;
    if (addrLen < 0) throw new SocksError(`bad address type ${atyp} in SOCKS reply`);
    await readExact(sock, addrLen + 2);
    return sock;
  } catch (e) {
    sock.destroy();
    throw e;
  } finally {
    if (timer) clearTimeout(timer);
  }
}
