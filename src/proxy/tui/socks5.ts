/**
 * A tiny SOCKS5 client (RFC 1928, no authentication or username/password for stream
 * isolation, CONNECT only). The destination always goes as a DOMAINNAME (ATYP 3), even an IP
 * literal, so the exit relay resolves it — the client never does DNS itself.
 */
import { connect, type Socket } from "node:net";

/** SOCKS5 reply codes (RFC 1928 §6) and what they mean. */
export const SOCKS5_REPLIES: Record<number, string> = {
  0x00: "succeeded",
  0x01: "general SOCKS server failure",
  0x02: "connection not allowed by ruleset",
  0x03: "network unreachable",
  0x04: "host unreachable",
  0x05: "connection refused",
  0x06: "TTL expired",
  0x07: "command not supported",
  0x08: "address type not supported",
};

/** The SOCKS server answered with a reply code other than 0x00 (or broke the protocol). */
export class Socks5Error extends Error {
  /** The SOCKS5 reply code, or undefined when the failure was not a reply (e.g. protocol). */
  readonly reply: number | undefined;
  constructor(message: string, reply?: number) {
    super(message);
    this.name = "Socks5Error";
    this.reply = reply;
  }
}

export interface Socks5ConnectOptions {
  /** The SOCKS listener, "HOST:PORT". */
  socksAddress: string;
  /** Destination host name or IP literal, resolved by the exit. */
  host: string;
  port: number;
  /** Username/password (RFC 1929): with MeowOnion they select stream isolation. */
  auth?: { username: string; password: string };
  /** Deadline for the whole handshake, ms (default 30 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Parses "host:port", "[v6]:port". Throws on anything else. */
export function parseHostPort(address: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:\s]+):(\d+)$/.exec(address);
  if (!m) throw new Error(`expected HOST:PORT, got '${address}'`);
  const port = Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`port out of range in '${address}'`);
  }
  return { host: m[1], port };
}

/**
 * Opens a TCP connection to `host:port` through the SOCKS5 server. Resolves with the connected
 * socket once the server replied "succeeded"; rejects with Socks5Error carrying the reply code.
 * The socket comes back PAUSED (bytes that arrived behind the reply are kept in it): attach
 * handlers, then `resume()` it (or `pipe()` it, which resumes).
 */
export function socks5Connect(options: Socks5ConnectOptions): Promise<Socket> {
  const { host, port, auth } = options;
  const hostBytes = Buffer.from(host, "utf8");
  if (hostBytes.length === 0 || hostBytes.length > 255) {
    return Promise.reject(new Socks5Error(`host name must be 1..255 bytes: '${host}'`));
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    return Promise.reject(new Socks5Error(`port out of range: ${port}`));
  }
  const server = parseHostPort(options.socksAddress);

  return new Promise<Socket>((resolve, reject) => {
    const socket = connect({ host: server.host, port: server.port });
    socket.setNoDelay(true);
    let buffered: Buffer = Buffer.alloc(0);
    let step: "method" | "auth" | "reply" = "method";
    let settled = false;

    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      cleanup();
      socket.destroy();
      reject(err);
    };
    const onAbort = () => fail(new Socks5Error("aborted"));
    const timer = setTimeout(
      () => fail(new Socks5Error(`SOCKS handshake timed out after ${options.timeoutMs ?? 30_000} ms`)),
      options.timeoutMs ?? 30_000,
    );
    const cleanup = () => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("error", onError);
      socket.off("close", onClose);
      options.signal?.removeEventListener("abort", onAbort);
    };
    const onError = (err: Error) => fail(err);
    const onClose = () => fail(new Socks5Error("SOCKS server closed the connection during the handshake"));

    const sendConnect = () => {
      step = "reply";
      const req = Buffer.alloc(7 + hostBytes.length);
      req[0] = 5; // VER
      req[1] = 1; // CMD = CONNECT
      req[2] = 0; // RSV
      req[3] = 3; // ATYP = DOMAINNAME
      req[4] = hostBytes.length;
      hostBytes.copy(req, 5);
      req.writeUInt16BE(port, 5 + hostBytes.length);
      socket.write(req);
    };

    const onData = (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      if (step === "method") {
        if (buffered.length < 2) return;
        if (buffered[0] !== 5) return fail(new Socks5Error(`not a SOCKS5 server (version ${buffered[0]})`));
        const method = buffered[1];
        buffered = buffered.subarray(2);
        if (method === 0x00) sendConnect();
        else if (method === 0x02 && auth) {
          step = "auth";
          const u = Buffer.from(auth.username, "utf8");
          const p = Buffer.from(auth.password, "utf8");
          if (u.length > 255 || p.length > 255) return fail(new Socks5Error("username/password too long"));
          socket.write(Buffer.concat([Buffer.from([1, u.length]), u, Buffer.from([p.length]), p]));
        } else return fail(new Socks5Error(`SOCKS server accepted no offered method (0x${method.toString(16)})`));
      }
      if (step === "auth") {
        if (buffered.length < 2) return;
        if (buffered[1] !== 0) return fail(new Socks5Error("SOCKS username/password refused"));
        buffered = buffered.subarray(2);
        sendConnect();
      }
      if (step === "reply") {
        if (buffered.length < 5) return;
        if (buffered[0] !== 5) return fail(new Socks5Error(`bad SOCKS reply version ${buffered[0]}`));
        const rep = buffered[1];
        if (rep !== 0) {
          return fail(new Socks5Error(`SOCKS reply 0x${hex2(rep)}: ${SOCKS5_REPLIES[rep] ?? "unknown"}`, rep));
        }
        const atyp = buffered[3];
        const addrLen = atyp === 1 ? 4 : atyp === 4 ? 16 : atyp === 3 ? 1 + buffered[4] : -1;
        if (addrLen < 0) return fail(new Socks5Error(`bad address type ${atyp} in SOCKS reply`));
        const total = 4 + addrLen + 2;
        if (buffered.length < total) return;
        const rest = buffered.subarray(total);
        settled = true;
        cleanup();
        // Bytes that arrived right behind the reply belong to the stream: hold them (paused)
        // until the caller attaches its handlers and resumes.
        socket.pause();
        if (rest.length > 0) socket.unshift(rest);
        resolve(socket);
      }
    };

    socket.on("data", onData);
    socket.on("error", onError);
    socket.on("close", onClose);
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener("abort", onAbort);
    socket.once("connect", () => {
      socket.write(auth ? Buffer.from([5, 2, 0, 2]) : Buffer.from([5, 1, 0]));
    });
  });
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}

export interface ExchangeResult {
  /** Everything the destination sent back (UTF-8 decoded). */
  reply: string;
  /** Milliseconds from starting the SOCKS handshake to the last reply byte. */
  ms: number;
  /** Milliseconds to get CONNECTED (the SOCKS success reply). */
  connectMs: number;
}

/**
 * The seed paper's feature over a real stream: connect to `target` ("host:port") through the
 * SOCKS port, send `message` plus a newline, and collect the reply. The reply is complete when
 * the destination closes its side, or `idleMs` after the last byte once at least one full line
 * came back, or at `timeoutMs` (an error only if nothing came back at all).
 */
export async function exchangeMessage(
  socksAddress: string,
  target: string,
  message: string,
  options: { timeoutMs?: number; idleMs?: number; maxReplyBytes?: number; signal?: AbortSignal } = {},
): Promise<ExchangeResult> {
  const { host, port } = parseHostPort(target);
  const timeoutMs = options.timeoutMs ?? 15_000;
  const idleMs = options.idleMs ?? 150;
  const maxReply = options.maxReplyBytes ?? 64 * 1024;
  const start = performance.now();
  const socket = await socks5Connect({ socksAddress, host, port, timeoutMs, signal: options.signal });
  const connectMs = performance.now() - start;
  return new Promise<ExchangeResult>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let last = performance.now();
    let idle: NodeJS.Timeout | undefined;
    let sawLine = false;
    const finish = (err?: Error) => {
      clearTimeout(deadline);
      clearTimeout(idle);
      socket.removeAllListeners("data");
      socket.destroy();
      const reply = Buffer.concat(chunks).toString("utf8");
      if (err && size === 0) reject(err);
      else resolve({ reply, ms: last - start, connectMs });
    };
    const deadline = setTimeout(
      () => finish(new Error(`no reply from ${target} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.on("data", (chunk: Buffer) => {
      last = performance.now();
      const room = maxReply - size;
      chunks.push(chunk.subarray(0, Math.max(0, room)));
      size += Math.min(chunk.length, Math.max(0, room));
      if (size >= maxReply) return finish();
      clearTimeout(idle);
      sawLine ||= chunk.includes(0x0a);
      if (sawLine) idle = setTimeout(() => finish(), idleMs);
    });
    socket.on("end", () => finish(new Error(`${target} closed the stream without replying`)));
    socket.on("error", (err) => finish(err));
    socket.resume();
    socket.write(message.endsWith("\n") ? message : `${message}\n`);
  });
}
