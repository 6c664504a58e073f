/**
 * Onion services end to end, in one process: a service in one proxy, reached by name through
 * another proxy's SOCKS port over real relays (descriptor on HSDirs, introduction, rendezvous,
 * hs-ntor hop), bytes checked by hash both ways.
 */
import { createHash, randomBytes } from "node:crypto";
import { createServer, type AddressInfo, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CircuitPurpose } from "../gen/meowonion/v1/control_pb.js";
import { socksConnect, SocksError } from "../src/proxy/socks-client.js";
import { startProxy, type ProxyHandle } from "../src/proxy/proxy.js";
import type { OnionService } from "../src/proxy/onion/service.js";
import { Socks5Reply } from "../src/onion/reasons.js";
import { Cleanups, tempDir } from "./helpers/cleanups.js";
import { LOCAL_EXIT_POLICY, startInProcessNetwork, type InProcessNetwork } from "./helpers/in-process-network.js";

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** A TCP server that echoes what it receives. */
async function startEcho(cleanups: Cleanups): Promise<number> {
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => socket.pipe(socket));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.add(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as AddressInfo).port;
}

async function roundTrip(client: ProxyHandle, host: string, port: number, payload: Buffer): Promise<Buffer> {
  const socket = await socksConnect({ proxyHost: client.socksHost, proxyPort: client.socksPort, host, port });
  const chunks: Buffer[] = [];
  let received = 0;
  const done = new Promise<Buffer>((resolve, reject) => {
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (received >= payload.length) {
        socket.end();
        resolve(Buffer.concat(chunks));
      }
    });
    socket.on("error", reject);
  });
  socket.write(payload);
  return done;
}

describe("onion services", () => {
  const cleanups = new Cleanups();
  let network: InProcessNetwork;
  let client: ProxyHandle;
  let service: OnionService;
  let echoPort: number;

  beforeAll(async () => {
    echoPort = await startEcho(cleanups);
    network = await startInProcessNetwork({
      relays: [
        { nickname: "r1" },
        { nickname: "r2" },
        { nickname: "r3" },
        { nickname: "e1", exitPolicy: LOCAL_EXIT_POLICY },
        { nickname: "e2", exitPolicy: LOCAL_EXIT_POLICY },
      ],
    });
    cleanups.add(() => network.close());
    client = await startProxy({
      directories: [{ url: network.directory.url, key: network.directory.publicKey }],
      socks: { host: "127.0.0.1", port: 0 },
      dataDir: await tempDir(cleanups, "meowonion-client-"),
      enforceDistinctSubnets: false,
    });
    cleanups.add(() => client.close());
    service = await network.proxy.addOnionService({ ports: [{ virtualPort: 7, host: "127.0.0.1", port: echoPort }] });
  }, 120_000);

  afterAll(() => cleanups.run());

  it("carries bytes both ways, intact, to a service by its .meow name", async () => {
    const payload = randomBytes(300_000);
    const echoed = await roundTrip(client, service.address, 7, payload);
    expect(sha256(echoed)).toBe(sha256(payload));
    const rendezvous = client.pool.circuits().filter((c) => c.purpose === CircuitPurpose.CLIENT_RENDEZVOUS);
    expect(rendezvous.some((c) => c.path.at(-1)?.nickname === service.address)).toBe(true);
  }, 60_000);

  it("refuses an unmapped port with the service's END, and a wrong address before building anything", async () => {
    await expect(socksConnect({ proxyHost: client.socksHost, proxyPort: client.socksPort, host: service.address, port: 8 })).rejects.toMatchObject({
      reply: Socks5Reply.NOT_ALLOWED,
    });
    const wrong = `${service.address.slice(0, 10)}${service.address[10] === "a" ? "b" : "a"}${service.address.slice(11)}`;
    const refusal = await socksConnect({ proxyHost: client.socksHost, proxyPort: client.socksPort, host: wrong, port: 7 }).catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(SocksError);
    expect((refusal as SocksError).reply).toBe(Socks5Reply.ONION_SERVICE_BAD_ADDRESS);
  }, 60_000);
});
