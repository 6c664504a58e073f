/**
 * End to end: a real authority, five in-process relays and the proxy; the real curl fetching
 * from local HTTP(S) servers through SOCKS5 and HTTP CONNECT; isolation, exit-policy refusals,
 * BEGIN retries, and the ControlService over Connect JSON and HTTP/2.
 */
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CircuitState, ControlService, StreamState, type StreamInfo, type WatchEventsResponse } from "../../gen/meowonion/v1/control_pb.js";
import { parseHostPort } from "../common/host-port.js";
import { Socks5Reply } from "../onion/reasons.js";
import { tlsCredentials } from "../link/tls-credentials.js";
import { GUARD_FILE, parseGuardFile } from "./guards.js";
import { startProxy } from "./proxy.js";
import { SocksError, socksConnect } from "./socks-client.js";
import { LOCAL_EXIT_POLICY, type InProcessNetwork, startInProcessNetwork } from "../../test/helpers/in-process-network.js";

const run = promisify(execFile);
const CURL = "/usr/bin/curl";
/** Refuses 127.0.0.1 but accepts the rest of 127/8: a host name that resolves to 127.0.0.1 passes the client's check and fails at the exit. */
const REFUSING_EXIT_POLICY = "reject 127.0.0.1/32:*,accept 127.0.0.0/8:*,reject *:*";

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const files = new Map<string, Buffer>([
  ["/1k", randomBytes(1024)],
  ["/5m", randomBytes(5 * 1024 * 1024)],
]);

function serveFiles(req: http.IncomingMessage, res: http.ServerResponse): void {
  const body = files.get(req.url ?? "");
  if (!body) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { "content-length": body.length }).end(body);
}

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as net.AddressInfo).port;
}

async function closeServer(server: net.Server): Promise<void> {
  (server as http.Server).closeAllConnections?.();
  await new Promise((resolve) => server.close(resolve));
}

async function curl(args: string[]): Promise<Buffer> {
  const { stdout } = await run(CURL, ["-sS", "--fail", "--max-time", "30", ...args], { encoding: "buffer", maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

/** The status curl saw from the proxy (`%{http_connect}` for a CONNECT; curl exits non-zero when refused). */
async function httpStatus(args: string[], variable = "%{http_code}"): Promise<string> {
  try {
    return (await run(CURL, ["-sS", "-o", "/dev/null", "-w", variable, ...args])).stdout;
  } catch (err) {
    return (err as { stdout: string }).stdout;
  }
}

/** Resolves once the proxy holds a consensus. */
async function untilConsensus(network: InProcessNetwork): Promise<void> {
  const pool = network.proxy.pool;
  while (pool.status().relaysKnown === 0) await new Promise((resolve) => pool.once("status", resolve));
}

/** CONNECT through the SOCKS port: the reply code, and the (flowing) socket if it succeeded. */
async function socks5Connect(proxy: string, host: string, port: number): Promise<{ reply: number; socket: net.Socket | undefined }> {
  const { host: proxyHost, port: proxyPort } = parseHostPort(proxy);
  try {
    const socket = await socksConnect({ proxyHost, proxyPort, host, port });
    socket.resume();
    return { reply: Socks5Reply.SUCCEEDED, socket };
  } catch (err) {
    if (err instanceof SocksError && err.reply !== undefined) return { reply: err.reply, socket: undefined };
    throw err;
  }
}

/** Collects pool stream events while `action` runs. */
async function streamsDuring(network: InProcessNetwork, action: () => Promise<unknown>): Promise<StreamInfo[]> {
  const seen: StreamInfo[] = [];
  const onStream = (s: StreamInfo) => seen.push(s);
  network.proxy.pool.on("stream", onStream);
  try {
    await action();
  } finally {
    network.proxy.pool.off("stream", onStream);
  }
  return seen;
}

/** Calls a unary ControlService method with Connect's JSON protocol, as `buf curl` or plain curl would. */
async function connectJson(controlUrl: string, method: string, body: unknown = {}): Promise<{ status: number; json: any }> {
  const res = await fetch(`${controlUrl}/meowonion.v1.ControlService/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

const standardRelays = [
  { nickname: "Exit1", exitPolicy: LOCAL_EXIT_POLICY },
  { nickname: "Exit2", exitPolicy: LOCAL_EXIT_POLICY },
  { nickname: "Middle3" },
  { nickname: "Middle4" },
  { nickname: "Middle5" },
];

describe("through a five-relay network", () => {
  let network: InProcessNetwork;
  let httpServer: http.Server;
  let httpsServer: https.Server;
  let httpPort: number;
  let httpsPort: number;

  beforeAll(async () => {
    network = await startInProcessNetwork({ relays: standardRelays });
    await network.proxy.ready;
    httpServer = http.createServer(serveFiles);
    httpPort = await listen(httpServer);
    httpsServer = https.createServer(await tlsCredentials(), serveFiles);
    httpsPort = await listen(httpsServer);
  });
  afterAll(async () => {
    await network?.close();
    if (httpServer) await closeServer(httpServer);
    if (httpsServer) await closeServer(httpsServer);
  });

  it("fetches 1 KB and 5 MB with curl --socks5-hostname, intact", async () => {
    for (const path of ["/1k", "/5m"]) {
      const body = await curl(["--socks5-hostname", network.proxy.socksAddress, `http://localhost:${httpPort}${path}`]);
      expect(sha256(body)).toBe(sha256(files.get(path)!));
    }
  });

  it("fetches over HTTPS with curl -x http:// (HTTP CONNECT), intact", async () => {
    const body = await curl(["-k", "-x", `http://${network.proxy.socksAddress}`, `https://localhost:${httpsPort}/5m`]);
    expect(sha256(body)).toBe(sha256(files.get("/5m")!));
    const tunneled = await curl(["-p", "-x", `http://${network.proxy.socksAddress}`, `http://localhost:${httpPort}/1k`]);
    expect(sha256(tunneled)).toBe(sha256(files.get("/1k")!));
  });

  it("also speaks SOCKS4a (curl --socks4a)", async () => {
    const body = await curl(["--socks4a", network.proxy.socksAddress, `http://localhost:${httpPort}/1k`]);
    expect(sha256(body)).toBe(sha256(files.get("/1k")!));
  });

  it("answers plain HTTP proxy requests with 405", async () => {
    expect(await httpStatus(["-x", `http://${network.proxy.socksAddress}`, `http://localhost:${httpPort}/1k`])).toBe("405");
  });

  it("isolates SOCKS credentials: different users never share a circuit, one user keeps its circuit", async () => {
    const fetchAs = (user: string) =>
      streamsDuring(network, () => curl(["--socks5-hostname", `${user}:pw@${network.proxy.socksAddress}`, `http://localhost:${httpPort}/1k`]));
    const circuitOf = (events: StreamInfo[]) => events.find((s) => s.state === StreamState.OPEN)!.circuitId;
    const alice1 = circuitOf(await fetchAs("alice"));
    const bob = circuitOf(await fetchAs("bob"));
    const alice2 = circuitOf(await fetchAs("alice"));
    expect(bob).not.toBe(alice1);
    expect(alice2).toBe(alice1);
    const keys = new Map(network.proxy.pool.circuits().map((c) => [c.id, c.isolationKey]));
    expect(keys.get(alice1)).toBe("alice:pw");
    expect(keys.get(bob)).toBe("bob:pw");
  });

  it("serves 100 concurrent streams", async () => {
    const echo = net.createServer({ allowHalfOpen: true }, (s) => s.pipe(s));
    const echoPort = await listen(echo);
    try {
      await Promise.all(
        Array.from({ length: 100 }, async (_, i) => {
          const { reply, socket } = await socks5Connect(network.proxy.socksAddress, "localhost", echoPort);
          expect(reply).toBe(0);
          const payload = randomBytes(2000 + i);
          const chunks: Buffer[] = [];
          socket!.on("data", (c: Buffer) => chunks.push(c));
          socket!.end(payload);
          await new Promise((resolve) => socket!.on("close", resolve));
          expect(sha256(Buffer.concat(chunks))).toBe(sha256(payload));
        }),
      );
    } finally {
      await closeServer(echo);
    }
  });

  it("refuses a destination no exit allows with SOCKS reply 0x02 and HTTP 403", async () => {
    const { reply, socket } = await socks5Connect(network.proxy.socksAddress, "10.9.8.7", 80);
    socket?.destroy();
    expect(reply).toBe(0x02);
    expect(await httpStatus(["-p", "-x", `http://${network.proxy.socksAddress}`, "http://10.9.8.7/"], "%{http_connect}")).toBe("403");
  });

  it("answers CONNECTREFUSED with reply 0x05 without retrying elsewhere", async () => {
    const closed = net.createServer();
    const port = await listen(closed);
    await closeServer(closed);
    const events = await streamsDuring(network, async () => {
      const { reply, socket } = await socks5Connect(network.proxy.socksAddress, "localhost", port);
      socket?.destroy();
      expect(reply).toBe(0x05);
    });
    expect(new Set(events.map((e) => e.circuitId).filter((id) => id !== 0n)).size).toBe(1);
  });

  it("ControlService over Connect JSON: status, circuits with nicknames, build, close, new identity", async () => {
    const url = network.proxy.controlUrl!;
    const status = await connectJson(url, "GetStatus");
    expect(status.json).toMatchObject({ phase: "BOOTSTRAP_PHASE_DONE", progressPercent: 100, relaysKnown: 5, socksAddress: network.proxy.socksAddress });

    const listed = await connectJson(url, "ListCircuits");
    const nicknames = new Set(standardRelays.map((r) => r.nickname));
    expect(listed.json.circuits.length).toBeGreaterThan(0);
    for (const c of listed.json.circuits) {
      expect(c.path).toHaveLength(3);
      for (const hop of c.path) expect(nicknames.has(hop.nickname)).toBe(true);
      expect(["Exit1", "Exit2"]).toContain(c.path[2].nickname);
    }

    const [exit1, middle3, middle4] = ["Exit1", "Middle3", "Middle4"].map((n) => network.relays.find((r) => r.nickname === n)!);
    const explicit = [middle3, middle4, exit1].map((r) => Buffer.from(r.identityKey).toString("base64"));
    const built = await connectJson(url, "BuildCircuit", { path: explicit });
    expect(built.status).toBe(200);
    expect(built.json.circuit.state).toBe("CIRCUIT_STATE_OPEN");
    expect(built.json.circuit.path.map((h: { nickname: string }) => h.nickname)).toEqual(["Middle3", "Middle4", "Exit1"]);
    expect(built.json.circuit.buildMs).toBeGreaterThan(0);

    const unknown = await connectJson(url, "BuildCircuit", { path: [Buffer.alloc(32, 9).toString("base64")] });
    expect(unknown.json.code).toBe("invalid_argument");
    const short = await connectJson(url, "BuildCircuit", { path: [Buffer.alloc(5).toString("base64")] });
    expect(short.json.code).toBe("invalid_argument");

    expect((await connectJson(url, "CloseCircuit", { id: built.json.circuit.id })).status).toBe(200);
    expect((await connectJson(url, "CloseCircuit", { id: "999999" })).json.code).toBe("not_found");

    const before = new Set(network.proxy.pool.circuits().map((c) => c.id));
    const renewed = await connectJson(url, "NewIdentity");
    expect(renewed.json.circuitsRetired).toBeGreaterThan(0);
    const events = await streamsDuring(network, () => curl(["--socks5-hostname", network.proxy.socksAddress, `http://localhost:${httpPort}/1k`]));
    const used = events.find((s) => s.state === StreamState.OPEN)!.circuitId;
    expect(before.has(used)).toBe(false);
  });

  it("ListStreams shows an open stream with its target and circuit, then it closes", async () => {
    const echo = net.createServer({ allowHalfOpen: true }, (s) => s.pipe(s));
    const echoPort = await listen(echo);
    try {
      const { reply, socket } = await socks5Connect(network.proxy.socksAddress, "localhost", echoPort);
      expect(reply).toBe(0);
      const { json } = await connectJson(network.proxy.controlUrl!, "ListStreams");
      const listed = json.streams.find((s: { target: string }) => s.target === `localhost:${echoPort}`);
      expect(listed).toMatchObject({ state: "STREAM_STATE_OPEN" });
      expect(network.proxy.pool.circuits().map((c) => String(c.id))).toContain(listed.circuitId);
      const closed = streamsDuring(network, async () => {
        socket!.end();
        await new Promise((resolve) => socket!.on("close", resolve));
        while (network.proxy.pool.streams().some((s) => s.id === BigInt(listed.id))) {
          await new Promise((resolve) => network.proxy.pool.once("stream", resolve));
        }
      });
      expect(await closed).toContainEqual(expect.objectContaining({ id: BigInt(listed.id), state: StreamState.CLOSED }));
      expect((await connectJson(network.proxy.controlUrl!, "ListStreams")).json.streams ?? []).not.toContainEqual(
        expect.objectContaining({ id: listed.id }),
      );
    } finally {
      await closeServer(echo);
    }
  });

  it("WatchEvents streams circuit changes and bandwidth over HTTP/2", async () => {
    const sessions = new Http2SessionManager(network.proxy.controlUrl!);
    const client = createClient(ControlService, createConnectTransport({ baseUrl: network.proxy.controlUrl!, httpVersion: "2", sessionManager: sessions }));
    const abort = new AbortController();
    const events: WatchEventsResponse[] = [];
    let subscribed!: () => void;
    const firstEvent = new Promise<void>((resolve) => (subscribed = resolve));
    const watching = (async () => {
      try {
        for await (const event of client.watchEvents({}, { signal: abort.signal })) {
          events.push(event);
          subscribed();
          const opened = events.some((e) => e.event.case === "circuit" && e.event.value.state === CircuitState.OPEN);
          if (opened && events.some((e) => e.event.case === "bandwidth" && e.event.value.bytesRead > 0n)) abort.abort();
        }
      } catch (err) {
        if (!abort.signal.aborted) throw err;
      }
    })();
    await firstEvent; // the current status: from here on, every change is sent
    await client.buildCircuit({});
    await curl(["--socks5-hostname", network.proxy.socksAddress, `http://localhost:${httpPort}/1k`]);
    await watching;
    sessions.abort();
    expect(events[0].event.case).toBe("status");
    const states = events.flatMap((e) => (e.event.case === "circuit" ? [e.event.value.state] : []));
    expect(states).toContain(CircuitState.BUILDING);
    expect(states).toContain(CircuitState.OPEN);
  });

  it("keeps its guards across a restart (guards.json in the data directory)", async () => {
    const saved = parseGuardFile(await readFile(join(network.proxyDataDir, GUARD_FILE), "utf8"))!;
    expect(saved.length).toBeGreaterThan(0);
    const second = await startProxy({
      directories: [{ url: network.directory.url, key: network.directory.publicKey }],
      socks: { host: "127.0.0.1", port: 0 },
      dataDir: network.proxyDataDir,
      enforceDistinctSubnets: false,
    });
    try {
      await second.ready;
      const first = second.pool.circuits().find((c) => c.state === CircuitState.OPEN)!;
      const entries = saved.map((e) => e.identityKey);
      expect(entries).toContain(Buffer.from(first.path[0].identityKey).toString("hex"));
      const after = parseGuardFile(await readFile(join(network.proxyDataDir, GUARD_FILE), "utf8"))!;
      expect(after.slice(0, saved.length).map((e) => e.identityKey)).toEqual(entries);
    } finally {
      await second.close();
    }
  });
});

describe("BEGIN failures", () => {
  it("retries a stream refused by one exit on another exit", async () => {
    const network = await startInProcessNetwork({
      relays: [{ nickname: "Refuser", exitPolicy: REFUSING_EXIT_POLICY }, { nickname: "Exit2", exitPolicy: LOCAL_EXIT_POLICY }, { nickname: "M3" }, { nickname: "M4" }],
      proxy: { circuits: { preemptiveCircuits: 0 } },
    });
    const server = http.createServer(serveFiles);
    const port = await listen(server);
    try {
      await untilConsensus(network);
      const [refuser, m3, m4] = ["Refuser", "M3", "M4"].map((n) => network.relays.find((r) => r.nickname === n)!);
      // The only circuit exits at Refuser: the first BEGIN must go there and fail.
      const first = await network.proxy.pool.buildCircuit([m3.identityKey, m4.identityKey, refuser.identityKey]);
      let body: Buffer | undefined;
      const events = await streamsDuring(network, async () => {
        body = await curl(["--socks5-hostname", network.proxy.socksAddress, `http://localhost:${port}/1k`]);
      });
      expect(sha256(body!)).toBe(sha256(files.get("/1k")!));
      const circuits = [...new Set(events.map((e) => e.circuitId).filter((id) => id !== 0n))];
      expect(circuits[0]).toBe(first.id);
      expect(circuits).toHaveLength(2);
      const second = network.proxy.pool.circuits().find((c) => c.id === circuits[1])!;
      expect(second.path.at(-1)!.nickname).toBe("Exit2");
    } finally {
      await closeServer(server);
      await network.close();
    }
  });

  it("gives SOCKS reply 0x02 when every exit refuses at the exit", async () => {
    const network = await startInProcessNetwork({
      relays: [{ nickname: "RefuserA", exitPolicy: REFUSING_EXIT_POLICY }, { nickname: "RefuserB", exitPolicy: REFUSING_EXIT_POLICY }, { nickname: "M3" }, { nickname: "M4" }],
    });
    const server = http.createServer(serveFiles);
    const port = await listen(server);
    try {
      await network.proxy.ready;
      const events = await streamsDuring(network, async () => {
        const { reply, socket } = await socks5Connect(network.proxy.socksAddress, "localhost", port);
        socket?.destroy();
        expect(reply).toBe(0x02);
      });
      const exits = new Set(
        events
          .filter((e) => e.circuitId !== 0n)
          .map((e) => network.proxy.pool.circuits().find((c) => c.id === e.circuitId)?.path.at(-1)?.nickname),
      );
      expect(exits).toEqual(new Set(["RefuserA", "RefuserB"]));
      expect(events.at(-1)).toMatchObject({ state: StreamState.FAILED });
    } finally {
      await closeServer(server);
      await network.close();
    }
  });
});
