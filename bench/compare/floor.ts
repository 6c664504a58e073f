/**
 * The Node.js TLS floor: a network of our shape whose processes only forward bytes
 * (./floor-hop.ts), measured with the same workloads in the same run. What it costs is what
 * Node.js, TLS and loopback TCP cost before any onion routing: the part of each of our figures
 * that no change to our design could remove. Its builds are the three ntor handshakes alone
 * over links kept open (./floor-hop.ts); its streams use no circuit, so fresh-circuit figures
 * are not measured.
 */
import { join } from "node:path";
import { connect, type Socket } from "node:net";
import { createInterface } from "node:readline";
import type { ChildProcess } from "node:child_process";
import { awaitReadyLine, startProcess, stopProcess } from "./procs.js";
import type { NetworkUnderTest } from "./targets.js";
import type { Role, RunOutput } from "./run.js";

interface FloorHop {
  name: string;
  role: "entry" | "relay" | "exit";
}

/** Started from the exit back to the entry: each hop is given the port of the next. */
const FLOOR_HOPS: FloorHop[] = [
  { name: "floor exit", role: "exit" },
  { name: "floor relay 2", role: "relay" },
  { name: "floor relay 1", role: "relay" },
  { name: "floor entry", role: "entry" },
];

/**
 * The figures the floor stands for. Not its start-up time or memory: its hops run under tsx
 * (a TypeScript loader that our compiled nodes do not carry), which costs both.
 */
export const FLOOR_FIGURES = [
  "bulk_mb_per_s",
  "concurrent_mb_per_s",
  "rtt_ms_p50",
  "rtt_ms_p90",
  "rtt_b2b_ms_p50",
  "rtt_b2b_ms_p90",
  "cpu_s_per_100mb",
  "circuit_build_ms_p50",
  "circuit_build_ms_p90",
];

/** Only the figures the floor stands for, from one run's output. */
export function floorOnly(out: RunOutput): RunOutput {
  const values = Object.fromEntries(Object.entries(out.values).filter(([k]) => FLOOR_FIGURES.includes(k)));
  return { ...out, values, nodesPeakRssMb: {} };
}

/** No role: the floor has no memory figures (see FLOOR_FIGURES). */
export const floorRole = (): Role => "other";

interface StartedHop {
  child: ChildProcess;
  port: number;
  /** "ID:KEY" (hex): its ntor relay ID and onion key. */
  ntor: string;
}

/** Start one hop; resolves once it prints "listening PORT ID KEY". `path`: the entry's relays. */
async function startHop(root: string, hop: FloorHop, nextPort: number | undefined, path: string[], timeoutMs: number): Promise<StartedHop> {
  const args = [hop.role, ...(nextPort ? [String(nextPort)] : []), ...(hop.role === "entry" ? [path.join(",")] : [])];
  const child = startProcess(process.execPath, ["--import", "tsx", join(root, "bench", "compare", "floor-hop.ts"), ...args], {
    cwd: root,
    // stdin stays a pipe we hold: the hop stops when it closes, even if we die by SIGKILL.
    stdio: ["pipe", "pipe", "pipe"],
  });
  const ready = await awaitReadyLine(child, {
    what: hop.name,
    timeoutMs,
    match: (line) => {
      const m = /^listening (\d+) ([0-9a-f]{40}) ([0-9a-f]{64})$/.exec(line);
      return m ? { port: Number(m[1]), ntor: `${m[2]}:${m[3]}` } : undefined;
    },
  });
  return { child, ...ready };
}

/** Builds through the entry: one connection, one line per build, answered with its ms. */
function floorBuilds(port: number): { build: () => Promise<number>; close: () => void } {
  let socket: Socket | undefined;
  const waiting: { resolve: (ms: number) => void; reject: (e: Error) => void }[] = [];
  const open = (): Socket => {
    if (socket !== undefined && !socket.destroyed) return socket;
    const s = connect(port, "127.0.0.1");
    s.setNoDelay(true);
    s.write("B");
    createInterface({ input: s }).on("line", (line) => {
      const w = waiting.shift();
      const ms = Number(line);
      if (Number.isFinite(ms)) w?.resolve(ms);
      else w?.reject(new Error(`floor build: ${line}`));
    });
    s.on("error", () => undefined).on("close", () => {
      for (const w of waiting.splice(0)) w.reject(new Error("floor entry closed the build connection"));
    });
    socket = s;
    return s;
  };
  return {
    build: () =>
      new Promise<number>((resolve, reject) => {
        waiting.push({ resolve, reject });
        open().write("\n");
      }),
    close: () => socket?.destroy(),
  };
}

export async function startFloor(opts: { root: string; readyTimeoutMs: number }): Promise<NetworkUnderTest> {
  const startedAt = performance.now();
  const hops: { name: string; child: ChildProcess }[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(hops.map((h) => stopProcess(h.child)));
  };
  try {
    let next: number | undefined;
    const path: string[] = [];
    for (const hop of FLOOR_HOPS) {
      const started = await startHop(opts.root, hop, next, path, opts.readyTimeoutMs);
      hops.push({ name: hop.name, child: started.child });
      next = started.port;
      if (hop.role !== "entry") path.unshift(started.ntor);
    }
    const entryPort = next!;
    const { build, close } = floorBuilds(entryPort);
    return {
      socksHost: "127.0.0.1",
      socksPort: entryPort,
      startedAt,
      buildCircuit: async () => ({ ms: await build(), close: async () => undefined }),
      streamsUseBuiltCircuits: false,
      processes: () => hops.map((h) => ({ name: h.name, pid: h.child.pid! })),
      stop: async () => {
        close();
        await stop();
      },
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
