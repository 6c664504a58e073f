/**
 * The worker-thread mode of startNetwork(): relays on two worker threads of this process carry
 * a fetch through the SOCKS proxy, every byte checked, and close() leaves no thread behind.
 */
import { readdirSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { httpGetThrough } from "../../test/helpers/socks-client.js";
import { silentLogger } from "../common/log.js";
import { generatedSha256 } from "./destination.js";
import { LOCAL_TIMING } from "./launcher.js";
import { defaultThreads, startNetwork, THREADS_FROM_RELAYS, type RunningNetwork } from "./network.js";
import { threadLauncher } from "./thread-launcher.js";

/** OS threads of this process (a worker thread is one). */
const osThreads = () => readdirSync("/proc/self/task").length;

describe("a network with its relays on 2 worker threads", () => {
  let network: RunningNetwork | undefined;
  let threadsBefore = 0;

  beforeAll(async () => {
    // Start libuv's thread pool first, so that the count before includes it.
    await rm(await mkdtemp(join(tmpdir(), "meowonion-threads-test-")), { recursive: true });
    threadsBefore = osThreads();
    network = await startNetwork({ relays: 6, authorities: 2, threads: 2, socks: "127.0.0.1:0", control: "127.0.0.1:0" });
  }, 120_000);

  afterAll(async () => {
    await network?.close();
  }, 60_000);

  it("fetches bytes through its relays, every byte checked", async () => {
    expect(network!.threads).toBe(2);
    expect(osThreads()).toBeGreaterThanOrEqual(threadsBefore + 2);
    const n = 300_000;
    expect(await httpGetThrough(network!.socksAddress, network!.httpUrl, `/bytes/${n}`)).toEqual({ sha256: generatedSha256(n), bytes: n });
  });

  it("closes leaving no worker thread behind", async () => {
    await network!.close();
    expect(osThreads()).toBeLessThanOrEqual(threadsBefore);
  });
});

describe("the thread launcher", () => {
  it("rejects with a node's start failure, from its worker, and closes", async () => {
    const launcher = threadLauncher(1, 10_000, silentLogger(), LOCAL_TIMING);
    try {
      const relay = { name: "bad", dataDir: tmpdir(), directories: [], nickname: "Bad", exitPolicy: "reject *:*" };
      await expect(launcher.relay({ ...relay, listen: "no port here" })).rejects.toThrow(/no port here/);
    } finally {
      await launcher.close();
    }
  });
});

describe("worker threads by default", () => {
  it("only for large networks", () => {
    expect(defaultThreads(5)).toBe(0);
    expect(defaultThreads(THREADS_FROM_RELAYS - 1)).toBe(0);
  });
});
