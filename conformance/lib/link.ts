/**
 * Links (link.proto TRANSPORT, LINK HANDSHAKE, IDENTITY PROOF), the suite's own implementation,
 * for both roles: the suite connects to relays as an initiator, and its own listeners (used by the
 * directory tests and the reference/mutant relays) answer as responders.
 */
import { EventEmitter } from "node:events";
import net from "node:net";
import tls from "node:tls";
import { create } from "@bufbuild/protobuf";
import { type Frame, FrameSchema, type LinkHello, LinkHelloSchema } from "../../gen/meowonion/v1/link_pb.js";
import { concat, equal, hex, u8, utf8 } from "./bytes.js";
import { DOMAIN, type Ed25519Key, ed25519Sign, ed25519Verify } from "./crypto.js";
import { FrameError, FrameReader, encodeFrame } from "./frame.js";
import { SUITE_TLS_CERT, SUITE_TLS_KEY } from "./tls-cert.js";

export const LINK_VERSION = 1;
export const EXPORTER_LABEL = "EXPORTER-meowonion-link-v1";
export const ROLE_RESPONDER = 0x01;
export const ROLE_INITIATOR = 0x02;

export function proofMessage(role: number, exporter: Uint8Array): Uint8Array {
  return concat(utf8(DOMAIN.linkAuth), new Uint8Array([0, role]), exporter);
}

export function linkExporter(socket: tls.TLSSocket, label = EXPORTER_LABEL): Uint8Array {
  return u8(socket.exportKeyingMaterial(32, label, Buffer.alloc(0)));
}

/** Knobs for the suite's own tests and for mutants; a correct link uses none of them. */
export interface LinkFaults {
  /** Sign the proof over an exporter with this label instead of the spec's. */
  proofLabel?: string;
  /** Use this role byte in our own proof. */
  proofRole?: number;
  /** Flip a bit of our signature. */
  corruptSignature?: boolean;
  /** Do not check the peer's proof (an "unauthenticated link"). */
  skipPeerCheck?: boolean;
}

export interface LinkOptions {
  /** Our identity; required for a responder, optional for an initiator (anonymous if absent). */
  identity?: Ed25519Key;
  /** Versions we offer (initiator). Default [1]. */
  versions?: number[];
  /** The responder identity the initiator expects; mismatch fails the handshake. */
  expectIdentity?: Uint8Array;
  timeoutMs?: number;
  faults?: LinkFaults;
  /** Send these raw bytes instead of our hello (initiator tests of malformed hellos). */
  rawHello?: Uint8Array;
}

export class LinkHandshakeError extends Error {
  constructor(
    readonly reason: "connect" | "timeout" | "closed" | "bad-hello" | "bad-proof" | "identity-mismatch" | "version",
    message: string,
  ) {
    super(message);
  }
}

export interface ReceivedFrame {
  frame: Frame;
  wireLen: number;
  at: number;
  /** Arrival order on this link (1, 2, ...). */
  seq: number;
}

type Waiter = { pred: (f: ReceivedFrame) => boolean; resolve: (f: ReceivedFrame) => void };

/** An established link. Frames arrive as "frame" events and are also queued for `waitFrame`. */
export class Link extends EventEmitter<{ frame: [ReceivedFrame]; close: [string] }> {
  peerIdentity: Uint8Array | undefined;
  version = 0;
  exporter: Uint8Array = new Uint8Array(0);
  peerHello: LinkHello | undefined;
  closed = false;
  closeReason = "";
  /** Every frame received after the handshake (kept for tests; bounded). */
  readonly received: ReceivedFrame[] = [];
  keepReceived = true;
  private waiters: Waiter[] = [];
  private closeWaiters: (() => void)[] = [];
  private reader = new FrameReader();
  private seqCounter = 0;
  /** Mark: pass it to waitFrame to consider only frames received after this point. */
  mark(): number {
    return this.seqCounter;
  }
  /** Faulty mode for the self-test: drop undecodable input instead of closing the link. */
  lenientFraming = false;
  private handshakeDone = false;
  private handshakeResolve: ((f: ReceivedFrame) => void) | undefined;

  constructor(
    readonly socket: tls.TLSSocket,
    readonly initiator: boolean,
  ) {
    super();
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.onData(u8(chunk)));
    socket.on("end", () => {
      if (this.reader.pending) this.close("truncated frame (EOF inside a frame)");
      else this.close("peer closed (EOF)");
    });
    socket.on("close", () => this.close("socket closed"));
    socket.on("error", (e) => this.close(`socket error: ${e.message}`));
  }

  get remote(): string {
    return `${this.socket.remoteAddress}:${this.socket.remotePort}`;
  }

  private onData(chunk: Uint8Array): void {
    if (this.closed) return;
    let frames;
    try {
      frames = this.reader.push(chunk);
    } catch (e) {
      if (this.lenientFraming) {
        this.reader = new FrameReader();
        return;
      }
      this.close(`protocol: ${(e as FrameError).message}`);
      return;
    }
    for (const { frame, wireLen } of frames) {
      if (this.closed) return;
      const rf: ReceivedFrame = { frame, wireLen, at: Date.now(), seq: ++this.seqCounter };
      if (!this.handshakeDone) {
        const r = this.handshakeResolve;
        this.handshakeResolve = undefined;
        if (r) r(rf);
        else this.early.push(rf);
        continue;
      }
      this.deliver(rf);
    }
  }

  private early: ReceivedFrame[] = [];

  private deliver(rf: ReceivedFrame): void {
    {
      if (this.keepReceived) {
        this.received.push(rf);
        if (this.received.length > 10000) this.received.splice(0, 5000);
      }
      for (const w of [...this.waiters]) {
        if (w.pred(rf)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(rf);
        }
      }
      this.emit("frame", rf);
    }
  }

  /** @internal used by the handshake */
  nextHandshakeFrame(timeoutMs: number): Promise<ReceivedFrame> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new LinkHandshakeError("timeout", "no hello within timeout")), timeoutMs);
      this.handshakeResolve = (f) => {
        clearTimeout(t);
        resolve(f);
      };
      this.once("close", (why) => {
        clearTimeout(t);
        reject(new LinkHandshakeError("closed", `link closed during handshake: ${why}`));
      });
    });
  }

  /** @internal */
  markEstablished(): void {
    this.handshakeDone = true;
    const early = this.early.splice(0);
    if (early.length) setImmediate(() => early.forEach((f) => !this.closed && this.deliver(f)));
  }

  send(frame: Frame): void {
    if (this.closed) return;
    this.socket.write(encodeFrame(frame));
  }

  sendRaw(bytes: Uint8Array): void {
    if (this.closed) return;
    this.socket.write(bytes);
  }

  sendFrame(init: Parameters<typeof create<typeof FrameSchema>>[1]): void {
    this.send(create(FrameSchema, init));
  }

  /** Wait for a frame matching `pred`, received after `after` (a mark()) — already here or future. */
  waitFrame(pred: (f: ReceivedFrame) => boolean, timeoutMs: number, after = 0): Promise<ReceivedFrame | undefined> {
    const already = this.received.find((f) => f.seq > after && pred(f));
    if (already) return Promise.resolve(already);
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const w: Waiter = {
        pred,
        resolve: (f) => {
          clearTimeout(t);
          resolve(f);
        },
      };
      const t = setTimeout(() => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(undefined);
      }, timeoutMs);
      this.waiters.push(w);
      this.once("close", () => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) {
          this.waiters.splice(i, 1);
          clearTimeout(t);
          resolve(undefined);
        }
      });
    });
  }

  /** Resolves true if the link closes within timeoutMs. */
  waitClosed(timeoutMs: number): Promise<boolean> {
    if (this.closed) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), timeoutMs);
      this.closeWaiters.push(() => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  close(reason = "closed by us"): void {
    if (this.closed) return;
    this.closed = true;
    this.closeReason = reason;
    this.socket.destroy();
    for (const w of this.closeWaiters.splice(0)) w();
    this.emit("close", reason);
  }

  /** Half-close our side (TLS close_notify + FIN) without destroying, e.g. after a truncated frame. */
  endOurSide(): void {
    this.socket.end();
  }
}

function ourHello(link: Link, role: number, opts: LinkOptions, versions: number[]): LinkHello {
  const hello = create(LinkHelloSchema, { versions });
  if (opts.identity) {
    const f = opts.faults ?? {};
    const exporter = f.proofLabel ? linkExporter(link.socket, f.proofLabel) : link.exporter;
    const sig = ed25519Sign(opts.identity, proofMessage(f.proofRole ?? role, exporter));
    if (f.corruptSignature) sig[0] ^= 0x01;
    hello.identityKey = opts.identity.publicKey;
    hello.signature = sig;
  }
  return hello;
}

/** Open a link to host:port as initiator and run the handshake. */
export async function connectLink(host: string, port: number, opts: LinkOptions = {}): Promise<Link> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
    const s = tls.connect({
      host,
      port,
      rejectUnauthorized: false,
      minVersion: "TLSv1.3",
      servername: net.isIP(host) ? undefined : host,
    });
    const t = setTimeout(() => {
      s.destroy();
      reject(new LinkHandshakeError("timeout", `TLS connect to ${host}:${port} timed out`));
    }, timeoutMs);
    s.once("secureConnect", () => {
      clearTimeout(t);
      resolve(s);
    });
    s.once("error", (e) => {
      clearTimeout(t);
      reject(new LinkHandshakeError("connect", `TLS connect to ${host}:${port}: ${e.message}`));
    });
  });
  const link = new Link(socket, true);
  link.exporter = linkExporter(socket);
  const versions = opts.versions ?? [LINK_VERSION];
  const first = link.nextHandshakeFrame(timeoutMs);
  first.catch(() => {});
  if (opts.rawHello) link.sendRaw(opts.rawHello);
  else link.sendFrame({ circuitId: 0, command: { case: "hello", value: ourHello(link, ROLE_INITIATOR, opts, versions) } });
  try {
    const { frame } = await first;
    if (frame.command.case !== "hello" || frame.circuitId !== 0) {
      throw new LinkHandshakeError("bad-hello", `first frame from responder is ${frame.command.case}, not hello`);
    }
    const hello = frame.command.value;
    link.peerHello = hello;
    if (hello.versions.length !== 1 || !versions.includes(hello.versions[0])) {
      throw new LinkHandshakeError("version", `responder chose versions [${hello.versions.join(",")}], offered [${versions.join(",")}]`);
    }
    link.version = hello.versions[0];
    if (!opts.faults?.skipPeerCheck) {
      if (hello.identityKey.length !== 32) throw new LinkHandshakeError("bad-proof", `responder identity_key is ${hello.identityKey.length} bytes`);
      if (!ed25519Verify(hello.identityKey, proofMessage(ROLE_RESPONDER, link.exporter), hello.signature)) {
        throw new LinkHandshakeError("bad-proof", "responder identity proof does not verify over our TLS exporter (role 0x01)");
      }
      if (opts.expectIdentity && !equal(opts.expectIdentity, hello.identityKey)) {
        throw new LinkHandshakeError("identity-mismatch", `responder is ${hex(hello.identityKey)}, expected ${hex(opts.expectIdentity)}`);
      }
    }
    link.peerIdentity = hello.identityKey;
    link.markEstablished();
    return link;
  } catch (e) {
    link.close(`handshake failed: ${(e as Error).message}`);
    throw e;
  }
}

export interface ResponderOptions {
  identity: Ed25519Key;
  faults?: LinkFaults;
  /** Self-test fault: drop undecodable frames instead of closing the link. */
  lenientFraming?: boolean;
  timeoutMs?: number;
  /** Versions we support. Default [1]. */
  versions?: number[];
}

/** Run the responder side of the handshake on an accepted TLS socket. */
export async function acceptLink(socket: tls.TLSSocket, opts: ResponderOptions): Promise<Link> {
  const link = new Link(socket, false);
  link.lenientFraming = opts.lenientFraming ?? false;
  link.exporter = linkExporter(socket);
  try {
    const { frame } = await link.nextHandshakeFrame(opts.timeoutMs ?? 10_000);
    if (frame.command.case !== "hello" || frame.circuitId !== 0) throw new LinkHandshakeError("bad-hello", "first frame is not hello");
    const hello = frame.command.value;
    link.peerHello = hello;
    if ((hello.identityKey.length === 0) !== (hello.signature.length === 0)) {
      throw new LinkHandshakeError("bad-proof", "identity_key and signature must be both set or both empty");
    }
    if (hello.identityKey.length > 0 && !opts.faults?.skipPeerCheck) {
      if (!ed25519Verify(hello.identityKey, proofMessage(ROLE_INITIATOR, link.exporter), hello.signature)) {
        throw new LinkHandshakeError("bad-proof", "initiator proof does not verify");
      }
    }
    link.peerIdentity = hello.identityKey.length ? hello.identityKey : undefined;
    const ours = opts.versions ?? [LINK_VERSION];
    const common = hello.versions.filter((v) => ours.includes(v));
    if (common.length === 0) throw new LinkHandshakeError("version", "no shared link version");
    link.version = Math.max(...common);
    link.markEstablished();
    link.sendFrame({
      circuitId: 0,
      command: { case: "hello", value: ourHello(link, ROLE_RESPONDER, { identity: opts.identity, faults: opts.faults }, [link.version]) },
    });
    return link;
  } catch (e) {
    link.close(`handshake failed: ${(e as Error).message}`);
    throw e;
  }
}

/** A TLS listener answering link handshakes with `identity`. */
export function createLinkServer(opts: ResponderOptions, onLink: (link: Link) => void): tls.Server {
  const server = tls.createServer({ key: SUITE_TLS_KEY, cert: SUITE_TLS_CERT, minVersion: "TLSv1.3" }, (socket) => {
    acceptLink(socket, opts).then(onLink, () => {});
  });
  server.on("tlsClientError", () => {});
  return server;
}

export function listen(server: net.Server, host = "127.0.0.1", port = 0): Promise<{ host: string; port: number }> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      const a = server.address() as net.AddressInfo;
      resolve({ host: a.address, port: a.port });
    });
  });
}
