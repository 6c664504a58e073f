/**
 * The Node.js TLS floor: a network of our shape whose processes only forward bytes
 * (./floor-hop.ts), measured with the same workloads in the same run. What it costs is what
 * Node.js, TLS and loopback TCP cost before any onion routing: the part of each of our figures
 * that no change to our design could remove. It has no circuits: build and fresh-circuit
 * figures are not measured.
 */
import { join } from "node:path";
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
export const FLOOR_FIGURES = ["bulk_mb_per_s", "concurrent_mb_per_s", "rtt_ms_p50", "rtt_ms_p90", "rtt_b2b_ms_p50", "rtt_b2b_ms_p90", "cpu_s_per_100mb"];

/** Only the figures the floor stands for, from one run's output. */
export function floorOnly(out: RunOutput): RunOutput {
  const values = Object.fromEntries(Object.entries(out.values).filter(([k]) => FLOOR_FIGURES.includes(k)));
  return { ...out, values, nodesPeakRssMb: {} };
}

/** No role: the floor has no memory figures (see FLOOR_FIGURES). */
export const floorRole = (): Role => "other";

/** Start one hop; resolves once it prints "listening PORT". */
async function startHop(root: string, hop: FloorHop, nextPort: number | undefined, timeoutMs: number): Promise<{ child: ChildProcess; port: number }> {
  const child = startProcess(process.execPath, ["--import", "tsx", join(root, "bench", "compare", "floor-hop.ts"), hop.role, ...(nextPort ? [String(nextPort)] : [])], {
    cwd: root,
    // stdin stays a pipe we hold: the hop stops when it closes, even if we die by SIGKILL.
    stdio: ["pipe", "pipe", "pipe"],
  });
  const port = await awaitReadyLine(child, {
    what: hop.name,
    timeoutMs,
    match: (line) => {
      const m = /^listening (\d+)$/.exec(line);
      return m ? Number(m[1]) : undefined;
    },
  });
  return { child, port };
}

export async function startFloor(opts: { root: string; readyTimeoutMs: number }): Promise<NetworkUnderTest> {
  const startedAt = performance.now();
  const hops: { name: string; child: ChildProcess }[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(hops.map((h) => stopProcess(h.child)));
  };
  try {
    let next: number | undefined;
    for (const hop of FLOOR_HOPS) {
      const started = await startHop(opts.root, hop, next, opts.readyTimeoutMs);
      hops.push({ name: hop.name, child: started.child });
      next = started.port;
    }
    return {
      socksHost: "127.0.0.1",
      socksPort: next!,
      startedAt,
      processes: () => hops.map((h) => ({ name: h.name, pid: h.child.pid! })),
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
