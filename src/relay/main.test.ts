/**
 * `meowonion relay` as real processes: the ready line, a circuit through three relay
 * processes found in a directory process's consensus, DESTROY reaching the client within a
 * second of SIGKILLing the middle relay, clean exit on SIGTERM, usage errors.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DestroyReason } from "../../gen/meowonion/v1/link_pb.js";
import { EndReason } from "../../gen/meowonion/v1/relay_pb.js";
import { CLI_PATH, PACKAGE_ROOT, spawnNode, type ChildNode } from "../network/child.js";
import { echoServer } from "../../test/helpers/relay.js";
import { Cleanups, tempDir } from "../../test/helpers/cleanups.js";
import { LOCAL_EXIT_POLICY, listedTargets } from "../../test/helpers/in-process-network.js";
import { type StreamError } from "../onion/errors.js";
import { ClientChannelManager } from "../proxy/channels.js";
import { buildCircuit } from "../proxy/build.js";

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

const READY_TIMEOUT_MS = 60_000;
const PROCESS_TEST_TIMEOUT_MS = 180_000;

async function node(kind: string, args: string[], dir: string, name: string): Promise<ChildNode> {
  const child = await spawnNode({ name, kind, args, logFile: join(dir, `${name}.log`), readyTimeoutMs: READY_TIMEOUT_MS });
  cleanups.add(() => child.stop());
  return child;
}

describe("meowonion relay (processes)", () => {
  it("prints its ready line, carries a circuit, and a SIGKILLed middle relay means DESTROY within a second", async () => {
    const dir = await tempDir(cleanups, "meowonion-relay-cli-");
    const directory = await node("directory", ["--listen", "127.0.0.1:0", "--data-dir", join(dir, "dir"), "--interval", "1", "--heartbeat-timeout", "10"], dir, "directory");
    const pins = ["--directory", directory.fields.url, "--directory-key", directory.fields.key];
    const start = (nickname: string, extra: string[] = []) =>
      node("relay", ["--listen", "127.0.0.1:0", ...pins, "--data-dir", join(dir, nickname), "--nickname", nickname, "--heartbeat", "1", ...extra], dir, nickname);
    const relays = await Promise.all([start("Guard"), start("Middle"), start("Exit", ["--exit-policy", LOCAL_EXIT_POLICY])]);
    for (const relay of relays) {
      expect(relay.fields.or).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(relay.fields.identity).toMatch(/^[0-9a-f]{64}$/);
    }
    expect(relays.map((r) => r.fields.nickname)).toEqual(["Guard", "Middle", "Exit"]);

    const hex = (text: string) => Buffer.from(text, "hex");
    const path = await listedTargets(directory.fields.url, hex(directory.fields.key), relays.map((r) => hex(r.fields.identity)));
    expect(path.map((t) => `${t.host}:${t.port}`)).toEqual(relays.map((r) => r.fields.or));
    const channels = new ClientChannelManager();
    cleanups.add(() => channels.close());
    const circuit = await buildCircuit(channels, path);
    const stream = await circuit.openStream("127.0.0.1", await echoServer(cleanups));
    const echoed = once(stream, "data");
    stream.write("ping");
    expect(String((await echoed)[0])).toBe("ping");

    const streamError = once(stream, "error");
    const destroyed = new Promise<[DestroyReason, number]>((resolve) => circuit.once("close", (reason) => resolve([reason, Date.now()])));
    const killedAt = Date.now();
    relays[1].killNow();
    const [reason, at] = await destroyed;
    expect(reason).toBe(DestroyReason.CHANNEL_CLOSED);
    expect(at - killedAt).toBeLessThan(1_000);
    expect(((await streamError)[0] as StreamError).reason).toBe(EndReason.DESTROY);
  }, PROCESS_TEST_TIMEOUT_MS);

  it("exits 0 after SIGTERM and 2 on usage errors", async () => {
    const dir = await tempDir(cleanups, "meowonion-relay-cli-");
    const run = (args: string[]) => {
      const child = spawn(process.execPath, ["--import", "tsx", CLI_PATH, "relay", ...args], { cwd: PACKAGE_ROOT, stdio: ["ignore", "pipe", "pipe"] });
      cleanups.add(() => child.kill("SIGKILL"));
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (c: Buffer) => (stdout += c));
      child.stderr.on("data", (c: Buffer) => (stderr += c));
      const exit = once(child, "exit").then(([code]) => ({ code: code as number | null, stdout, stderr }));
      return { child, exit, stdout: () => stdout };
    };
    const missing = await run(["--listen", "127.0.0.1:0"]).exit;
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--data-dir DIR is required/);
    const unpaired = await run(["--listen", "127.0.0.1:0", "--data-dir", dir, "--directory", "http://127.0.0.1:1"]).exit;
    expect(unpaired.code).toBe(2);
    expect(unpaired.stderr).toMatch(/one key per directory/);
    const help = await run(["--help"]).exit;
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--onion-key-rotation S/);

    // An unreachable directory does not stop the relay from serving (it retries publishing).
    const relay = run(["--listen", "127.0.0.1:0", "--data-dir", dir, "--directory", "http://127.0.0.1:1", "--directory-key", "ab".repeat(32)]);
    await new Promise<void>((resolve) => relay.child.stdout.on("data", () => relay.stdout().includes("\n") && resolve()));
    expect(relay.stdout()).toMatch(/^relay ready or=127\.0\.0\.1:\d+ identity=[0-9a-f]{64} nickname=Unnamed\n$/);
    relay.child.kill("SIGTERM");
    expect((await relay.exit).code).toBe(0);
  }, PROCESS_TEST_TIMEOUT_MS);
});
