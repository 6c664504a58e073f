/**
 * Durability: what an authority acknowledged survives a restart, including kill -9 of the real
 * `meowonion directory` process. The authority key is created once and reused.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Code } from "@connectrpc/connect";
import { RelayFlag, type Consensus } from "../../gen/meowonion/v1/consensus_pb.js";
import { afterEach, describe, expect, it } from "vitest";
import { createDirectoryClient } from "../netdoc/directory-client.js";
import { hex } from "../netdoc/descriptor.js";
import { codeOf, listed, makeRelay, waitForConsensus } from "../../test/helpers/directory.js";
import { Cleanups, tempDir } from "../../test/helpers/cleanups.js";
import { startTestDirectory } from "../../test/helpers/in-process-network.js";

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

const REPO = fileURLToPath(new URL("../..", import.meta.url));

interface Cli {
  child: ChildProcess;
  url: string;
  key: string;
  stderr: () => string;
}

/** Starts `meowonion directory` as a child process and waits for its ready line. */
async function startCli(args: string[]): Promise<Cli> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli.ts", "directory", ...args], {
    cwd: REPO,
    env: { ...process.env, MEOWONION_LOG_LEVEL: "warn" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  cleanups.add(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const lines = createInterface({ input: child.stdout! });
  const ready = await new Promise<string>((resolve, reject) => {
    lines.once("line", resolve);
    child.once("exit", (code) => reject(new Error(`directory exited (${code}) before its ready line: ${stderr}`)));
  });
  const m = /^directory ready url=(http:\/\/\S+) key=([0-9a-f]{64})$/.exec(ready);
  if (m === null) throw new Error(`unexpected ready line: ${ready}`);
  return { child, url: m[1], key: m[2], stderr: () => stderr };
}

describe("restart", () => {
  it("keeps descriptors, heartbeat state and the key across a clean restart", async () => {
    const dataDir = await tempDir(cleanups);
    const options = { dataDir, intervalMs: 500, heartbeatTimeoutMs: 5_000 };
    const first = await startTestDirectory(cleanups, options);
    const relay = await makeRelay(cleanups);
    const signed = relay.descriptor();
    await first.client.rpc.publishDescriptor({ descriptor: signed });
    const hb = relay.heartbeat();
    await first.client.rpc.heartbeat(hb);
    await waitForConsensus(first.client, [first.server.publicKey], (c) => listed(c, relay));
    await first.server.close();
    first.client.close();

    const second = await startTestDirectory(cleanups, options);
    expect(hex(second.server.publicKey)).toBe(hex(first.server.publicKey));
    expect(second.server.keyCreated).toBe(false);
    const got = await second.client.rpc.getDescriptor({ identityKey: relay.identity.publicKey });
    expect(Buffer.from(got.descriptor!.descriptor).equals(signed.descriptor)).toBe(true);
    // Replay protection survived: the same heartbeat is still a replay.
    expect(await codeOf(second.client.rpc.heartbeat(hb))).toBe(Code.AlreadyExists);
    // The relay was heartbeating: it is re-tested at start and listed without a new heartbeat.
    await waitForConsensus(second.client, [second.server.publicKey], (c) => listed(c, relay));
  });

  it("keeps Stable and Guard across a restart: a relay's run and WFU are in the journal", async () => {
    const dataDir = await tempDir(cleanups);
    const options = { dataDir, intervalMs: 300, heartbeatTimeoutMs: 8_000, stableAfterMs: 1_500 };
    const first = await startTestDirectory(cleanups, options);
    const relay = await makeRelay(cleanups);
    await first.client.rpc.publishDescriptor({ descriptor: relay.descriptor() });
    await first.client.rpc.heartbeat(relay.heartbeat());
    const entry = (c: Consensus) => c.relays.find((r) => hex(r.identityKey) === relay.keyHex);
    const before = await waitForConsensus(first.client, [first.server.publicKey], (c) => entry(c)?.flags.includes(RelayFlag.GUARD) === true);
    expect(entry(before)!.flags).toContain(RelayFlag.STABLE);
    await first.server.close();
    first.client.close();

    // Restarted well within stable-after of its start: without the journaled run, the first
    // consensus that lists the relay again would have it with an uptime of zero.
    const second = await startTestDirectory(cleanups, options);
    const after = await waitForConsensus(second.client, [second.server.publicKey], (c) => entry(c) !== undefined);
    expect(entry(after)!.flags).toEqual(expect.arrayContaining([RelayFlag.STABLE, RelayFlag.GUARD]));
  });

  it("refuses a second authority on a data directory in use", async () => {
    const dataDir = await tempDir(cleanups);
    await startTestDirectory(cleanups, { dataDir });
    await expect(startTestDirectory(cleanups, { dataDir })).rejects.toThrow(/in use by process/);
  });

  it("meowonion directory: creates its key once, loses nothing acknowledged to kill -9", async () => {
    const dataDir = await tempDir(cleanups);
    const args = ["--listen", "127.0.0.1:0", "--data-dir", dataDir, "--interval", "1"];
    const first = await startCli(args);
    expect(first.stderr()).toContain("created authority key");
    const keyFile = await readFile(join(dataDir, "authority.key"), "utf8");

    const relay = await makeRelay(cleanups, { listen: false });
    const signed = relay.descriptor();
    const client = createDirectoryClient(first.url);
    await client.rpc.publishDescriptor({ descriptor: signed }); // acknowledged…
    client.close();
    first.child.kill("SIGKILL"); // …then killed without any chance to flush
    await once(first.child, "exit");

    const second = await startCli(args);
    expect(second.key).toBe(first.key);
    expect(second.stderr()).not.toContain("created authority key");
    expect(await readFile(join(dataDir, "authority.key"), "utf8")).toBe(keyFile);
    const again = createDirectoryClient(second.url);
    cleanups.add(() => again.close());
    const got = await again.rpc.getDescriptor({ identityKey: relay.identity.publicKey });
    expect(Buffer.from(got.descriptor!.descriptor).equals(signed.descriptor)).toBe(true);
    expect(Buffer.from(got.descriptor!.signature).equals(signed.signature)).toBe(true);

    second.child.kill("SIGTERM");
    const [code] = (await once(second.child, "exit")) as [number | null];
    expect(code).toBe(0);
  });

  it("meowonion directory: prints --help, refuses bad flags with exit status 2", async () => {
    const run = async (args: string[]) => {
      const child = spawn(process.execPath, ["--import", "tsx", "src/cli.ts", "directory", ...args], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      let err = "";
      child.stdout.on("data", (c: Buffer) => (out += c.toString()));
      child.stderr.on("data", (c: Buffer) => (err += c.toString()));
      const [code] = (await once(child, "exit")) as [number | null];
      return { code, out, err };
    };
    const [help, bad] = await Promise.all([run(["--help"]), run(["--listen", "nowhere", "--data-dir", "/tmp/unused"])]);
    expect(help.code).toBe(0);
    expect(help.out).toContain("--heartbeat-timeout SECONDS");
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("--listen");
  });
});
