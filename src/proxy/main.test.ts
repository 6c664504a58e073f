/**
 * The `meowonion proxy` command as a separate OS process: its ready line, clean exit on
 * SIGTERM, and usage errors.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { main } from "./main.js";
import { LOCAL_EXIT_POLICY, type InProcessNetwork, startInProcessNetwork } from "../../test/helpers/in-process-network.js";

/** Runs main() here for argument errors and --help (they return before starting anything). */
async function inProcess(args: string[]): Promise<{ exitCode: typeof process.exitCode; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const out = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => ((stdout += String(chunk)), true));
  const err = vi.spyOn(process.stderr, "write").mockImplementation((chunk) => ((stderr += String(chunk)), true));
  try {
    await main(args);
    return { exitCode: process.exitCode, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
    process.exitCode = undefined;
  }
}

function startCli(args: string[]): ChildProcess {
  return spawn(process.execPath, ["--import", "tsx", "src/cli.ts", "proxy", ...args], {
    cwd: process.cwd(),
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, MEOWONION_LOG_LEVEL: "warn" },
  });
}

async function exitOf(child: ChildProcess): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (c) => (stdout += c));
  child.stderr!.on("data", (c) => (stderr += c));
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  return { code, stdout, stderr };
}

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
    const child = startCli([
      "--directory", network.directory.url,
      "--directory-key", Buffer.from(network.directory.publicKey).toString("hex"),
      "--socks", "127.0.0.1:0",
      "--control", "127.0.0.1:0",
      "--allow-same-subnet",
      "--headless",
    ]);
    const exited = exitOf(child);
    const line = await new Promise<string>((resolve) => {
      let out = "";
      child.stdout!.on("data", (c) => {
        out += c;
        if (out.includes("\n")) resolve(out);
      });
    });
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
