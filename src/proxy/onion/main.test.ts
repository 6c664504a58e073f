/**
 * The `meowonion service` command as a separate OS process: its ready line once published,
 * the same address after a restart on the same data directory, a clean exit on SIGTERM, and
 * usage errors.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exitOf, firstLine, runMainInProcess, startCli } from "../../../test/helpers/cli.js";
import { LOCAL_EXIT_POLICY, type InProcessNetwork, startInProcessNetwork } from "../../../test/helpers/in-process-network.js";
import { main } from "./main.js";

const inProcess = (args: string[]) => runMainInProcess(main, args);

describe("meowonion service", () => {
  let network: InProcessNetwork;
  let dataDir: string;
  beforeAll(async () => {
    network = await startInProcessNetwork({
      relays: [{ nickname: "Exit1", exitPolicy: LOCAL_EXIT_POLICY }, { nickname: "Exit2", exitPolicy: LOCAL_EXIT_POLICY }, { nickname: "Middle3" }, { nickname: "Middle4" }],
    });
    dataDir = await mkdtemp(join(tmpdir(), "meowonion-service-cli-"));
  });
  afterAll(async () => {
    await network?.close();
    if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
  });

  const run = async () => {
    const child = startCli("service", [
      "--directory", network.directory.url,
      "--directory-key", Buffer.from(network.directory.publicKey).toString("hex"),
      "--data-dir", dataDir,
      "--port", "80:127.0.0.1:8080",
      "--port", "7",
      "--allow-same-subnet",
    ]);
    const exited = exitOf(child);
    const line = await firstLine(child);
    child.kill("SIGTERM");
    const { code, stdout } = await exited;
    expect(code).toBe(0);
    expect(stdout).toBe(line);
    const m = /^service ready address=([a-z2-7]{56}\.meow) port=80,7\n$/.exec(line);
    expect(m).not.toBeNull();
    return m![1];
  };

  it("prints one ready line once published, keeps its address across restarts, and exits 0 on SIGTERM", async () => {
    const address = await run();
    expect(await run()).toBe(address);
  }, 60_000);

  it.each([
    [[], "--data-dir"],
    [["--data-dir", "/tmp/x"], "--port"],
    [["--data-dir", "/tmp/x", "--port", "0"], "virtual port"],
    [["--data-dir", "/tmp/x", "--port", "80", "--port", "80:81"], "mapped twice"],
    [["--data-dir", "/tmp/x", "--port", "80"], "at least one --directory"],
  ])("refuses %j with exit status 2", async (args, message) => {
    const { exitCode, stderr } = await inProcess(args);
    expect(exitCode).toBe(2);
    expect(stderr).toContain(message);
  });
});
