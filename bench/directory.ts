/**
 * Directory authority benchmarks (issue 4):
 * - directory_publish_per_s: PublishDescriptor calls acknowledged per second (signature check,
 *   validation, fsynced journal) for 10,000 distinct relays, sent over real HTTP/2 by
 *   concurrent clients (8 connections × 64 streams) to `meowonion directory` running as its own
 *   process, as in deployment. The clients send pre-signed, pre-serialized binary Connect
 *   requests so that the figure measures the authority, not the load generator.
 * - consensus_1k_ms / consensus_10k_ms: median GetConsensus latency (Connect over HTTP/2, full
 *   response received and decoded) with 1,000 / 10,000 relays in the consensus. The store is
 *   filled in-process through the registry (reachability tests stubbed to pass).
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { ConsensusSchema } from "../gen/meowonion/v1/consensus_pb.js";
import { PublishDescriptorRequestSchema } from "../gen/meowonion/v1/directory_pb.js";
import type { SignedDescriptor } from "../gen/meowonion/v1/descriptor_pb.js";
import { rootLogger } from "../src/common/log.js";
import { createDirectoryClient, type DirectoryClient } from "../src/netdoc/directory-client.js";
import { buildSignedDescriptor } from "../src/netdoc/descriptor.js";
import { parseExitPolicy } from "../src/netdoc/exit-policy.js";
import { LOCAL_EXIT_POLICY } from "../src/network/launcher.js";
import { signHeartbeat } from "../src/netdoc/heartbeat.js";
import { startDirectory } from "../src/directory/server.js";
import { generateEd25519KeyPair, type Ed25519KeyPair } from "../src/onion/signing.js";

const REPO = fileURLToPath(new URL("..", import.meta.url));
const PUBLISH_RELAYS = 10_000;
const CONNECTIONS = 8;
const STREAMS_PER_CONNECTION = 64;
const LATENCY_SAMPLES = 25;

export async function benchDirectory(): Promise<Record<string, number>> {
  return {
    directory_publish_per_s: await benchPublish(),
    consensus_1k_ms: await benchConsensus(1_000),
    consensus_10k_ms: await benchConsensus(10_000),
  };
}

function makeRelays(n: number): { identity: Ed25519KeyPair; signed: SignedDescriptor }[] {
  const policy = parseExitPolicy(LOCAL_EXIT_POLICY);
  const now = Date.now();
  return Array.from({ length: n }, (_, i) => {
    const identity = generateEd25519KeyPair();
    const signed = buildSignedDescriptor(
      {
        nickname: `bench${i}`,
        identityKey: identity.publicKey,
        ntorOnionKey: generateEd25519KeyPair().publicKey,
        ipv4Address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255 || 1}`,
        orPort: 9001,
        exitPolicy: i % 4 === 0 ? policy : undefined,
        bandwidth: { averageBytesPerSecond: BigInt(50_000 + ((i * 7919) % 5_000_000)) },
        published: timestampFromMs(now),
        expires: timestampFromMs(now + 3600_000),
        softwareVersion: "meowonion bench",
      },
      identity.privateKey,
    );
    return { identity, signed };
  });
}

async function benchPublish(): Promise<number> {
  const dataDir = await mkdtemp(join(tmpdir(), "meowonion-bench-dir-"));
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli.ts", "directory", "--listen", "127.0.0.1:0", "--data-dir", dataDir], {
    cwd: REPO,
    env: { ...process.env, MEOWONION_LOG_LEVEL: "warn" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  try {
    const [line] = (await once(createInterface({ input: child.stdout! }), "line")) as [string];
    const url = /url=(\S+)/.exec(line)?.[1];
    if (url === undefined) throw new Error(`unexpected ready line: ${line}`);
    const bodies = makeRelays(PUBLISH_RELAYS).map(({ signed }) =>
      toBinary(PublishDescriptorRequestSchema, create(PublishDescriptorRequestSchema, { descriptor: signed })),
    );
    const sessions = await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        const session = http2.connect(url);
        await once(session, "connect");
        return session;
      }),
    );
    let next = 0;
    let failures = 0;
    const t0 = performance.now();
    await Promise.all(
      sessions.flatMap((session) =>
        Array.from({ length: STREAMS_PER_CONNECTION }, async () => {
          while (next < bodies.length) {
            const status = await connectUnary(session, "/meowonion.v1.DirectoryService/PublishDescriptor", bodies[next++]);
            if (status !== 200) failures++;
          }
        }),
      ),
    );
    const seconds = (performance.now() - t0) / 1000;
    for (const session of sessions) session.close();
    if (failures > 0) throw new Error(`${failures} publishes were refused`);
    return Math.round(bodies.length / seconds);
  } finally {
    child.kill("SIGTERM");
    await once(child, "exit");
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** One binary Connect unary call; resolves with the HTTP status once the response has ended. */
function connectUnary(session: http2.ClientHttp2Session, path: string, body: Uint8Array): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/proto",
      "connect-protocol-version": "1",
    });
    let status = 0;
    req.on("response", (headers) => (status = Number(headers[":status"])));
    req.on("data", () => undefined);
    req.on("end", () => resolve(status));
    req.on("error", reject);
    req.end(body);
  });
}

async function benchConsensus(relays: number): Promise<number> {
  const dataDir = await mkdtemp(join(tmpdir(), "meowonion-bench-dir-"));
  // Ten thousand "relay is Running" lines would be noise (and cost) here.
  const root = rootLogger();
  const level = root.level;
  root.level = "warn";
  // A long heartbeat timeout: on a slow machine filling 10,000 relays may take longer than the
  // default 90 s, and this measures serving the consensus, not liveness.
  const server = await startDirectory({ host: "127.0.0.1", port: 0, dataDir, probe: async () => undefined, heartbeatTimeoutMs: 3600_000 });
  const client = createDirectoryClient(server.url);
  try {
    const made = makeRelays(relays);
    // Fill through the registry in batches: real validation, signatures and journal writes.
    for (let i = 0; i < made.length; i += 500) {
      const batch = made.slice(i, i + 500);
      await Promise.all(batch.map(({ signed }) => server.registry.publish(signed)));
      await Promise.all(batch.map(({ identity }) => server.registry.heartbeat(signHeartbeat(identity))));
    }
    const deadline = Date.now() + 600_000;
    while ((await countListed(client)) < relays) {
      if (Date.now() > deadline) throw new Error(`consensus never listed ${relays} relays`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const samples: number[] = [];
    for (let i = 0; i < 5 + LATENCY_SAMPLES; i++) {
      const t0 = performance.now();
      await client.rpc.getConsensus({});
      if (i >= 5) samples.push(performance.now() - t0);
    }
    samples.sort((a, b) => a - b);
    return Math.round(samples[Math.floor(samples.length / 2)] * 10) / 10;
  } finally {
    client.close();
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
    root.level = level;
  }
}

async function countListed(client: DirectoryClient): Promise<number> {
  try {
    const res = await client.rpc.getConsensus({});
    return fromBinary(ConsensusSchema, res.consensus!.consensus).relays.length;
  } catch {
    return 0;
  }
}
