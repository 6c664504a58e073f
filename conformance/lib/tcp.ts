/** TCP servers the suite runs as stream destinations, with byte counting and hashing. */
import { createCipheriv, createHash } from "node:crypto";
import net from "node:net";

/** Deterministic pseudo-random bytes (AES-128-CTR keystream of SHA-256(seed)). */
export function patternBytes(n: number, seed: string): Uint8Array {
  const key = createHash("sha256").update(seed).digest().subarray(0, 16);
  return new Uint8Array(createCipheriv("aes-128-ctr", key, Buffer.alloc(16)).update(Buffer.alloc(n)));
}

export function sha256hex(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

export class ServerConn {
  readonly chunks: Buffer[] = [];
  bytesReceived = 0;
  closed = false;
  gotEnd = false;
  private listeners: (() => void)[] = [];
  constructor(readonly socket: net.Socket) {
    socket.on("data", (d: Buffer) => {
      this.chunks.push(d);
      this.bytesReceived += d.length;
      this.notify();
    });
    socket.on("end", () => {
      this.gotEnd = true;
      this.notify();
    });
    socket.on("close", () => {
      this.closed = true;
      this.notify();
    });
    socket.on("error", () => {});
  }
  private notify(): void {
    for (const l of this.listeners.splice(0)) l();
  }
  private async until(cond: () => boolean, timeoutMs: number): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (!cond() && Date.now() < end) {
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(200, Math.max(1, end - Date.now())));
        this.listeners.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    return cond();
  }
  received(): Uint8Array {
    return Buffer.concat(this.chunks);
  }
  waitBytes(n: number, timeoutMs: number): Promise<boolean> {
    return this.until(() => this.bytesReceived >= n || this.closed, timeoutMs).then(() => this.bytesReceived >= n);
  }
  waitEnd(timeoutMs: number): Promise<boolean> {
    return this.until(() => this.gotEnd || this.closed, timeoutMs);
  }
  waitClosed(timeoutMs: number): Promise<boolean> {
    return this.until(() => this.closed || this.gotEnd, timeoutMs);
  }
}

export interface ServerBehaviour {
  /** Bytes written to each connection when it opens. */
  send?: Uint8Array;
  /** Half-close (FIN) after `send` is written. Default false. */
  endAfterSend?: boolean;
  /** Half-close our side once the client half-closes, after `send`. Default true. */
  endOnEnd?: boolean;
  /** Echo what is received. */
  echo?: boolean;
  /** Never read: what the client sends piles up in the kernel, then at the sender. */
  neverRead?: boolean;
}

export class TestServer {
  readonly conns: ServerConn[] = [];
  host = "127.0.0.1";
  port = 0;
  private server: net.Server;
  private waiters: (() => void)[] = [];
  constructor(private readonly behaviour: ServerBehaviour = {}) {
    this.server = net.createServer({ allowHalfOpen: true }, (socket) => {
      socket.setNoDelay(true);
      const c = new ServerConn(socket);
      this.conns.push(c);
      for (const w of this.waiters.splice(0)) w();
      const b = this.behaviour;
      if (b.echo) socket.on("data", (d) => socket.write(d));
      if (b.neverRead) socket.pause();
      if (b.send) socket.write(b.send);
      if (b.endAfterSend) socket.end();
      else if (b.endOnEnd ?? true) socket.on("end", () => socket.end());
    });
  }
  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", () => r()));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this;
  }
  async waitConnection(timeoutMs: number, index = 0): Promise<ServerConn | undefined> {
    const end = Date.now() + timeoutMs;
    while (this.conns.length <= index && Date.now() < end) {
      await new Promise<void>((r) => {
        const t = setTimeout(r, 100);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    return this.conns[index];
  }
  close(): void {
    for (const c of this.conns) c.socket.destroy();
    this.server.close();
  }
}

/** A port on 127.0.0.1 with nothing listening (bound, then released). */
export async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}
