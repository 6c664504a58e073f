/**
 * `network_ready_ms`: from spawning `meowonion network --headless --processes` to the first
 * byte of a reply through its SOCKS port (the meow echo server, over a three-hop circuit).
 * Median of 3 cold starts; each run's network is stopped (SIGTERM) before the next.
 * `network_ready_in_process_ms`: the same for the default mode (every node in one process),
 * which is what `npm start` runs.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseHostPort } from "../src/common/host-port.js";
import { socksConnect } from "../src/proxy/socks-client.js";
import { parseAuthorityLine, parseNetworkReady } from "./compare/targets.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const RUNS = 3;
const DEADLINE_MS = 300_000;

/** A `meowonion network` started by startTimedNetwork, with its start-to-first-byte time. */
export interface TimedNetwork {
  child: ChildProcess;
  exited: Promise<void>;
  readyMs: number;
  /** The authorities its start-up listing named. */
  authorities: { url: string; key: string }[];
}

/**
 * Spawns `meowonion network --headless` with `args` and resolves once a reply from the meow
 * echo server has come back through its SOCKS port (the network is stopped if it never does).
 */
export async function startTimedNetwork(
  args: string[],
  options: { nodeOptions?: string[]; env?: NodeJS.ProcessEnv; deadlineMs?: number } = {},
): Promise<TimedNetwork> {
  const deadlineMs = options.deadlineMs ?? DEADLINE_MS;
  const start = performance.now();
  const child = spawn(
    process.execPath,
    [...(options.nodeOptions ?? []), "--import", "tsx", "src/cli.ts", "network", "--headless", "--socks", "127.0.0.1:0", "--control", "127.0.0.1:0", ...args],
    { cwd: ROOT, stdio: ["ignore", "pipe", "ignore"], env: options.env ?? process.env },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try {
    const authorities: { url: string; key: string }[] = [];
    const ready = await new Promise<{ socks: string; echo: string }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`network (${args.join(" ")}) not ready within ${deadlineMs} ms`)), deadlineMs);
      child.once("exit", (code) => reject(new Error(`network exited (${code}) before ready`)));
      createInterface({ input: child.stdout! }).on("line", (line) => {
        const authority = parseAuthorityLine(line);
        if (authority) authorities.push(authority);
        const fields = parseNetworkReady(line);
        if (fields?.socks !== undefined && fields.echo !== undefined) {
          clearTimeout(timer);
          resolve({ socks: fields.socks, echo: fields.echo });
        }
      });
    });
    const { host, port } = parseHostPort(ready.echo);
    const proxy = parseHostPort(ready.socks);
    const sock = await socksConnect({ proxyHost: proxy.host, proxyPort: proxy.port, host, port, timeoutMs: 60_000 });
    const firstByte = await new Promise<number>((resolve, reject) => {
      sock.once("data", () => resolve(performance.now()));
      sock.once("error", reject);
      sock.resume();
      sock.write("meow?\n");
    });
    sock.destroy();
    return { child, exited, readyMs: Math.round(firstByte - start), authorities };
  } catch (err) {
    await stopTimedNetwork({ child, exited });
    throw err;
  }
}

/** SIGTERM, then SIGKILL if it has not exited within `graceMs`; resolves once it has exited. */
export async function stopTimedNetwork(network: { child: ChildProcess; exited: Promise<void> }, graceMs = 30_000): Promise<void> {
  const { child } = network;
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await network.exited;
  clearTimeout(timer);
}

async function oneRun(processes: boolean): Promise<number> {
  const network = await startTimedNetwork(processes ? ["--processes"] : []);
  await stopTimedNetwork(network);
  return network.readyMs;
}

async function median(processes: boolean): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) times.push(await oneRun(processes));
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

export async function benchNetwork(): Promise<Record<string, number>> {
  return {
    network_ready_ms: await median(true),
    network_ready_in_process_ms: await median(false),
  };
}
