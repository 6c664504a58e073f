/**
 * Test helpers for the directory: test relays backed by real link listeners (an identity and
 * descriptors without a whole relay), RPC error codes, consensus waiting driven by
 * WatchConsensus.
 */
import net from "node:net";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { ConnectError, type Code } from "@connectrpc/connect";
import type { Consensus, SignedConsensus } from "../../gen/meowonion/v1/consensus_pb.js";
import type { RelayDescriptor, SignedDescriptor } from "../../gen/meowonion/v1/descriptor_pb.js";
import type { HeartbeatRequest } from "../../gen/meowonion/v1/directory_pb.js";
import { listenLinks, type Link, type LinkListener } from "../../src/link/link.js";
import { generateX25519KeyPair } from "../../src/onion/ntor.js";
import { generateEd25519KeyPair, type Ed25519KeyPair } from "../../src/onion/signing.js";
import type { DirectoryClient } from "../../src/netdoc/directory-client.js";
import { buildSignedDescriptor, hex } from "../../src/netdoc/descriptor.js";
import { parseExitPolicy } from "../../src/netdoc/exit-policy.js";
import { signHeartbeat } from "../../src/netdoc/heartbeat.js";
import { verifySignedConsensus } from "../../src/netdoc/consensus.js";
import type { Cleanups } from "./cleanups.js";

export type DescriptorOverrides = Partial<Omit<RelayDescriptor, "$typeName" | "$unknown">>;

export interface TestRelay {
  identity: Ed25519KeyPair;
  keyHex: string;
  /** The link listener proving `identity` (undefined with `listen: false`). */
  listener: LinkListener | undefined;
  /** A descriptor for this relay, `published` now unless overridden, signed by its key. */
  descriptor(overrides?: DescriptorOverrides): SignedDescriptor;
  heartbeat(options?: { sentAtMs?: number; nonce?: Uint8Array }): HeartbeatRequest;
}

/**
 * A relay identity with a real link listener on 127.0.0.1 answering the handshake with that
 * identity, so the authority's reachability test passes for descriptors pointing at it.
 */
export async function makeRelay(cleanups: Cleanups, options: { listen?: boolean; nickname?: string } = {}): Promise<TestRelay> {
  const identity = generateEd25519KeyPair();
  const ntor = generateX25519KeyPair();
  let listener: LinkListener | undefined;
  if (options.listen ?? true) {
    const links: Link[] = [];
    listener = await listenLinks({ host: "127.0.0.1", port: 0, identity, onLink: (link) => links.push(link) });
    cleanups.add(async () => {
      for (const link of links) link.close();
      await listener!.close();
    });
  }
  const port = listener?.port ?? 1;
  return {
    identity,
    keyHex: hex(identity.publicKey),
    listener,
    descriptor: (overrides = {}) => {
      const now = Date.now();
      return buildSignedDescriptor(
        {
          nickname: options.nickname ?? "MeowRelay",
          identityKey: identity.publicKey,
          ntorOnionKey: ntor.publicKey,
          ipv4Address: "127.0.0.1",
          orPort: port,
          exitPolicy: parseExitPolicy("accept 127.0.0.0/8:1-65535,reject *:*"),
          bandwidth: { averageBytesPerSecond: 1_000_000n, burstBytesPerSecond: 2_000_000n },
          published: timestampFromMs(now),
          expires: timestampFromMs(now + 3600_000),
          softwareVersion: "meowonion test",
          ...overrides,
        },
        identity.privateKey,
      );
    },
    heartbeat: (hbOptions) => signHeartbeat(identity, hbOptions),
  };
}

/** The Connect Code an RPC failed with (fails the test if it succeeded). */
export async function codeOf(call: Promise<unknown>): Promise<Code> {
  try {
    await call;
  } catch (err) {
    return ConnectError.from(err).code;
  }
  throw new Error("expected the call to fail");
}

/**
 * Watches an authority's consensus stream until `predicate` holds for a verified consensus,
 * and returns that consensus. Rejects after `timeoutMs`.
 */
export async function waitForConsensus(
  client: DirectoryClient,
  pinnedKeys: Uint8Array[],
  predicate: (c: Consensus, signed: SignedConsensus) => boolean,
  timeoutMs = 15_000,
): Promise<Consensus> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  let last: Consensus | undefined;
  try {
    for await (const update of client.rpc.watchConsensus({}, { signal: abort.signal })) {
      last = verifySignedConsensus(update.consensus!, pinnedKeys);
      if (predicate(last, update.consensus!)) return last;
    }
  } catch (err) {
    if (!abort.signal.aborted) throw err;
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
  throw new Error(`no matching consensus within ${timeoutMs} ms (last had ${last?.relays.length ?? "no"} relays)`);
}

export function listed(consensus: Consensus, relay: TestRelay): boolean {
  return consensus.relays.some((r) => hex(r.identityKey) === relay.keyHex);
}

/** A port that was free a moment ago (for authorities that must know each other's URLs up front). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
