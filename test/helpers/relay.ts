/**
 * Test helpers for relays: local TCP servers, and a raw TLS link for tests that must speak the
 * link protocol by hand (garbage, stalled readers, exact cells).
 */
import { createHash, randomInt } from "node:crypto";
import { once } from "node:events";
import net from "node:net";
import tls from "node:tls";
import { type MessageInitShape, create } from "@bufbuild/protobuf";
import { DestroyReason, type Frame, FrameSchema, HandshakeType } from "../../gen/meowonion/v1/link_pb.js";
import { FrameDecoder, encodeFrame, encodeRelayFrame } from "../../src/onion/frame.js";
import { ntorClientFinish, ntorClientStart, relayIdFromIdentity } from "../../src/onion/ntor.js";
import { type RelayMessage, type RelayMessageInit, decodeRelayMessage, encodeRelayMessage } from "../../src/onion/relay-cell.js";
import { ClientCircuitCrypto, KeystreamPool } from "../../src/onion/relay-crypto.js";
import type { RelayHandle } from "../../src/relay/relay.js";
import type { Cleanups } from "./cleanups.js";

export async function listen(server: net.Server, cleanups: Cleanups): Promise<number> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const sockets = new Set<net.Socket>();
  server.on("connection", (socket) => {
    socket.on("error", () => undefined); // resets by the peer are part of many tests
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  cleanups.add(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return (server.address() as net.AddressInfo).port;
}

/** A 127.0.0.1 port nothing listens on (it was free a moment ago). */
export async function unusedPort(): Promise<number> {
  const probe = net.createServer();
  probe.listen(0, "127.0.0.1");
  await once(probe, "listening");
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** Echoes every connection back (half-close aware: ends after the client ends). */
export async function echoServer(cleanups: Cleanups): Promise<number> {
  return listen(net.createServer({ allowHalfOpen: true }, (socket) => socket.pipe(socket)), cleanups);
}

export function sha256Hex(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/**
 * A link speaking the protocol by hand over TLS, as an anonymous client: the test sees and
 * controls the socket (pause it, write garbage) and every frame.
 */
export class RawLink {
  readonly frames: Frame[] = [];
  #waiters: (() => void)[] = [];
  readonly #decoder = new FrameDecoder();
  closed = false;

  private constructor(readonly socket: tls.TLSSocket) {
    socket.on("data", (chunk: Buffer) => {
      try {
        for (const frame of this.#decoder.push(new Uint8Array(chunk))) this.frames.push(structuredCloneFrame(frame));
      } catch {
        socket.destroy();
      }
      this.#wake();
    });
    socket.on("close", () => {
      this.closed = true;
      this.#wake();
    });
    socket.on("error", () => undefined);
  }

  static async connect(relay: { host: string; port: number }, cleanups: Cleanups): Promise<RawLink> {
    const socket = tls.connect({ host: relay.host, port: relay.port, rejectUnauthorized: false, minVersion: "TLSv1.3" });
    cleanups.add(() => socket.destroy());
    await once(socket, "secureConnect");
    const link = new RawLink(socket);
    link.send(0, { case: "hello", value: { versions: [1] } });
    const hello = await link.next();
    if (hello.command.case !== "hello") throw new Error("expected the responder's hello");
    return link;
  }

  send(circuitId: number, command: MessageInitShape<typeof FrameSchema>["command"]): void {
    this.socket.write(encodeFrame(create(FrameSchema, { circuitId, command })));
  }

  sendRelay(circuitId: number, body: Uint8Array, early = false): void {
    this.socket.write(encodeRelayFrame(circuitId, body, early));
  }

  /** The next frame received (in order), waiting for it if needed. */
  async next(timeoutMs = 5_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length === 0) {
      if (this.closed) throw new Error("raw link closed");
      if (Date.now() > deadline) throw new Error("no frame in time");
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.frames.shift()!;
  }

  #wake(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }
}

/** Frames from FrameDecoder hold views into a buffer that is reused; keep copies. */
function structuredCloneFrame(frame: Frame): Frame {
  const command = frame.command;
  if (command.case === "relay" || command.case === "relayEarly") {
    return create(FrameSchema, { circuitId: frame.circuitId, command: { case: command.case, value: Uint8Array.from(command.value) } });
  }
  return frame;
}

/** A one-hop circuit built by hand on a RawLink, for exact-cell tests. */
export class RawCircuit {
  readonly crypto = new ClientCircuitCrypto(new KeystreamPool());

  private constructor(
    readonly link: RawLink,
    readonly id: number,
  ) {}

  static async create(link: RawLink, relay: RelayHandle, id = (0x80000000 | (1 + randomInt(0x7ffffffe))) >>> 0): Promise<RawCircuit> {
    const { state, onionskin } = ntorClientStart(relayIdFromIdentity(relay.identityKey), relay.ntorOnionKey);
    link.send(id, { case: "create2", value: { handshakeType: HandshakeType.NTOR, handshakeData: onionskin } });
    const reply = await link.next();
    if (reply.command.case !== "created2") throw new Error(`expected CREATED2, got ${reply.command.case}`);
    const circuit = new RawCircuit(link, id);
    circuit.crypto.addHop(ntorClientFinish(state, reply.command.value.handshakeData));
    return circuit;
  }

  send(message: RelayMessageInit, early = false): void {
    this.link.sendRelay(this.id, this.crypto.encryptOutbound(encodeRelayMessage(message), 0), early);
  }

  /** The next relay message on this circuit (decrypted), or the DESTROY reason. */
  async next(timeoutMs?: number): Promise<RelayMessage | { destroyed: DestroyReason }> {
    const frame = await this.link.next(timeoutMs);
    if (frame.command.case === "destroy") return { destroyed: frame.command.value.reason };
    if (frame.command.case !== "relay") throw new Error(`unexpected ${frame.command.case}`);
    this.crypto.decryptInbound(frame.command.value);
    return decodeRelayMessage(frame.command.value);
  }
}
