/**
 * The library client end to end on a real local network in this process (an authority, five
 * relays): bootstrap progress, streams as net.Socket-like Duplexes (round trips, half-close
 * both ways, idle timeouts, destroy), typed errors, AbortSignals, isolation tokens and
 * handles, a new identity, RESOLVE, and the SOCKS and Control ports opened on the same client.
 */
import { once } from "node:events";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BootstrapPhase } from "../../gen/meowonion/v1/control_pb.js";
import { socksConnect } from "../proxy/socks-client.js";
import { Cleanups } from "../../test/helpers/cleanups.js";
import { FIVE_RELAYS, type InProcessNetwork, startInProcessNetwork } from "../../test/helpers/in-process-network.js";
import { MeowOnion, type BootstrapStatus } from "./client.js";
import { IsolationToken } from "./isolation.js";
import type { OnionSocket } from "./socket.js";

const cleanups = new Cleanups();
let network: InProcessNetwork;
let client: MeowOnion;
let echoPort: number;
/** Destination sockets, in the order accepted, by the test's servers. */
const accepted: net.Socket[] = [];

/** A TCP server on 127.0.0.1:0 running `serve` for each connection; its port. */
async function server(serve: (socket: net.Socket) => void): Promise<number> {
  const srv = net.createServer({ allowHalfOpen: true }, (socket) => {
    accepted.push(socket);
    socket.on("error", () => undefined);
    serve(socket);
  });
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  cleanups.add(() => new Promise((resolve) => srv.close(resolve)));
  return (srv.address() as net.AddressInfo).port;
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const srv = net.createServer().listen(0, "127.0.0.1");
  await once(srv, "listening");
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

function readAll(socket: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    socket.on("data", (chunk: Buffer) => (text += chunk.toString()));
    socket.once("end", () => resolve(text));
    socket.once("error", reject);
  });
}

async function echoOnce(socket: OnionSocket, text: string): Promise<string> {
  socket.write(text);
  const [chunk] = (await once(socket, "data")) as [Buffer];
  return chunk.toString();
}

function newClient(): Promise<MeowOnion> {
  return MeowOnion.create({ directories: [{ url: network.directory.url, key: network.directory.publicKey }], enforceDistinctSubnets: false });
}

beforeAll(async () => {
  echoPort = await server((socket) => socket.pipe(socket));
  network = await startInProcessNetwork({ relays: FIVE_RELAYS });
  cleanups.add(() => network.close());
  client = await newClient();
  cleanups.add(() => client.close());
  await client.bootstrapped;
});

afterAll(() => cleanups.run());

describe("MeowOnion bootstrap", () => {
  it("reports progress until done, with the key given as hex", async () => {
    const fresh = await MeowOnion.create({
      directories: [{ url: network.directory.url, key: Buffer.from(network.directory.publicKey).toString("hex") }],
      enforceDistinctSubnets: false,
    });
    try {
      const seen: BootstrapStatus[] = [];
      for await (const status of fresh.bootstrapEvents()) seen.push(status);
      expect(seen[0].phase).toBe("consensus");
      expect(seen.at(-1)).toEqual({ phase: "done", percent: 100, relaysKnown: 5 });
      const percents = seen.map((s) => s.percent);
      expect(percents).toEqual([...percents].sort((a, b) => a - b));
      await fresh.bootstrapped;
      expect(fresh.bootstrapStatus.phase).toBe("done");
    } finally {
      await fresh.close();
    }
  });

  it("gives up when the signal says so, and on close", async () => {
    const unreachable = { url: `http://127.0.0.1:${await closedPort()}`, key: network.directory.publicKey };
    await expect(MeowOnion.createBootstrapped({ directories: [unreachable], signal: AbortSignal.timeout(300) })).rejects.toMatchObject({ kind: "timeout" });

    const stuck = await MeowOnion.create({ directories: [unreachable] });
    const events = stuck.bootstrapEvents();
    expect((await events.next()).value).toMatchObject({ phase: "consensus" });
    const waiting = events.next();
    const bootstrapped = stuck.bootstrapped;
    await stuck.close();
    await expect(waiting).rejects.toMatchObject({ kind: "shutting-down" });
    await expect(bootstrapped).rejects.toMatchObject({ kind: "shutting-down" });
    await expect(stuck.connect("127.0.0.1", echoPort)).rejects.toMatchObject({ kind: "shutting-down" });
  });

  it("refuses a malformed directory key", async () => {
    await expect(MeowOnion.create({ directories: [{ url: network.directory.url, key: "abc" }] })).rejects.toMatchObject({ kind: "invalid-argument" });
  });
});

describe("client.connect streams", () => {
  it("carry bytes both ways like a net.Socket", async () => {
    const socket = await client.connect("127.0.0.1", echoPort);
    expect(socket.connecting).toBe(false);
    expect(socket.readyState).toBe("open");
    expect(socket.remoteAddress).toBe("127.0.0.1");
    expect(await echoOnce(socket, "meow")).toBe("meow");
    expect(socket.bytesWritten).toBe(4);
    expect(socket.bytesRead).toBe(4);
    socket.destroy();
  });

  it("half-close: our end() reaches the destination, which can still answer", async () => {
    const port = await server((socket) => {
      let got = "";
      socket.on("data", (c: Buffer) => (got += c.toString()));
      socket.on("end", () => socket.end(`you said ${got}`));
    });
    const socket = await client.connect("localhost", port);
    expect(socket.remoteAddress).toBeUndefined();
    socket.end("purr");
    expect(await readAll(socket)).toBe("you said purr");
    // Both sides ended: the stream closes without an error.
    if (!socket.closed) await once(socket, "close");
    expect(socket.errored).toBeNull();
  });

  it("half-close: the destination's end() ends our readable side and we can still write", async () => {
    let received: Promise<string> | undefined;
    const port = await server((socket) => {
      received = readAll(socket);
      socket.end("bye");
    });
    const socket = await client.connect("127.0.0.1", port);
    expect(await readAll(socket)).toBe("bye");
    expect(socket.readyState).toBe("writeOnly");
    socket.end("still here");
    expect(await received).toBe("still here");
  });

  it("writes made while connecting are sent once the stream opens", async () => {
    const socket = client.createConnection("127.0.0.1", echoPort);
    expect(socket.connecting).toBe(true);
    socket.end("early");
    expect(await readAll(socket)).toBe("early");
  });

  it("emits 'timeout' after the idle time set, and activity postpones it", async () => {
    const socket = await client.connect("127.0.0.1", echoPort);
    const started = performance.now();
    socket.setTimeout(200);
    expect(socket.timeout).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(await echoOnce(socket, "keep")).toBe("keep");
    await once(socket, "timeout");
    expect(performance.now() - started).toBeGreaterThanOrEqual(300);
    expect(socket.destroyed).toBe(false);
    socket.destroy();
  });

  it("destroy() tells the destination", async () => {
    const socket = await client.connect("127.0.0.1", echoPort);
    expect(await echoOnce(socket, "x")).toBe("x");
    const far = accepted.at(-1)!;
    socket.destroy();
    await once(far, "close");
    expect(socket.destroyed).toBe(true);
  });
});

describe("typed errors", () => {
  it("a refused connection", async () => {
    await expect(client.connect("127.0.0.1", await closedPort())).rejects.toMatchObject({ name: "StreamError", kind: "connection-refused", code: "CONNECTREFUSED" });
  });

  it("a destination no exit's policy allows", async () => {
    await expect(client.connect("10.1.2.3", 80)).rejects.toMatchObject({ kind: "exit-policy", code: "EXITPOLICY" });
  });

  it("a malformed target, before anything is sent", async () => {
    expect(() => client.createConnection("bad host", 80)).toThrow(expect.objectContaining({ kind: "invalid-target" }));
    await expect(client.connect("127.0.0.1", 0)).rejects.toMatchObject({ kind: "invalid-target" });
    await expect(client.connect("example.onion", 80)).rejects.toMatchObject({ kind: "onion-service-bad-address" });
  });

  it("a reset by the destination destroys the stream with the END reason", async () => {
    const port = await server((socket) => socket.once("data", () => socket.resetAndDestroy()));
    const socket = await client.connect("127.0.0.1", port);
    socket.write("reset me");
    const [error] = await once(socket, "error");
    expect(error).toMatchObject({ kind: "connection-refused", code: "CONNRESET" });
  });

  it("an aborted or timed-out wait", async () => {
    const abort = new AbortController();
    const connecting = client.connect("127.0.0.1", echoPort, { signal: abort.signal });
    abort.abort();
    await expect(connecting).rejects.toMatchObject({ kind: "cancelled" });
    await expect(client.connect("127.0.0.1", echoPort, { signal: AbortSignal.abort() })).rejects.toMatchObject({ kind: "cancelled" });
    await expect(client.resolve("localhost", { signal: AbortSignal.timeout(0) })).rejects.toMatchObject({ kind: "timeout" });
  });

  it("an abort after connecting destroys the stream", async () => {
    const abort = new AbortController();
    const socket = await client.connect("127.0.0.1", echoPort, { signal: abort.signal });
    abort.abort();
    const [error] = await once(socket, "error");
    expect(error).toMatchObject({ kind: "cancelled" });
  });
});

describe("isolation", () => {
  it("streams share the handle's circuit unless their tokens differ", async () => {
    const a = await client.connect("127.0.0.1", echoPort);
    const b = await client.connect("127.0.0.1", echoPort);
    const token = new IsolationToken();
    const c = await client.connect("127.0.0.1", echoPort, { isolation: token });
    const d = await client.connect("127.0.0.1", echoPort, { isolation: token });
    const e = await client.connect("127.0.0.1", echoPort, { isolation: new IsolationToken() });
    expect(b.circuitId).toBe(a.circuitId);
    expect(d.circuitId).toBe(c.circuitId);
    expect(new Set([a.circuitId, c.circuitId, e.circuitId]).size).toBe(3);
    for (const s of [a, b, c, d, e]) s.destroy();
  });

  it("an isolated handle shares no circuit with its parent or its siblings", async () => {
    const alice = client.isolated();
    const bob = client.isolated();
    const streams = await Promise.all([client, alice, bob, alice.isolated()].map((h) => h.connect("127.0.0.1", echoPort)));
    expect(new Set(streams.map((s) => s.circuitId)).size).toBe(4);
    await alice.close();
    await expect(alice.connect("127.0.0.1", echoPort)).rejects.toMatchObject({ kind: "shutting-down" });
    expect(await echoOnce(streams[2], "bob is fine")).toBe("bob is fine");
    for (const s of streams) s.destroy();
  });

  it("a new identity: new streams get a new circuit, open ones go on", async () => {
    const before = await client.connect("127.0.0.1", echoPort);
    client.newIdentity();
    const after = await client.connect("127.0.0.1", echoPort);
    expect(after.circuitId).not.toBe(before.circuitId);
    expect(await echoOnce(before, "still")).toBe("still");
    before.destroy();
    after.destroy();
  });

  it("rejects something other than a token", async () => {
    expect(() => client.createConnection("127.0.0.1", echoPort, { isolation: "alice" as never })).toThrow(expect.objectContaining({ kind: "invalid-argument" }));
  });
});

describe("RESOLVE and the client's own ports", () => {
  it("resolves a name at an exit", async () => {
    expect(await client.resolve("localhost")).toContain("127.0.0.1");
    await expect(client.resolve(`${"a".repeat(56)}.meow`)).rejects.toMatchObject({ kind: "invalid-target" });
  });

  it("serves SOCKS and the ControlService on the same client, isolated from the library's streams", async () => {
    const ports = await client.listenSocks({ control: {} });
    try {
      const viaSocks = await socksConnect({ proxyHost: ports.socksHost, proxyPort: ports.socksPort, host: "127.0.0.1", port: echoPort });
      viaSocks.write("socks");
      expect(((await once(viaSocks, "data")) as [Buffer])[0].toString()).toBe("socks");
      const lib = await client.connect("127.0.0.1", echoPort);
      const res = await fetch(`${ports.controlUrl}/meowonion.v1.ControlService/ListStreams`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
      const { streams } = (await res.json()) as { streams: { circuitId: string; state: string }[] };
      const open = streams.filter((s) => s.state === "STREAM_STATE_OPEN");
      expect(open.map((s) => s.circuitId)).toContain(String(lib.circuitId));
      expect(new Set(open.map((s) => s.circuitId)).size).toBe(2);
      const status = await fetch(`${ports.controlUrl}/meowonion.v1.ControlService/GetStatus`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
      expect(((await status.json()) as { phase: string }).phase).toBe(`BOOTSTRAP_PHASE_${BootstrapPhase[BootstrapPhase.DONE]}`);
      viaSocks.destroy();
      lib.destroy();
    } finally {
      await ports.close();
    }
  });
});
