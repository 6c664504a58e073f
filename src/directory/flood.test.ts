/**
 * A flood of bad requests from one address (forged signatures: the expensive kind to refuse)
 * does not stop good publishes from another address, and the flooder is soon refused with
 * RESOURCE_EXHAUSTED before any signature work. The flooder runs in a worker thread with raw
 * node:http2 (binary Connect requests from 127.0.0.2), so it loads the authority the way a
 * separate attacker would instead of sharing the authority's event loop.
 */
import { Worker } from "node:worker_threads";
import { create, toBinary } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { PublishDescriptorRequestSchema } from "../../gen/meowonion/v1/directory_pb.js";
import { makeRelay } from "../../test/helpers/directory.js";
import { Cleanups } from "../../test/helpers/cleanups.js";
import { startTestDirectory } from "../../test/helpers/in-process-network.js";

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

// Sends every body as a Connect unary call (concurrency 128) and counts HTTP statuses:
// Connect maps UNAUTHENTICATED to 401 and RESOURCE_EXHAUSTED to 429.
const FLOODER = `
const http2 = require("node:http2");
const { parentPort, workerData } = require("node:worker_threads");
const { url, bodies } = workerData;
const session = http2.connect(url, { localAddress: "127.0.0.2" });
session.on("error", () => {});
const statuses = {};
let next = 0;
function one(body) {
  return new Promise((resolve) => {
    const req = session.request({
      ":method": "POST",
      ":path": "/meowonion.v1.DirectoryService/PublishDescriptor",
      "content-type": "application/proto",
      "connect-protocol-version": "1",
    });
    req.on("response", (h) => { statuses[h[":status"]] = (statuses[h[":status"]] || 0) + 1; });
    req.on("data", () => {});
    req.on("close", resolve);
    req.on("error", resolve);
    req.end(Buffer.from(body));
  });
}
Promise.all(Array.from({ length: 128 }, async () => {
  while (next < bodies.length) await one(bodies[next++]);
})).then(() => { session.close(); parentPort.postMessage(statuses); });
`;

describe("flood", () => {
  it("bad requests from one address do not stop good publishes from another", async () => {
    const { client } = await startTestDirectory(cleanups, { budget: { burst: 200, perSecond: 50 } });
    const url = new URL(client.url);
    const victim = await makeRelay(cleanups, { listen: false });
    const bodies = Array.from({ length: 2500 }, () => {
      const descriptor = victim.descriptor();
      descriptor.signature[0] ^= 1; // forged: costs the authority a signature check to find out
      return toBinary(PublishDescriptorRequestSchema, create(PublishDescriptorRequestSchema, { descriptor }));
    });
    const worker = new Worker(FLOODER, { eval: true, workerData: { url: url.origin, bodies } });
    cleanups.add(() => worker.terminate());
    const flood = new Promise<Record<string, number>>((resolve, reject) => {
      worker.once("message", resolve);
      worker.once("error", reject);
    });

    // While the flood runs, honest relays publish from 127.0.0.1, one after the other.
    const latencies: number[] = [];
    let floodDone = false;
    void flood.then(() => (floodDone = true));
    while (!floodDone || latencies.length < 5) {
      const honest = await makeRelay(cleanups, { listen: false });
      const t0 = Date.now();
      const res = await client.rpc.publishDescriptor({ descriptor: honest.descriptor() });
      latencies.push(Date.now() - t0);
      expect(res.descriptorDigest).toMatch(/^[0-9a-f]{64}$/);
    }
    const statuses = await flood;

    // Every honest publish succeeded while the flood ran. The latency bound is loose because
    // test machines are shared (typically a few hundred ms; a stalled authority would time out).
    expect(Math.max(...latencies)).toBeLessThan(5_000);
    expect(statuses["401"] ?? 0).toBeGreaterThan(0);
    // Only the budget's worth of forgeries (burst + refill) cost a signature check.
    expect(statuses["401"] ?? 0).toBeLessThan(1_000);
    expect(statuses["429"] ?? 0).toBeGreaterThan(1_500);
    // The victim's entry was never touched.
    await expect(client.rpc.getDescriptor({ identityKey: victim.identity.publicKey })).rejects.toThrow(/no descriptor/);
  });
});
