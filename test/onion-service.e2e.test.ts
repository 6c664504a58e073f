/**
 * Onion services end to end, in one process: a service (startOnionService, its key in a data
 * directory) reached by name through other proxies' SOCKS ports over real relays (descriptor
 * on HSDirs, introduction, rendezvous, hs-ntor hop), bytes checked by hash both ways; two
 * clients at once; the same address after a restart; a time-period boundary crossed (the
 * authority runs 1-minute periods); the SOCKS answers for an unmapped port and a bad name.
 */
import { createHash, randomBytes } from "node:crypto";
import { createServer, type AddressInfo, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CircuitPurpose } from "../gen/meowonion/v1/control_pb.js";
import { socksConnect, SocksError } from "../src/proxy/socks-client.js";
import { startProxy, type ProxyHandle } from "../src/proxy/proxy.js";
import { type OnionServiceHandle, startOnionService } from "../src/proxy/onion/start.js";
import { Socks5Reply } from "../src/onion/reasons.js";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { ONION_SERVICE_KEY_FILE } from "../src/proxy/onion/start.js";
import { Cleanups, tempDir } from "./helpers/cleanups.js";
import { echoThrough } from "./helpers/socks-client.js";
import { waitFor } from "./helpers/procs.js";
import { controlClient } from "./helpers/network.js";
import { Code } from "@connectrpc/connect";
import { LOCAL_EXIT_POLICY, startInProcessNetwork, type InProcessNetwork } from "./helpers/in-process-network.js";

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** A TCP server that echoes what it receives. */
async function startEcho(cleanups: Cleanups): Promise<number> {
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => socket.pipe(socket));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.add(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as AddressInfo).port;
}

const roundTrip = (client: ProxyHandle, host: string, port: number, payload: Buffer) =>
  echoThrough({ proxyHost: client.socksHost, proxyPort: client.socksPort, host, port, timeoutMs: 60_000 }, payload);

describe("onion services", () => {
  const cleanups = new Cleanups();
  let network: InProcessNetwork;
  let client: ProxyHandle;
  let service: OnionServiceHandle;
  let serviceDir: string;
  let echoPort: number;

  const startClient = async () => {
    const proxy = await startProxy({
      directories: [{ url: network.directory.url, key: network.directory.publicKey }],
      socks: { host: "127.0.0.1", port: 0 },
      enforceDistinctSubnets: false,
    });
    cleanups.add(() => proxy.close());
    return proxy;
  };
  const startService = async () => {
    const handle = await startOnionService({
      directories: [{ url: network.directory.url, key: network.directory.publicKey }],
      dataDir: serviceDir,
      ports: [{ virtualPort: 7, host: "127.0.0.1", port: echoPort }],
      enforceDistinctSubnets: false,
    });
    cleanups.add(() => handle.close());
    return handle;
  };

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
      directory: { onionServicePeriods: { lengthMinutes: 1, rotationOffsetMinutes: 0 } },
    });
    cleanups.add(() => network.close());
    client = await startClient();
    serviceDir = await tempDir(cleanups, "meowonion-service-");
    service = await startService();
  }, 120_000);

  afterAll(() => cleanups.run());

  it("carries bytes both ways, intact, to a service by its .meow name", async () => {
    const payload = randomBytes(300_000);
    const echoed = await roundTrip(client, service.address, 7, payload);
    expect(sha256(echoed)).toBe(sha256(payload));
    const rendezvous = client.pool.circuits().filter((c) => c.purpose === CircuitPurpose.CLIENT_RENDEZVOUS);
    expect(rendezvous.some((c) => c.path.at(-1)?.nickname === service.address)).toBe(true);
  }, 60_000);

  it("serves two clients at once, each its own rendezvous", async () => {
    const other = await startClient();
    const payloads = [randomBytes(200_000), randomBytes(200_000)];
    const echoed = await Promise.all([roundTrip(client, service.address, 7, payloads[0]), roundTrip(other, service.address, 7, payloads[1])]);
    expect(echoed.map(sha256)).toEqual(payloads.map(sha256));
  }, 60_000);

  it("keeps its address across a restart (the key in its data directory) and is reached again", async () => {
    const address = service.address;
    expect((await stat(join(serviceDir, ONION_SERVICE_KEY_FILE))).mode & 0o777).toBe(0o600);
    await service.close();
    service = await startService();
    expect(service.address).toBe(address);
    // The client still holds the old descriptor and a rendezvous circuit that died with the old service.
    const payload = randomBytes(50_000);
    expect(sha256(await roundTrip(client, address, 7, payload))).toBe(sha256(payload));
  }, 60_000);

  it("crosses a time-period boundary: new blinded key, new descriptor, reached by a fresh client", async () => {
    const periodsNow = () => Object.keys(service.service.status().storedAt).map(Number);
    const before = Math.max(...periodsNow());
    await waitFor("a descriptor for the next period", 90_000, () => (periodsNow().some((p) => p > before) ? true : undefined), 200);
    const fresh = await startClient();
    const payload = randomBytes(50_000);
    expect(sha256(await roundTrip(fresh, service.address, 7, payload))).toBe(sha256(payload));
  }, 120_000);

  it("adds and removes an ephemeral service through the ControlService (ADD_ONION / DEL_ONION)", async () => {
    const control = controlClient(network.proxy.controlUrl!);
    const added = await control.addOnionService({ ports: [{ virtualPort: 7, target: `127.0.0.1:${echoPort}` }] });
    expect(added.address).toMatch(/^[a-z2-7]{56}\.meow$/);
    expect(added.identitySeed).toHaveLength(32);
    const payload = randomBytes(10_000);
    expect(sha256(await roundTrip(client, added.address, 7, payload))).toBe(sha256(payload));
    await expect(control.addOnionService({ ports: [{ virtualPort: 7, target: `127.0.0.1:${echoPort}` }], identitySeed: added.identitySeed })).rejects.toMatchObject({
      code: Code.AlreadyExists,
    });
    await expect(control.addOnionService({ ports: [{ virtualPort: 0, target: "127.0.0.1:1" }] })).rejects.toMatchObject({ code: Code.InvalidArgument });
    await control.removeOnionService({ address: added.address });
    await expect(control.removeOnionService({ address: added.address })).rejects.toMatchObject({ code: Code.NotFound });
  }, 60_000);

  it("rotates its intro points and republishes; clients holding the old descriptor still get in", async () => {
    const rotating = await network.proxy.addOnionService({
      ports: [{ virtualPort: 7, host: "127.0.0.1", port: echoPort }],
      tuning: { introPointLifetimeMs: { min: 1_500, max: 2_000 } },
    });
    const payload = randomBytes(10_000);
    expect(sha256(await roundTrip(client, rotating.address, 7, payload))).toBe(sha256(payload));
    const introKeys = () => rotating.introPointKeys();
    const before = introKeys();
    await waitFor("every intro point replaced", 30_000, () => (introKeys().every((k) => !before.includes(k)) && introKeys().length === 3 ? true : undefined), 100);
    // A new rendezvous (another isolation key) from the client that cached the old descriptor.
    const again = await echoThrough(
      { proxyHost: client.socksHost, proxyPort: client.socksPort, host: rotating.address, port: 7, username: "after-rotation", password: "x", timeoutMs: 60_000 },
      payload,
    );
    expect(sha256(again)).toBe(sha256(payload));
    network.proxy.removeOnionService(rotating.address);
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
