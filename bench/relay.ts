/**
 * Relay throughput with real processes on 127.0.0.1: a directory and three relays, each
 * `node --import tsx src/cli.ts …` in its own process; this process is the client (the
 * circuit engine of src/proxy/circuit.ts) and the TCP sink behind the exit.
 *
 *   bulk_3hop_mb_per_s   one stream, client → guard → middle → exit → sink, 100 MB per run,
 *                        median of RUNS runs (MB = 10^6 bytes)
 *   relay_cpu_s_per_mb   CPU seconds (user + system, from /proc/PID/stat) per MB moved,
 *                        averaged over the three relay processes, over the same runs
 *   client_cpu_s_per_mb  the same for this (client + sink) process
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ChildNode, spawnNode } from "../src/network/child.js";
import { LOCAL_EXIT_POLICY } from "../src/network/launcher.js";
import { listedTargets } from "../test/helpers/in-process-network.js";
import { ClientChannelManager } from "../src/proxy/channels.js";
import { buildCircuit } from "../src/proxy/build.js";
import type { ClientStream } from "../src/proxy/stream.js";

const RUNS = 5;
const BYTES_PER_RUN = 100_000_000;
const CHUNK = Buffer.alloc(1024 * 1024, 0x6d);
const READY_TIMEOUT_MS = 120_000;
/** Linux reports /proc/PID/stat times in clock ticks of 1/100 s (USER_HZ). */
const TICKS_PER_SECOND = 100;

export async function benchRelay(): Promise<Record<string, number>> {
  const dir = await mkdtemp(join(tmpdir(), "meowonion-bench-relay-"));
  const children: ChildNode[] = [];
  const channels = new ClientChannelManager();
  const sink = net.createServer((socket) => socket.resume());
  try {
    const start = async (kind: string, name: string, args: string[]) => {
      const child = await spawnNode({ name, kind, args, logFile: join(dir, `${name}.log`), readyTimeoutMs: READY_TIMEOUT_MS, env: { MEOWONION_LOG_LEVEL: "warn" } });
      children.push(child);
      return child;
    };
    const directory = await start("directory", "directory", ["--listen", "127.0.0.1:0", "--data-dir", join(dir, "directory"), "--interval", "1"]);
    const pins = ["--directory", directory.fields.url, "--directory-key", directory.fields.key];
    const relay = (nickname: string, extra: string[] = []) =>
      start("relay", nickname, ["--listen", "127.0.0.1:0", ...pins, "--data-dir", join(dir, nickname), "--nickname", nickname, "--heartbeat", "1", ...extra]);
    const relays = await Promise.all([relay("BenchGuard"), relay("BenchMiddle"), relay("BenchExit", ["--exit-policy", LOCAL_EXIT_POLICY])]);
    const hex = (text: string) => Buffer.from(text, "hex");
    const path = await listedTargets(directory.fields.url, hex(directory.fields.key), relays.map((r) => hex(r.fields.identity)), [], READY_TIMEOUT_MS);

    sink.listen(0, "127.0.0.1");
    await new Promise((resolve) => sink.once("listening", resolve));
    const sinkPort = (sink.address() as net.AddressInfo).port;
    const circuit = await buildCircuit(channels, path);

    const rates: number[] = [];
    let relayCpu = 0;
    let clientCpu = 0;
    for (let run = 0; run < RUNS; run++) {
      const cpuBefore = await Promise.all(relays.map((r) => cpuSeconds(r.pid)));
      const clientBefore = process.cpuUsage();
      const started = performance.now();
      await send(await circuit.openStream("127.0.0.1", sinkPort), BYTES_PER_RUN);
      const seconds = (performance.now() - started) / 1000;
      const cpuAfter = await Promise.all(relays.map((r) => cpuSeconds(r.pid)));
      const client = process.cpuUsage(clientBefore);
      rates.push(BYTES_PER_RUN / 1e6 / seconds);
      relayCpu += cpuAfter.reduce((sum, after, i) => sum + after - cpuBefore[i], 0) / relays.length;
      clientCpu += (client.user + client.system) / 1e6;
    }
    circuit.destroy();
    const mb = (RUNS * BYTES_PER_RUN) / 1e6;
    rates.sort((a, b) => a - b);
    return {
      bulk_3hop_mb_per_s: round(rates[Math.floor(rates.length / 2)], 1),
      relay_cpu_s_per_mb: round(relayCpu / mb, 5),
      client_cpu_s_per_mb: round(clientCpu / mb, 5),
    };
  } finally {
    channels.close();
    sink.close();
    await Promise.all(children.reverse().map((c) => c.stop()));
    await rm(dir, { recursive: true, force: true });
  }
}

/** Write `bytes` through `stream`, end it, and resolve once the exit confirmed the end (END DONE back). */
async function send(stream: ClientStream, bytes: number): Promise<void> {
  const done = new Promise<void>((resolve, reject) => {
    stream.once("error", reject);
    stream.once("close", () => resolve());
  });
  stream.resume(); // the sink sends nothing; END DONE ends our readable side
  for (let sent = 0; sent < bytes; sent += CHUNK.length) {
    if (!stream.write(CHUNK.subarray(0, Math.min(CHUNK.length, bytes - sent)))) {
      await new Promise((resolve) => stream.once("drain", resolve));
    }
  }
  stream.end();
  await done;
}

/** utime + stime of a process, seconds. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
