/**
 * The seed paper's feature over a real stream: send a message through the proxy's SOCKS port
 * and collect the reply.
 */
import { parseHostPort } from "../../common/host-port.js";
import { socksConnect } from "../socks-client.js";

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
  const proxy = parseHostPort(socksAddress);
  const timeoutMs = options.timeoutMs ?? 15_000;
  const idleMs = options.idleMs ?? 150;
  const maxReply = options.maxReplyBytes ?? 64 * 1024;
  const start = performance.now();
  const socket = await socksConnect({ proxyHost: proxy.host, proxyPort: proxy.port, host, port, timeoutMs, signal: options.signal });
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
