/**
 * HTTP through the library on a real local network in this process: client.fetch, Node's own
 * fetch with the dispatcher, http.get and https.get with the agents (TLS end to end inside the
 * stream, verified against the server's certificate), kept-alive connections and a new
 * identity, isolated handles, an onion service by its `.meow` name (fetch, http.get and a raw
 * client.connect stream; a name with a bad checksum fails typed), and failures as typed
 * causes.
 */
import { once } from "node:events";
import http from "node:http";
import https from "node:https";
import type { AddressInfo, Socket } from "node:net";
import type { Response as UndiciResponse } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startOnionService } from "../proxy/onion/start.js";
import { Cleanups, tempDir } from "../../test/helpers/cleanups.js";
import { FIVE_RELAYS, type InProcessNetwork, startInProcessNetwork } from "../../test/helpers/in-process-network.js";
import { localhostCertificate } from "../../test/helpers/tls-cert.js";
import { MeowOnion } from "./client.js";

const cleanups = new Cleanups();
let network: InProcessNetwork;
let client: MeowOnion;
let cert: string;
/** The destination servers: http://127.0.0.1:PORT and https://127.0.0.1:PORT. */
let plainUrl: string;
let secureUrl: string;
let meowUrl: string;

/** Connections the servers accepted, numbered from 1 in order (x-connection tells which one served a request). */
const connections = new WeakMap<Socket, number>();
let lastConnection = 0;

/** Answers every request with the method, path and whether it came over TLS. */
function answer(req: http.IncomingMessage, res: http.ServerResponse): void {
  const tls = "encrypted" in req.socket && req.socket.encrypted === true;
  res.setHeader("x-connection", String(connections.get(req.socket)));
  res.end(`${req.method} ${req.url}${tls ? " over TLS" : ""}`);
}

async function listen(server: http.Server | https.Server, scheme: string): Promise<string> {
  server.on(scheme === "https" ? "secureConnection" : "connection", (socket: Socket) => connections.set(socket, ++lastConnection));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  cleanups.add(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  return `${scheme}://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** What a GET returned, and on which of the server's connections. */
interface Answer {
  body: string;
  connection: number;
}

async function fetchThrough(fetching: Promise<UndiciResponse>): Promise<Answer> {
  const res = await fetching;
  return { body: await res.text(), connection: Number(res.headers.get("x-connection")) };
}

function get(module: typeof http | typeof https, url: string, options: https.RequestOptions): Promise<Answer> {
  return new Promise((resolve, reject) => {
    module
      .get(url, options, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("end", () => resolve({ body, connection: Number(res.headers["x-connection"]) }));
      })
      .on("error", reject);
  });
}

/** Several sequential requests ride fewer connections; one after a new identity rides a connection never used before. */
async function expectKeptAliveUntilNewIdentity(client: MeowOnion, request: (path: string) => Promise<Answer>): Promise<void> {
  const before: Answer[] = [];
  for (const path of ["/1", "/2", "/3", "/4"]) before.push(await request(path));
  expect(before.map((a) => a.body)).toEqual(["GET /1", "GET /2", "GET /3", "GET /4"]);
  expect(new Set(before.map((a) => a.connection)).size).toBeLessThan(before.length);
  client.newIdentity();
  const after = await request("/5");
  expect(after.body).toBe("GET /5");
  expect(after.connection).toBeGreaterThan(Math.max(...before.map((a) => a.connection)));
}

beforeAll(async () => {
  const credentials = await localhostCertificate();
  cert = credentials.cert;
  plainUrl = await listen(http.createServer(answer), "http");
  secureUrl = await listen(https.createServer(credentials, answer), "https");
  network = await startInProcessNetwork({ relays: FIVE_RELAYS });
  cleanups.add(() => network.close());
  const directories = [{ url: network.directory.url, key: network.directory.publicKey }];
  const service = await startOnionService({
    directories,
    dataDir: await tempDir(cleanups, "meowonion-library-service-"),
    ports: [{ virtualPort: 80, host: "127.0.0.1", port: Number(new URL(plainUrl).port) }],
    enforceDistinctSubnets: false,
  });
  cleanups.add(() => service.close());
  meowUrl = `http://${service.address}`;
  client = await MeowOnion.createBootstrapped({ directories, enforceDistinctSubnets: false, tls: { ca: cert }, signal: AbortSignal.timeout(60_000) });
  cleanups.add(() => client.close());
}, 120_000);

afterAll(() => cleanups.run());

describe("fetch", () => {
  it("client.fetch keeps connections alive, and a new identity starts new ones", async () => {
    await expectKeptAliveUntilNewIdentity(client, (path) => fetchThrough(client.fetch(`${plainUrl}${path}`)));
    expect(await (await client.fetch(`${plainUrl}/post`, { method: "POST", body: "meow" })).text()).toBe("POST /post");
  });

  it("Node's own fetch takes the dispatcher", async () => {
    const res = await fetch(`${plainUrl}/native`, { dispatcher: client.dispatcher } as RequestInit);
    expect(await res.text()).toBe("GET /native");
  });

  it("https:// runs TLS end to end inside the stream, checked against the server's certificate", async () => {
    expect(await (await client.fetch(`${secureUrl}/secret`)).text()).toBe("GET /secret over TLS");
  });

  it("reaches an onion service by its .meow name", async () => {
    expect(await (await client.fetch(`${meowUrl}/hidden`)).text()).toBe("GET /hidden");
  });

  it("client.connect reaches an onion service by its .meow name: a raw stream, half-closed", async () => {
    const socket = await client.connect(new URL(meowUrl).hostname, 80);
    expect(socket.remoteAddress).toBeUndefined(); // only the service's host knows where it went
    socket.end("GET /raw HTTP/1.0\r\nhost: x\r\n\r\n");
    let reply = "";
    for await (const chunk of socket) reply += String(chunk);
    expect(reply).toMatch(/^HTTP\/1\.1 200 [^]*\r\n\r\nGET \/raw$/);
  });

  it("a .meow name that is no onion service's address fails typed, before any circuit", async () => {
    // 56 base32 characters whose checksum does not hold.
    await expect(client.connect(`${"a".repeat(56)}.meow`, 80)).rejects.toMatchObject({ kind: "onion-service-bad-address" });
    await expect(client.fetch(`http://${"a".repeat(56)}.meow/`)).rejects.toMatchObject({ cause: { kind: "onion-service-bad-address" } });
  });

  it("a failure rejects as fetch does, the MeowOnionError as its cause", async () => {
    const closed = http.createServer().listen(0, "127.0.0.1");
    await once(closed, "listening");
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const failure = await client.fetch(`http://127.0.0.1:${port}/`).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(TypeError);
    expect((failure as TypeError).cause).toMatchObject({ kind: "connection-refused" });
  });

  it("isolated handles keep connections of their own", async () => {
    const alice = client.isolated();
    const bob = client.isolated();
    const first = await fetchThrough(alice.fetch(`${plainUrl}/alice`));
    const second = await fetchThrough(bob.fetch(`${plainUrl}/bob`));
    expect(second.connection).toBeGreaterThan(first.connection);
    await alice.close();
    await bob.close();
  });
});

describe("http and https agents", () => {
  it("http.get through httpAgent keeps connections alive until a new identity", async () => {
    await expectKeptAliveUntilNewIdentity(client, (path) => get(http, `${plainUrl}${path}`, { agent: client.httpAgent }));
  });

  it("https.get through httpsAgent", async () => {
    expect((await get(https, `${secureUrl}/agent`, { agent: client.httpsAgent, ca: cert })).body).toBe("GET /agent over TLS");
  });

  it("http.get to a .meow name", async () => {
    expect((await get(http, `${meowUrl}/agent`, { agent: client.httpAgent })).body).toBe("GET /agent");
  });
});
