/**
 * Relays end to end over real sockets on 127.0.0.1: a directory and relays in this process,
 * circuits built by the client engine (src/proxy/circuit.ts) from consensus entries, and raw
 * links for exact-cell checks.
 */
import { randomBytes, randomInt } from "node:crypto";
import { once } from "node:events";
import net from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { DestroyReason } from "../../gen/meowonion/v1/link_pb.js";
import { EndReason, RelayCommand } from "../../gen/meowonion/v1/relay_pb.js";
import { STREAM_HOLD_LIMIT_BYTES, XOFF_BYTES } from "../onion/flow-control.js";
import { RELAY_BODY_LEN, encodeRelayFrame } from "../onion/frame.js";
import { encodeRelayMessage } from "../onion/relay-cell.js";
import { type ClientCircuit } from "../proxy/circuit.js";
import type { RelayHandle } from "./relay.js";
import { RawCircuit, RawLink, echoServer, listen, sha256Hex, unusedPort } from "../../test/helpers/relay.js";
import { Cleanups } from "../../test/helpers/cleanups.js";
import { LOCAL_EXIT_POLICY, consensusTargets, startTestDirectory, startTestRelay, targetOf } from "../../test/helpers/in-process-network.js";
import { CircuitError, StreamError } from "../onion/errors.js";
import { ClientChannelManager } from "../proxy/channels.js";
import { buildCircuit, extendCircuit } from "../proxy/build.js";
import { type ClientStream } from "../proxy/stream.js";

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

/** Three relays (the last an exit for 127.0.0.0/8) without a directory. */
async function threeRelays(exitOptions: Parameters<typeof startTestRelay>[1] = {}): Promise<RelayHandle[]> {
  return [
    await startTestRelay(cleanups, { nickname: "Guard" }),
    await startTestRelay(cleanups, { nickname: "Middle" }),
    await startTestRelay(cleanups, { nickname: "Exit", exitPolicy: LOCAL_EXIT_POLICY, ...exitOptions }),
  ];
}

function clientChannels(): ClientChannelManager {
  const channels = new ClientChannelManager();
  cleanups.add(() => channels.close());
  return channels;
}

async function circuitThrough(relays: RelayHandle[]): Promise<ClientCircuit> {
  const circuit = await buildCircuit(clientChannels(), relays.map(targetOf));
  cleanups.add(() => circuit.destroy());
  return circuit;
}

/** Everything `stream` delivers until END (the stream itself stays open for writing). */
function readAll(stream: ClientStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  stream.on("data", (chunk: Buffer) => chunks.push(chunk));
  return new Promise((resolve, reject) => {
    stream.once("end", () => resolve(Buffer.concat(chunks)));
    stream.once("error", reject);
  });
}

function closed(circuit: ClientCircuit): Promise<DestroyReason> {
  return new Promise((resolve) => {
    if (circuit.isClosed) resolve(DestroyReason.UNSPECIFIED);
    circuit.once("close", resolve);
  });
}

describe("circuits through a directory and three relays", () => {
  it("carries 20 streams moving 10 MB each way, byte for byte", async () => {
    const { server: directory } = await startTestDirectory(cleanups, { intervalMs: 500, heartbeatTimeoutMs: 5_000 });
    const pins = [{ url: directory.url, key: directory.publicKey }];
    const relays = [
      await startTestRelay(cleanups, { nickname: "Guard", directories: pins }),
      await startTestRelay(cleanups, { nickname: "Middle", directories: pins }),
      await startTestRelay(cleanups, { nickname: "Exit", directories: pins, exitPolicy: LOCAL_EXIT_POLICY }),
    ];
    const path = await consensusTargets(directory, relays);
    expect(path.map((t) => t.nickname)).toEqual(["Guard", "Middle", "Exit"]);
    const circuit = await buildCircuit(clientChannels(), path);
    cleanups.add(() => circuit.destroy());
    expect(circuit.path).toEqual(path);
    expect(circuit.buildMs).toBeGreaterThan(0);

    // The server sends its own 500 KB per connection and checks what it received.
    const perStream = 500_000;
    const serverReceived = new Map<string, string>();
    const serverSent: string[] = [];
    const port = await listen(
      net.createServer({ allowHalfOpen: true }, (socket) => {
        const out = randomBytes(perStream);
        serverSent.push(sha256Hex(out));
        const chunks: Buffer[] = [];
        socket.on("data", (c: Buffer) => chunks.push(c));
        socket.on("end", () => {
          const all = Buffer.concat(chunks);
          serverReceived.set(sha256Hex(all.subarray(0, 32)), sha256Hex(all));
          socket.end();
        });
        socket.write(out);
      }),
      cleanups,
    );
    const streams = await Promise.all(Array.from({ length: 20 }, () => circuit.openStream("127.0.0.1", port)));
    expect(circuit.streamCount).toBe(20);
    const results = await Promise.all(
      streams.map(async (stream) => {
        const payload = randomBytes(perStream);
        const received = readAll(stream);
        stream.end(payload);
        return { sent: payload, received: await received };
      }),
    );
    for (const { sent, received } of results) {
      expect(serverReceived.get(sha256Hex(sent.subarray(0, 32)))).toBe(sha256Hex(sent));
      expect(serverSent).toContain(sha256Hex(received));
    }
    expect(circuit.bytesSent).toBe(20 * perStream);
    expect(circuit.bytesReceived).toBe(20 * perStream);
    expect(circuit.streamCount).toBe(0);
  });

  it("refuses a stream its exit policy forbids with END EXITPOLICY", async () => {
    const relays = await threeRelays({ exitPolicy: "accept 127.0.0.1:1-1000,reject *:*" });
    const circuit = await circuitThrough(relays);
    const port = await echoServer(cleanups);
    const refused = circuit.openStream("127.0.0.1", port);
    await expect(refused).rejects.toBeInstanceOf(StreamError);
    await expect(refused).rejects.toMatchObject({ reason: EndReason.EXITPOLICY });
    // Hostnames are resolved at the exit and checked after resolution.
    await expect(circuit.openStream("localhost", port)).rejects.toMatchObject({ reason: EndReason.EXITPOLICY });
    // A non-exit refuses everything.
    const twoHop = await circuitThrough(relays.slice(0, 2));
    await expect(twoHop.openStream("127.0.0.1", port)).rejects.toMatchObject({ reason: EndReason.EXITPOLICY });
    expect(circuit.isClosed).toBe(false);
  });

  it("reports refused connections, unresolvable names and bad requests with their END reasons", async () => {
    const circuit = await circuitThrough(await threeRelays());
    await expect(circuit.openStream("127.0.0.1", await unusedPort())).rejects.toMatchObject({ reason: EndReason.CONNECTREFUSED });
    await expect(circuit.openStream("no-such-host.invalid", 80)).rejects.toMatchObject({ reason: EndReason.RESOLVEFAILED });
    await expect(circuit.openStream("127.0.0.1", 0)).rejects.toMatchObject({ reason: EndReason.TORPROTOCOL });
    await expect(circuit.openStream("bad host!", 80)).rejects.toMatchObject({ reason: EndReason.TORPROTOCOL });
    // Stream refusals leave the circuit usable.
    const stream = await circuit.openStream("127.0.0.1", await echoServer(cleanups));
    const reply = readAll(stream);
    stream.end("ok");
    expect((await reply).toString()).toBe("ok");
  });

  it("resolves names at the exit, answering only with addresses its exit policy lets a stream reach", async () => {
    const relays = await threeRelays();
    const circuit = await circuitThrough(relays);
    expect(await circuit.resolve("127.0.0.1")).toEqual(["127.0.0.1"]);
    // localhost is also ::1, which the loopback IPv4 policy does not reach: not told.
    expect(await circuit.resolve("localhost")).toEqual(["127.0.0.1"]);
    await expect(circuit.resolve("no-such-host.invalid")).rejects.toMatchObject({ reason: EndReason.RESOLVEFAILED });
    await expect(circuit.resolve("192.0.2.1")).rejects.toMatchObject({ reason: EndReason.EXITPOLICY });
    await expect(circuit.resolve("a..b")).rejects.toMatchObject({ reason: EndReason.TORPROTOCOL });
    // A non-exit answers no RESOLVE.
    const twoHop = await circuitThrough(relays.slice(0, 2));
    await expect(twoHop.resolve("127.0.0.1")).rejects.toMatchObject({ reason: EndReason.EXITPOLICY });
    expect(circuit.isClosed).toBe(false);
  });

  it("refuses EXTEND2 to a relay with another identity (OR_IDENTITY) and to itself", async () => {
    const relays = await threeRelays();
    const impostor = { ...targetOf(relays[2]), identityKey: randomBytes(32) };
    const attempt = buildCircuit(clientChannels(), [targetOf(relays[0]), targetOf(relays[1]), impostor]);
    await expect(attempt).rejects.toBeInstanceOf(CircuitError);
    await expect(attempt).rejects.toMatchObject({ reason: DestroyReason.OR_IDENTITY, hop: 2 });
    // Extending from a relay to itself is refused as a protocol violation.
    const loop = buildCircuit(clientChannels(), [targetOf(relays[0]), targetOf(relays[0])]);
    await expect(loop).rejects.toMatchObject({ hop: 1 });
    // A relay that is not there: CONNECTFAILED.
    const gone = { ...targetOf(relays[2]), port: await unusedPort() };
    await expect(buildCircuit(clientChannels(), [targetOf(relays[0]), gone])).rejects.toMatchObject({ reason: DestroyReason.CONNECTFAILED, hop: 1 });
    // The relays kept the circuits after TRUNCATED; the builder, with no substitute, destroyed them.
    await vi.waitFor(() => {
      for (const relay of relays) expect(relay.circuitCount).toBe(0);
    });
  });

  it("destroys the circuit when a single bit of a cell is flipped", async () => {
    const relays = await threeRelays();
    const channels = clientChannels();
    const circuit = await buildCircuit(channels, relays.map(targetOf));
    const stream = await circuit.openStream("127.0.0.1", await echoServer(cleanups));
    const link = (await channels.channel(targetOf(relays[0]))).link;
    const sendRelay = link.sendRelay.bind(link);
    link.sendRelay = (id, body, early) => {
      body[200] ^= 0x10; // in the data area: only the exit's digest check can notice
      link.sendRelay = sendRelay;
      sendRelay(id, body, early);
    };
    const errored = once(stream, "error");
    stream.write("hello");
    expect(await closed(circuit)).toBe(DestroyReason.DESTROYED);
    expect(((await errored)[0] as StreamError).reason).toBe(EndReason.DESTROY);
    expect(await relays[2].metrics.registry.getSingleMetric("meowonion_relay_circuits_destroyed_total")!.get()).toMatchObject({
      values: [{ labels: { reason: "PROTOCOL" }, value: 1 }],
    });
    for (const relay of relays) expect(relay.circuitCount).toBe(0);
  });

  it("TRUNCATE cuts the circuit after the middle hop", async () => {
    const relays = await threeRelays();
    const circuit = await circuitThrough(relays);
    expect(relays[2].circuitCount).toBe(1);
    await circuit.truncate(2);
    expect(circuit.hopCount).toBe(2);
    await vi.waitFor(() => expect(relays[2].circuitCount).toBe(0));
    // The circuit now ends at the middle relay, which is not an exit.
    await expect(circuit.openStream("127.0.0.1", 80)).rejects.toMatchObject({ reason: EndReason.EXITPOLICY });
    expect(relays[0].circuitCount).toBe(1);
  });

  it("re-extends after TRUNCATED: a failed extension keeps the circuit, which goes on to a substitute", async () => {
    const relays = await threeRelays();
    const spare = await startTestRelay(cleanups, { nickname: "Spare", exitPolicy: LOCAL_EXIT_POLICY });
    const gone = { ...targetOf(spare), nickname: "Gone", port: await unusedPort() };
    const failures: [number, DestroyReason][] = [];
    const circuit = await buildCircuit(clientChannels(), [targetOf(relays[0]), targetOf(relays[1]), gone], {
      replaceHop: (hop, error) => {
        failures.push([hop, error.reason]);
        return targetOf(spare);
      },
    });
    cleanups.add(() => circuit.destroy());
    // The middle could not reach the named relay and said so with TRUNCATED; the same circuit
    // (one at the guard, never a second) then went on to the substitute.
    expect(failures).toEqual([[2, DestroyReason.CONNECTFAILED]]);
    expect(circuit.path.map((t) => t.nickname)).toEqual(["Guard", "Middle", "Spare"]);
    expect(relays[0].circuitCount).toBe(1);
    const stream = await circuit.openStream("127.0.0.1", await echoServer(cleanups));
    stream.end("through the substitute");
    expect((await readAll(stream)).toString()).toBe("through the substitute");
  });

  it("TRUNCATE drops the cut hops' keys: the circuit extends again to another relay", async () => {
    const relays = await threeRelays();
    const spare = await startTestRelay(cleanups, { nickname: "Spare", exitPolicy: LOCAL_EXIT_POLICY });
    const circuit = await circuitThrough(relays);
    await circuit.truncate(2);
    await vi.waitFor(() => expect(relays[2].circuitCount).toBe(0));
    await extendCircuit(circuit, targetOf(spare));
    expect(circuit.path.map((t) => t.nickname)).toEqual(["Guard", "Middle", "Spare"]);
    expect(spare.circuitCount).toBe(1);
    const stream = await circuit.openStream("127.0.0.1", await echoServer(cleanups));
    stream.end("after truncate");
    expect((await readAll(stream)).toString()).toBe("after truncate");
  });

  it("half-closes streams in both directions (FIN ↔ END DONE)", async () => {
    const circuit = await circuitThrough(await threeRelays());
    // Server reads until the client's FIN, then answers and closes.
    const port = await listen(
      net.createServer({ allowHalfOpen: true }, (socket) => {
        const chunks: Buffer[] = [];
        socket.on("data", (c: Buffer) => chunks.push(c));
        socket.on("end", () => socket.end(`got ${Buffer.concat(chunks).length} bytes`));
      }),
      cleanups,
    );
    const stream = await circuit.openStream("127.0.0.1", port);
    const reply = readAll(stream);
    stream.end(Buffer.alloc(100_000, 1));
    expect((await reply).toString()).toBe("got 100000 bytes");

    // Server closes its side first; the client keeps writing and the server still reads.
    let serverGot = 0;
    const serverDone = new Promise<void>((resolve) => {
      void listen(
        net.createServer({ allowHalfOpen: true }, (socket) => {
          socket.end("bye");
          socket.on("data", (c: Buffer) => (serverGot += c.length));
          socket.on("end", () => resolve());
        }),
        cleanups,
      ).then(async (p) => {
        const second = await circuit.openStream("127.0.0.1", p);
        expect((await readAll(second)).toString()).toBe("bye");
        second.end(Buffer.alloc(50_000, 2));
      });
    });
    await serverDone;
    expect(serverGot).toBe(50_000);
    expect(circuit.streamCount).toBe(0);
  });

  it("tears the circuit down both ways when a relay shuts down", async () => {
    const relays = await threeRelays();
    const circuit = await circuitThrough(relays);
    const stream = await circuit.openStream("127.0.0.1", await echoServer(cleanups));
    const errored = once(stream, "error");
    const closing = closed(circuit); // before close() resolves: the DESTROY may be here first
    await relays[1].close();
    // The middle sends DESTROY (HIBERNATING) both ways; the guard forwards it as DESTROYED.
    expect(await closing).toBe(DestroyReason.DESTROYED);
    expect(((await errored)[0] as StreamError).reason).toBe(EndReason.DESTROY);
    await vi.waitFor(() => expect(relays[0].circuitCount + relays[2].circuitCount).toBe(0));
  });
});

describe("link-level defences", () => {
  it("answers RELAY on an unknown circuit id with DESTROY PROTOCOL and ignores DESTROY for one", async () => {
    const relay = await startTestRelay(cleanups);
    const link = await RawLink.connect(relay, cleanups);
    link.send(0x80001234, { case: "destroy", value: { reason: DestroyReason.FINISHED } });
    link.sendRelay(0x80001234, new Uint8Array(RELAY_BODY_LEN));
    const answer = await link.next();
    expect(answer.circuitId).toBe(0x80001234);
    expect(answer.command).toMatchObject({ case: "destroy", value: { reason: DestroyReason.PROTOCOL } });
  });

  it("decodes frames split across reads at any byte", async () => {
    const relay = await startTestRelay(cleanups);
    const link = await RawLink.connect(relay, cleanups);
    const circuit = await RawCircuit.create(link, relay);
    // 300 DROP cells (each recognized and discarded) written in pieces of 1..1100 bytes, each
    // piece its own TLS record; then a RESOLVE whose answer proves every cell was decoded in step.
    const wire = Buffer.concat(
      Array.from({ length: 300 }, () => encodeRelayFrame(circuit.id, circuit.crypto.encryptOutbound(encodeRelayMessage({ command: RelayCommand.DROP, streamId: 0, body: {} }), 0))),
    );
    for (let at = 0; at < wire.length; ) {
      const size = 1 + randomInt(1100);
      link.socket.write(wire.subarray(at, at + size));
      at += size;
    }
    circuit.send({ command: RelayCommand.RESOLVE, streamId: 7, body: { host: "127.0.0.1" } });
    expect(await circuit.next()).toMatchObject({ command: RelayCommand.END, streamId: 7, body: { reason: EndReason.EXITPOLICY } });
    expect(relay.circuitCount).toBe(1);
  });

  it("refuses CREATE2 with the wrong top bit or a reused id", async () => {
    const relay = await startTestRelay(cleanups);
    const link = await RawLink.connect(relay, cleanups);
    const ok = await RawCircuit.create(link, relay, 0x80000001);
    await expect(RawCircuit.create(link, relay, 0x00000001)).rejects.toThrow(/expected CREATED2, got destroy/);
    await expect(RawCircuit.create(link, relay, 0x80000001)).rejects.toThrow(/expected CREATED2, got destroy/);
    expect(relay.circuitCount).toBe(0); // the reused id also killed the circuit that had it
    expect(ok.id).toBe(0x80000001);
  });

  it("allows 8 RELAY_EARLY cells and destroys the circuit on the 9th", async () => {
    const relay = await startTestRelay(cleanups);
    const link = await RawLink.connect(relay, cleanups);
    const circuit = await RawCircuit.create(link, relay);
    for (let i = 0; i < 8; i++) circuit.send({ command: RelayCommand.DROP, streamId: 0, body: {} }, true);
    circuit.send({ command: RelayCommand.RESOLVE, streamId: 1, body: { host: "127.0.0.1" } });
    expect(await circuit.next()).toMatchObject({ command: RelayCommand.END, body: { reason: EndReason.EXITPOLICY } });
    circuit.send({ command: RelayCommand.DROP, streamId: 0, body: {} }, true);
    expect(await circuit.next()).toEqual({ destroyed: DestroyReason.PROTOCOL });
    expect(relay.circuitCount).toBe(0);
  });

  it("honours SENDME windows: 500 cells per stream, 1000 per circuit, authenticated circuit SENDMEs", async () => {
    const relay = await startTestRelay(cleanups, { exitPolicy: LOCAL_EXIT_POLICY });
    // Each connection pours out 1 MB (far more than a window).
    const port = await listen(net.createServer((socket) => socket.end(Buffer.alloc(1_000_000, 3))), cleanups);
    const link = await RawLink.connect(relay, cleanups);
    const circuit = await RawCircuit.create(link, relay);
    const counts = new Map<number, number>();
    const readData = async (expected: number) => {
      for (let n = 0; n < expected; n++) {
        const message = await circuit.next();
        if ("destroyed" in message) throw new Error("destroyed");
        if (message.command === RelayCommand.DATA) counts.set(message.streamId, (counts.get(message.streamId) ?? 0) + 1);
        else if (message.command !== RelayCommand.CONNECTED) throw new Error(`unexpected ${RelayCommand[message.command]}`);
      }
    };
    circuit.send({ command: RelayCommand.BEGIN, streamId: 1, body: { host: "127.0.0.1", port } });
    await readData(1 + 500);
    // The stream window is empty: nothing more comes until a stream SENDME.
    await expect(link.next(300)).rejects.toThrow(/no frame/);
    circuit.send({ command: RelayCommand.SENDME, streamId: 1, body: {} });
    await readData(50);
    await expect(link.next(200)).rejects.toThrow(/no frame/);
    // A second stream fills the rest of the circuit window (1000 cells in all).
    circuit.send({ command: RelayCommand.BEGIN, streamId: 2, body: { host: "127.0.0.1", port } });
    await readData(1 + 450);
    await expect(link.next(300)).rejects.toThrow(/no frame/);
    expect(counts.get(1)! + counts.get(2)!).toBe(1000);
    // A circuit SENDME must carry the digest of the 100th cell: a wrong one kills the circuit.
    circuit.send({ command: RelayCommand.SENDME, streamId: 0, body: { version: 1, digest: randomBytes(20) } });
    expect(await circuit.next()).toEqual({ destroyed: DestroyReason.PROTOCOL });
  });

  it("destroys a circuit whose client sends DATA beyond the stream window", async () => {
    const relay = await startTestRelay(cleanups, { exitPolicy: LOCAL_EXIT_POLICY });
    // The destination never reads: once the socket buffers are full the exit holds its
    // stream SENDMEs back, and a client that keeps sending overruns the window.
    const port = await listen(net.createServer((socket) => socket.pause()), cleanups);
    const link = await RawLink.connect(relay, cleanups);
    const circuit = await RawCircuit.create(link, relay);
    circuit.send({ command: RelayCommand.BEGIN, streamId: 1, body: { host: "127.0.0.1", port } });
    expect(await circuit.next()).toMatchObject({ command: RelayCommand.CONNECTED });
    const data = new Uint8Array(498);
    let message;
    do {
      for (let i = 0; i < 100; i++) circuit.send({ command: RelayCommand.DATA, streamId: 1, data });
      message = await circuit.next(10_000);
    } while (!("destroyed" in message));
    expect(message).toEqual({ destroyed: DestroyReason.PROTOCOL });
  });

  it("survives a flood of garbage on one link while other circuits keep working", async () => {
    const relays = await threeRelays();
    const circuit = await circuitThrough(relays);
    const stream = await circuit.openStream("127.0.0.1", await echoServer(cleanups));
    // Well-formed frames that make no sense, then bytes that are not frames at all.
    const attacker = await RawLink.connect(relays[0], cleanups);
    for (let i = 0; i < 200; i++) {
      attacker.sendRelay(0x80000000 + i + 1, randomBytes(RELAY_BODY_LEN));
      attacker.send(0x80000000 + i + 1, { case: "create2", value: { handshakeType: 2, handshakeData: randomBytes(84) } });
      attacker.send(0x80000000 + i + 1, { case: "created2", value: { handshakeData: randomBytes(64) } });
    }
    const attackerGone = new Promise((resolve) => attacker.socket.once("close", resolve));
    attacker.socket.write(randomBytes(100_000));
    await attackerGone;
    const reply = readAll(stream);
    stream.end("still here");
    expect((await reply).toString()).toBe("still here");
    expect(circuit.isClosed).toBe(false);
  });

  it("limits CREATE2 per client address with a token bucket", async () => {
    const relay = await startTestRelay(cleanups, { limits: { createBurst: 3, createRatePerSecond: 0.001 } });
    const link = await RawLink.connect(relay, cleanups);
    for (let i = 0; i < 3; i++) await RawCircuit.create(link, relay, 0x80000010 + i);
    await expect(RawCircuit.create(link, relay, 0x80000020)).rejects.toThrow(/got destroy/);
    expect(relay.circuitCount).toBe(3);
  });

  it("limits circuits per link", async () => {
    const relay = await startTestRelay(cleanups, { limits: { maxCircuitsPerLink: 2 } });
    const link = await RawLink.connect(relay, cleanups);
    await RawCircuit.create(link, relay, 0x80000001);
    await RawCircuit.create(link, relay, 0x80000002);
    await expect(RawCircuit.create(link, relay, 0x80000003)).rejects.toThrow(/got destroy/);
  });

  it("over the memory ceiling, kills the circuits with the oldest queued data first", async () => {
    // Three circuits each receive one stream window (500 cells); then, one circuit after the
    // other, their destinations send 20 KB more that must wait for a SENDME the clients never
    // send. The third 20 KB crosses the 45 KB ceiling. Destinations write whole cells' worth
    // (49,800 bytes = 100 cells) at a time so that no partly filled cell leaves bytes behind.
    const relay = await startTestRelay(cleanups, { exitPolicy: LOCAL_EXIT_POLICY, limits: { maxQueuedBytes: 45_000 } });
    const destinations: net.Socket[] = [];
    let connected: (() => void) | undefined;
    const port = await listen(
      net.createServer((socket) => {
        destinations.push(socket);
        connected?.();
      }),
      cleanups,
    );
    const circuits: RawCircuit[] = [];
    for (let i = 0; i < 3; i++) {
      const circuit = await RawCircuit.create(await RawLink.connect(relay, cleanups), relay);
      const accepted = new Promise<void>((resolve) => (connected = resolve));
      circuit.send({ command: RelayCommand.BEGIN, streamId: 1, body: { host: "127.0.0.1", port } });
      await accepted;
      expect(await circuit.next()).toMatchObject({ command: RelayCommand.CONNECTED });
      for (let part = 0; part < 5; part++) {
        destinations[i].write(Buffer.alloc(100 * 498, part));
        for (let n = 0; n < 100; n++) expect(await circuit.next()).toMatchObject({ command: RelayCommand.DATA, data: expect.objectContaining({ length: 498 }) });
      }
      circuits.push(circuit);
    }
    expect(relay.metrics.queuedBytes).toBe(0);
    destinations[0].write(Buffer.alloc(20_000, 6));
    await vi.waitFor(() => expect(relay.metrics.queuedBytes).toBe(20_000));
    destinations[1].write(Buffer.alloc(20_000, 6));
    await vi.waitFor(() => expect(relay.metrics.queuedBytes).toBe(40_000));
    destinations[2].write(Buffer.alloc(20_000, 6));
    expect(await circuits[0].next()).toEqual({ destroyed: DestroyReason.RESOURCELIMIT });
    expect(relay.circuitCount).toBe(2);
    expect(relay.metrics.queuedBytes).toBe(40_000);
  });
});

describe("congestion control (relay.proto CONGESTION CONTROL)", () => {
  async function ccCircuit(relays: RelayHandle[], congestionControl = true): Promise<ClientCircuit> {
    const path = relays.map((r, i) => ({ ...targetOf(r), congestionControl: i === relays.length - 1 }));
    const circuit = await buildCircuit(clientChannels(), path, { congestionControl });
    cleanups.add(() => circuit.destroy());
    return circuit;
  }

  /** A server sending `data` to each connection, then FIN; what each connection sent back, hashed. */
  async function sender(data: Buffer): Promise<number> {
    return listen(net.createServer({ allowHalfOpen: true }, (socket) => socket.end(data)), cleanups);
  }

  it("is adopted by the exit; 20 MB down and 10 MB up arrive intact, with no stream SENDME", async () => {
    const relays = await threeRelays();
    const circuit = await ccCircuit(relays);
    const down = randomBytes(20_000_000);
    const stream = await circuit.openStream("127.0.0.1", await sender(down));
    expect(circuit.congestionControlled).toBe(true);
    const received = await readAll(stream);
    expect(sha256Hex(received)).toBe(sha256Hex(down));

    const up = randomBytes(10_000_000);
    let uploaded = "";
    const port = await listen(
      net.createServer({ allowHalfOpen: true }, (socket) => {
        const chunks: Buffer[] = [];
        socket.on("data", (c: Buffer) => chunks.push(c));
        socket.on("end", () => {
          uploaded = sha256Hex(Buffer.concat(chunks));
          socket.end();
        });
      }),
      cleanups,
    );
    const upStream = await circuit.openStream("127.0.0.1", port);
    const done = readAll(upStream);
    upStream.end(up);
    await done;
    expect(uploaded).toBe(sha256Hex(up));
    expect(circuit.isClosed).toBe(false);
  });

  it("a reader that stops: XOFF holds the exit back, the proxy holds a bounded amount, then all arrives", async () => {
    const relays = await threeRelays();
    const circuit = await ccCircuit(relays);
    const down = randomBytes(30_000_000);
    const stream = await circuit.openStream("127.0.0.1", await sender(down));
    // Nobody reads: bytes pile up in the stream until XOFF stops the exit.
    let held = -1;
    for (let stable = 0; stable < 5; ) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      stable = stream.readableLength === held ? stable + 1 : 0;
      held = stream.readableLength;
    }
    expect(held).toBeGreaterThan(XOFF_BYTES);
    expect(held).toBeLessThan(STREAM_HOLD_LIMIT_BYTES);
    expect(held).toBeLessThan(down.length / 4);
    expect(sha256Hex(await readAll(stream))).toBe(sha256Hex(down));
  });

  it("a destination that stops reading: the exit's XOFF blocks the writer, which finishes once it reads", async () => {
    const relays = await threeRelays();
    const circuit = await ccCircuit(relays);
    let destination: net.Socket | undefined;
    const chunks: Buffer[] = [];
    const port = await listen(
      net.createServer({ allowHalfOpen: true }, (socket) => {
        destination = socket;
        socket.pause();
        socket.on("data", (c: Buffer) => chunks.push(c));
      }),
      cleanups,
    );
    const stream = await circuit.openStream("127.0.0.1", port);
    const up = randomBytes(30_000_000);
    let written = 0;
    const writer = (async () => {
      for (let at = 0; at < up.length; at += 65536) {
        if (!stream.write(up.subarray(at, at + 65536))) await once(stream, "drain");
        written = at + 65536;
      }
      stream.end();
    })();
    // Stalled: the writer stops well before the end (kernel buffers and XOFF_BYTES hold the rest).
    let before = -1;
    while (written !== before) {
      before = written;
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    expect(written).toBeLessThan(up.length / 2);
    const ended = readAll(stream);
    destination!.resume();
    await writer;
    await once(destination!, "end");
    destination!.end();
    await ended;
    expect(sha256Hex(Buffer.concat(chunks))).toBe(sha256Hex(up));
  });

  it("streams share the circuit in turns: none waits for another to finish", async () => {
    const relays = await threeRelays();
    const circuit = await ccCircuit(relays);
    const port = await sender(randomBytes(4_000_000));
    const streams = await Promise.all([circuit.openStream("127.0.0.1", port), circuit.openStream("127.0.0.1", port)]);
    const firstData = streams.map((stream) => once(stream, "data").then(() => performance.now()));
    const ends = streams.map((stream) => readAll(stream).then(() => performance.now()));
    const [firstA, firstB] = await Promise.all(firstData);
    const [endA, endB] = await Promise.all(ends);
    expect(Math.max(firstA, firstB)).toBeLessThan(Math.min(endA, endB));
  });

  it("declined or not asked: the fixed windows carry the stream", async () => {
    const relays = await threeRelays();
    const circuit = await ccCircuit(relays, false);
    const down = randomBytes(3_000_000);
    const stream = await circuit.openStream("127.0.0.1", await sender(down));
    expect(circuit.congestionControlled).toBe(false);
    expect(sha256Hex(await readAll(stream))).toBe(sha256Hex(down));
  });
});
