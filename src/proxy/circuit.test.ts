/**
 * The client circuit engine against real relays on 127.0.0.1: build failures and timeouts,
 * stream lifecycle (abort, half-close), flow control seen from the client (a stalled
 * destination stops the writer; a slow reader holds SENDMEs back), and circuit teardown.
 */
import { once } from "node:events";
import net from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { create } from "@bufbuild/protobuf";
import { DestroyReason, FrameSchema } from "../../gen/meowonion/v1/link_pb.js";
import { EndReason } from "../../gen/meowonion/v1/relay_pb.js";
import { listenLinks } from "../link/link.js";
import { generateX25519KeyPair, ntorServerRespond, relayIdFromIdentity } from "../onion/ntor.js";
import { generateEd25519KeyPair } from "../onion/signing.js";
import { echoServer, listen, sha256Hex } from "../../test/helpers/relay.js";
import { type ClientCircuit, type RelayTarget } from "./circuit.js";
import { Cleanups } from "../../test/helpers/cleanups.js";
import { LOCAL_EXIT_POLICY, startTestRelay, targetOf } from "../../test/helpers/in-process-network.js";
import { CircuitError, StreamError } from "../onion/errors.js";
import { ClientChannelManager } from "./channels.js";
import { buildCircuit } from "./build.js";

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

function channels(): ClientChannelManager {
  const manager = new ClientChannelManager({ connectTimeoutMs: 2_000 });
  cleanups.add(() => manager.close());
  return manager;
}

async function twoHops(): Promise<{ circuit: ClientCircuit; relays: Awaited<ReturnType<typeof startTestRelay>>[] }> {
  const relays = [await startTestRelay(cleanups), await startTestRelay(cleanups, { exitPolicy: LOCAL_EXIT_POLICY })];
  const circuit = await buildCircuit(channels(), relays.map(targetOf));
  cleanups.add(() => circuit.destroy());
  return { circuit, relays };
}

/**
 * A relay that completes the link handshake and (optionally) CREATE2, then never answers
 * anything else: for build and stream timeouts.
 */
async function silentRelay(answerCreate: boolean): Promise<RelayTarget> {
  const identity = generateEd25519KeyPair();
  const onion = generateX25519KeyPair();
  const server = await listenLinks({
    host: "127.0.0.1",
    port: 0,
    identity,
    onLink: (link) => {
      cleanups.add(() => link.close());
      link.onFrames = (frames) => {
        for (const frame of frames) {
          if (answerCreate && frame.command.case === "create2") {
            const { reply } = ntorServerRespond(frame.command.value.handshakeData, relayIdFromIdentity(identity.publicKey), [onion]);
            link.send(create(FrameSchema, { circuitId: frame.circuitId, command: { case: "created2", value: { handshakeData: reply } } }));
          }
        }
      };
    },
  });
  cleanups.add(() => server.close());
  return { nickname: "Silent", identityKey: identity.publicKey, ntorOnionKey: onion.publicKey, host: "127.0.0.1", port: server.port };
}

describe("buildCircuit", () => {
  it("times out when a hop never answers CREATE2", async () => {
    const attempt = buildCircuit(channels(), [await silentRelay(false)], { timeoutMs: 300 });
    await expect(attempt).rejects.toBeInstanceOf(CircuitError);
    await expect(attempt).rejects.toMatchObject({ reason: DestroyReason.TIMEOUT, hop: 0 });
  });

  it("reports an unreachable first hop as CONNECTFAILED and a wrong identity as OR_IDENTITY", async () => {
    const relay = await startTestRelay(cleanups);
    const closedPort = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, "127.0.0.1", () => {
        const { port } = probe.address() as net.AddressInfo;
        probe.close(() => resolve(port));
      });
    });
    await expect(buildCircuit(channels(), [{ ...targetOf(relay), port: closedPort }])).rejects.toMatchObject({ reason: DestroyReason.CONNECTFAILED, hop: 0 });
    const wrong = { ...targetOf(relay), identityKey: generateEd25519KeyPair().publicKey };
    await expect(buildCircuit(channels(), [wrong])).rejects.toMatchObject({ reason: DestroyReason.OR_IDENTITY, hop: 0 });
  });

  it("fails with PROTOCOL at the hop whose onion key is wrong", async () => {
    const relays = [await startTestRelay(cleanups), await startTestRelay(cleanups)];
    const stale = { ...targetOf(relays[1]), ntorOnionKey: generateX25519KeyPair().publicKey };
    await expect(buildCircuit(channels(), [targetOf(relays[0]), stale])).rejects.toMatchObject({ reason: DestroyReason.PROTOCOL, hop: 1 });
    // relays[0] kept the circuit after TRUNCATED; the builder, with no substitute, destroyed it.
    await vi.waitFor(() => expect(relays[0].circuitCount).toBe(0));
  });
});

describe("ClientCircuit streams", () => {
  it("times out a stream that gets no CONNECTED", async () => {
    const circuit = await buildCircuit(channels(), [await silentRelay(true)]);
    cleanups.add(() => circuit.destroy());
    const attempt = circuit.openStream("127.0.0.1", 80, { timeoutMs: 200 });
    await expect(attempt).rejects.toBeInstanceOf(StreamError);
    await expect(attempt).rejects.toMatchObject({ reason: EndReason.TIMEOUT });
    expect(circuit.streamCount).toBe(0);
  });

  it("rejects streams still waiting for CONNECTED when the circuit dies, without stray errors", async () => {
    const manager = channels();
    const circuit = await buildCircuit(manager, [await silentRelay(true)]);
    const pending = circuit.openStream("127.0.0.1", 80);
    const closed = once(circuit, "close");
    manager.close(); // the link goes away: CHANNEL_CLOSED
    expect((await closed)[0]).toBe(DestroyReason.CHANNEL_CLOSED);
    await expect(pending).rejects.toMatchObject({ reason: EndReason.DESTROY });
    expect(circuit.streamCount).toBe(0);
  });

  it("aborting a stream closes the destination connection", async () => {
    const { circuit } = await twoHops();
    let closedAtDestination!: () => void;
    const destinationClosed = new Promise<void>((resolve) => (closedAtDestination = resolve));
    const port = await listen(net.createServer((socket) => socket.on("close", () => closedAtDestination())), cleanups);
    const stream = await circuit.openStream("127.0.0.1", port);
    stream.write("partial request");
    stream.destroy();
    await destinationClosed;
    expect(circuit.streamCount).toBe(0);
    expect(circuit.isClosed).toBe(false);
  });

  it("stops the writer while the destination does not read, then delivers everything", async () => {
    const { circuit } = await twoHops();
    let destination: net.Socket | undefined;
    const received: Buffer[] = [];
    const port = await listen(
      net.createServer((socket) => {
        destination = socket;
        socket.pause();
        socket.on("data", (c: Buffer) => received.push(c));
      }),
      cleanups,
    );
    const stream = await circuit.openStream("127.0.0.1", port);
    const payload = Buffer.alloc(24 * 1024 * 1024, 7);
    const finished = new Promise<void>((resolve) => stream.end(payload, resolve));
    // Progress stops: the exit holds its stream SENDMEs back, the windows empty, the client waits.
    let last = -1;
    await vi.waitFor(
      () => {
        const now = circuit.bytesSent;
        const stalled = now === last;
        last = now;
        expect(stalled).toBe(true);
      },
      { interval: 250, timeout: 20_000 },
    );
    expect(circuit.bytesSent).toBeLessThan(payload.length);
    const ended = once(destination!, "end");
    destination!.resume();
    await finished;
    await ended;
    expect(sha256Hex(Buffer.concat(received))).toBe(sha256Hex(payload));
    destination!.end();
    await once(stream.resume(), "close");
  });

  it("holds stream SENDMEs back while the reader is slow, and resumes when it reads", async () => {
    const { circuit } = await twoHops();
    const size = 3_000_000;
    const port = await listen(net.createServer((socket) => socket.end(Buffer.alloc(size, 9))), cleanups);
    const stream = await circuit.openStream("127.0.0.1", port);
    // Not reading: once the stream's buffer is past its high-water mark no SENDME goes out,
    // so at most one more stream window (500 cells) arrives.
    let last = -1;
    await vi.waitFor(
      () => {
        const now = circuit.bytesReceived;
        const stalled = now === last;
        last = now;
        expect(stalled).toBe(true);
      },
      { interval: 200, timeout: 10_000 },
    );
    expect(stream.readableLength).toBe(circuit.bytesReceived);
    expect(circuit.bytesReceived).toBeLessThanOrEqual(stream.readableHighWaterMark + 500 * 498);
    expect(circuit.bytesReceived).toBeGreaterThanOrEqual(500 * 498);
    let total = 0;
    stream.on("data", (c: Buffer) => (total += c.length));
    await once(stream, "end");
    expect(total).toBe(size);
    stream.end();
    await once(stream, "close");
  });

  it("closes every stream with StreamError DESTROY when the circuit is destroyed", async () => {
    const { circuit, relays } = await twoHops();
    const stream = await circuit.openStream("127.0.0.1", await echoServer(cleanups));
    const errored = once(stream, "error");
    const closed = once(circuit, "close");
    circuit.destroy();
    expect((await closed)[0]).toBe(DestroyReason.FINISHED);
    expect(((await errored)[0] as StreamError).reason).toBe(EndReason.DESTROY);
    await expect(circuit.openStream("127.0.0.1", 80)).rejects.toMatchObject({ reason: EndReason.DESTROY });
    await vi.waitFor(() => expect(relays[0].circuitCount + relays[1].circuitCount).toBe(0));
  });
});
