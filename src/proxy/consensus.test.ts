/**
 * Following the consensus: verified updates from WatchConsensus, the last valid consensus kept
 * while every authority is down, reconnection once one is back, and no consensus from an
 * authority whose key is not pinned.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { afterEach, describe, expect, it } from "vitest";
import type { Consensus } from "../../gen/meowonion/v1/consensus_pb.js";
import { startDirectory } from "../directory/server.js";
import { fetchConsensus } from "../netdoc/directory-client.js";
import { ConsensusFollower } from "./consensus.js";

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function authority(dataDir: string, port = 0) {
  const server = await startDirectory({ host: "127.0.0.1", port, dataDir, intervalMs: 1_000, heartbeatTimeoutMs: 30_000 });
  cleanups.push(() => server.close());
  return server;
}

function next(follower: ConsensusFollower, after?: Consensus): Promise<Consensus> {
  return new Promise((resolve) => {
    const on = (c: Consensus) => {
      if (after && timestampMs(c.validAfter!) <= timestampMs(after.validAfter!)) return;
      follower.off("consensus", on);
      resolve(c);
    };
    follower.on("consensus", on);
  });
}

describe("ConsensusFollower", () => {
  it("keeps the last valid consensus while the authority is down and picks up newer ones after it returns", async () => {
    const dir = await mkdtemp(join(tmpdir(), "meowonion-follow-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    let server = await authority(dir);
    const { port } = server;
    const follower = new ConsensusFollower([{ url: server.url, key: server.publicKey }], { backoffInitialMs: 50, backoffMaxMs: 200 });
    cleanups.push(() => follower.close());
    const first = next(follower);
    follower.start();
    const held = await first;
    expect(follower.current).toBe(held);

    await server.close();
    expect(follower.current).toBe(held);

    server = await authority(dir, port); // same key, same address
    const newer = await next(follower, held);
    expect(timestampMs(newer.validAfter!)).toBeGreaterThan(timestampMs(held.validAfter!));
    expect(follower.current).toBe(newer);
  });

  it("takes a consensus from the second authority when the first is unreachable", async () => {
    const dir = await mkdtemp(join(tmpdir(), "meowonion-follow-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const server = await authority(dir);
    const follower = new ConsensusFollower(
      [
        { url: "http://127.0.0.1:1", key: server.publicKey },
        { url: server.url, key: server.publicKey },
      ],
      { backoffInitialMs: 50 },
    );
    cleanups.push(() => follower.close());
    follower.start();
    const consensus = await follower.waitForConsensus();
    // One the reachable authority signed: the same as it serves now, or an earlier one.
    const served = await fetchConsensus([server.url], [server.publicKey]);
    expect(timestampMs(consensus.validAfter!)).toBeLessThanOrEqual(timestampMs(served.consensus.validAfter!));
    expect(follower.current).toBe(consensus);
  });

  it("never uses a consensus without a majority of pinned signatures", async () => {
    const dir = await mkdtemp(join(tmpdir(), "meowonion-follow-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const server = await authority(dir);
    // Two pinned keys need two signatures; this authority gives one.
    const follower = new ConsensusFollower(
      [
        { url: server.url, key: server.publicKey },
        { url: server.url, key: new Uint8Array(32).fill(7) },
      ],
      { backoffInitialMs: 50 },
    );
    cleanups.push(() => follower.close());
    follower.start();
    await expect(follower.waitForConsensus(AbortSignal.timeout(2_500))).rejects.toThrow();
    expect(follower.current).toBeUndefined();
  });
});
