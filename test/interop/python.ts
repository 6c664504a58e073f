/**
 * The Python implementation (interop/python) as child processes: a relay (its ready line
 * parsed) and the `fetch` client. Python runs as Debian's /usr/bin/python3, which has the
 * packages scripts/ensure-python-deps.sh installs; its protobuf code is generated on demand.
 * Every process is started in its own process group and stopped by PID.
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { ManagedProcess, ROOT, tempDir } from "../helpers/procs.js";

export const PYTHON_DIR = path.join(ROOT, "interop/python");
const PYTHON = "/usr/bin/python3";
const READY_MS = 30_000;

/** Why the Python implementation cannot run here (undefined when it can); generates its protobuf code. */
export function pythonUnavailable(): string | undefined {
  try {
    execFileSync(PYTHON, ["-c", "import cryptography, OpenSSL, google.protobuf"], { stdio: "pipe" });
  } catch {
    return `${PYTHON} lacks python3-cryptography, python3-openssl or python3-protobuf: run scripts/ensure-python-deps.sh`;
  }
  if (!existsSync(path.join(PYTHON_DIR, "gen/meowonion/v1/link_pb2.py"))) {
    try {
      execFileSync("npm", ["run", "--silent", "generate:python"], { cwd: ROOT, stdio: "pipe" });
    } catch (error) {
      return `npm run generate:python failed (is protoc installed? scripts/ensure-python-deps.sh): ${(error as Error).message}`;
    }
  }
  return undefined;
}

/** Start `python3 -m meowonion_py ARGS` in its own process group; the caller stops it. */
export function startPython(name: string, args: string[]): ManagedProcess {
  const child = spawn(PYTHON, ["-m", "meowonion_py", ...args], {
    cwd: PYTHON_DIR,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, PYTHONPATH: PYTHON_DIR, MEOWONION_LOG_LEVEL: process.env.MEOWONION_LOG_LEVEL ?? "warn", MEOWONION_TEST_PARENT_PID: String(process.pid) },
  });
  return new ManagedProcess(name, child, 20_000);
}

export interface PythonRelay {
  proc: ManagedProcess;
  nickname: string;
  identity: string;
  or: string;
}

export async function startPythonRelay(dir: { url: string; key: string }, spec: { nickname: string; exitPolicy?: string; host?: string }): Promise<PythonRelay> {
  const args = [
    "relay",
    "--listen", `${spec.host ?? "127.0.0.1"}:0`,
    "--directory", dir.url,
    "--directory-key", dir.key,
    "--data-dir", await tempDir(`py-${spec.nickname}`),
    "--nickname", spec.nickname,
    "--heartbeat", "3",
  ];
  if (spec.exitPolicy) args.push("--exit-policy", spec.exitPolicy);
  const proc = startPython(`python relay ${spec.nickname}`, args);
  try {
    const m = await proc.waitForLine(/^relay ready or=(\S+) identity=([0-9a-f]{64}) nickname=(\S+)$/, READY_MS);
    return { proc, nickname: m[3], identity: m[2], or: m[1] };
  } catch (error) {
    await proc.stop();
    throw error;
  }
}

/** Fetch `url` with the Python client; resolves with the body's SHA-256 and the path it took. */
export async function pythonFetch(dir: { url: string; key: string }, url: string, options: { path?: string[]; timeoutMs?: number } = {}): Promise<{ bytes: number; sha256: string; path: string }> {
  const output = path.join(await tempDir("py-fetch"), "body");
  const args = ["fetch", url, "--directory", dir.url, "--directory-key", dir.key, "--output", output, "--allow-same-subnet"];
  if (options.path) args.push("--path", options.path.join(","));
  const proc = startPython("python fetch", args);
  try {
    const m = await proc.waitForLine(/^fetch done bytes=(\d+) sha256=([0-9a-f]{64}) path=(\S+)$/, options.timeoutMs ?? 120_000);
    await proc.exited;
    return { bytes: Number(m[1]), sha256: m[2], path: m[3] };
  } finally {
    await proc.stop();
  }
}
