/**
 * `network_ready_ms`: from spawning `meowonion network --headless --processes` to the first
 * byte of a reply through its SOCKS port (the meow echo server, over a three-hop circuit).
 * Median of 3 cold starts; each run's network is stopped (SIGTERM) before the next.
 * `network_ready_in_process_ms`: the same for the default mode (every node in one process),
 * which is what `npm start` runs.
 */
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseHostPort } from "../src/common/host-port.js";
import { socksConnect } from "../src/proxy/socks-client.js";
import { parseNetworkReady } from "./compare/targets.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const RUNS = 3;
const DEADLINE_MS = 300_000;

async function oneRun(processes: boolean): Promise<number> {
  const start = performance.now();
  const child = spawn(
    process.execPath,
    [
      "--import", "tsx", "src/cli.ts", "network", "--headless",
      ...(processes ? ["--processes"] : []),
      "--socks", "127.0.0.1:0", "--control", "127.0.0.1:0",
    ],
    { cwd: ROOT, stdio: ["ignore", "pipe", "ignore"] },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try {
    const ready = await new Promise<{ socks: string; echo: string }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`network not ready within ${DEADLINE_MS} ms`)), DEADLINE_MS);
      child.once("exit", (code) => reject(new Error(`network exited (${code}) before ready`)));
      createInterface({ input: child.stdout! }).on("line", (line) => {
        const fields = parseNetworkReady(line);
        if (fields?.socks !== undefined && fields.echo !== undefined) {
          clearTimeout(timer);
          resolve({ socks: fields.socks, echo: fields.echo });
        }
      });
    });
    const { host, port } = parseHostPort(ready.echo);
    const proxy = parseHostPort(ready.socks);
    const sock = await socksConnect({ proxyHost: proxy.host, proxyPort: proxy.port, host, port, timeoutMs: 30_000 });
    const firstByte = await new Promise<number>((resolve, reject) => {
      sock.once("data", () => resolve(performance.now()));
      sock.once("error", reject);
      sock.resume();
      sock.write("meow?\n");
    });
    sock.destroy();
    return firstByte - start;
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

async function median(processes: boolean): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) times.push(await oneRun(processes));
  times.sort((a, b) => a - b);
  return Math.round(times[Math.floor(times.length / 2)]);
}

export async function benchNetwork(): Promise<Record<string, number>> {
  return {
    network_ready_ms: await median(true),
    network_ready_in_process_ms: await median(false),
  };
}
