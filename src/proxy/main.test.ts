/**
 * The `meowonion proxy` command as a separate OS process: its ready line, clean exit on
 * SIGTERM, and usage errors.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exitOf, firstLine, runMainInProcess, startCli } from "../../test/helpers/cli.js";
import { main } from "./main.js";
import { LOCAL_EXIT_POLICY, type InProcessNetwork, startInProcessNetwork } from "../../test/helpers/in-process-network.js";

const inProcess = (args: string[]) => runMainInProcess(main, args);

describe("meowonion proxy", () => {
  let network: InProcessNetwork;
  beforeAll(async () => {
    network = await startInProcessNetwork({
      relays: [
        { nickname: "Exit1", exitPolicy: LOCAL_EXIT_POLICY },
        { nickname: "Exit2", exitPolicy: LOCAL_EXIT_POLICY },
        { nickname: "Middle3" },
      ],
    });
  });
  afterAll(async () => {
    await network?.close();
  });

  it("prints one ready line once its first circuit is open, and exits 0 on SIGTERM", async () => {
    const child = startCli("proxy", [
      "--directory", network.directory.url,
      "--directory-key", Buffer.from(network.directory.publicKey).toString("hex"),
      "--socks", "127.0.0.1:0",
      "--control", "127.0.0.1:0",
      "--allow-same-subnet",
      "--headless",
    ]);
    const exited = exitOf(child);
    const line = await firstLine(child);
    const m = /^proxy ready socks=127\.0\.0\.1:(\d+) control=http:\/\/127\.0\.0\.1:(\d+)\n$/.exec(line);
    expect(m).not.toBeNull();
    const status = await fetch(`http://127.0.0.1:${m![2]}/meowonion.v1.ControlService/GetStatus`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(await status.json()).toMatchObject({ phase: "BOOTSTRAP_PHASE_DONE", socksAddress: `127.0.0.1:${m![1]}` });
    child.kill("SIGTERM");
    const { code, stdout } = await exited;
    expect(code).toBe(0);
    expect(stdout).toBe(line);
  });

  it.each([
    [[], "at least one --directory"],
    [["--directory", "http://127.0.0.1:1"], "give one key per directory"],
    [["--directory", "http://127.0.0.1:1", "--directory-key", "abcd"], "64 hex"],
    [["--directory", "ftp://x", "--directory-key", "a".repeat(64)], "http:// URL"],
    [["--directory", "http://127.0.0.1:1", "--directory-key", "a".repeat(64), "--hops", "10"], "--hops"],
    [["--directory", "http://127.0.0.1:1", "--directory-key", "a".repeat(64), "--socks", "nope"], "HOST:PORT"],
    [["--bogus"], "bogus"],
  ])("refuses %j with exit status 2", async (args, message) => {
    const { exitCode, stderr } = await inProcess(args);
    expect(exitCode).toBe(2);
    expect(stderr).toContain(message);
  });

  it("prints its usage with --help", async () => {
    const { exitCode, stdout } = await inProcess(["--help"]);
    expect(exitCode).toBeUndefined();
    expect(stdout).toContain("--allow-same-subnet");
  });
});
