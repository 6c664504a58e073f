/** Running `meowonion <command>` in tests: main() in this process for usage errors, or the CLI as a child process. */
import { type ChildProcess, spawn } from "node:child_process";
import { vi } from "vitest";

/** Runs a command's main() here for argument errors and --help (they return before starting anything). */
export async function runMainInProcess(
  main: (argv: string[]) => Promise<void>,
  args: string[],
): Promise<{ exitCode: typeof process.exitCode; stdout: string; stderr: string }> {
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

/** `meowonion <command> <args>` as a child process (logs at warn and above). */
export function startCli(command: string, args: string[]): ChildProcess {
  return spawn(process.execPath, ["--import", "tsx", "src/cli.ts", command, ...args], {
    cwd: process.cwd(),
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, MEOWONION_LOG_LEVEL: "warn" },
  });
}

/** Everything the child printed, once it exits. */
export async function exitOf(child: ChildProcess): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (c) => (stdout += c));
  child.stderr!.on("data", (c) => (stderr += c));
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  return { code, stdout, stderr };
}

/** The child's first line of stdout. */
export function firstLine(child: ChildProcess): Promise<string> {
  return new Promise<string>((resolve) => {
    let out = "";
    child.stdout!.on("data", (c) => {
      out += c;
      if (out.includes("\n")) resolve(out);
    });
  });
}
