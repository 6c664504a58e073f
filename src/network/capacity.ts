/**
 * How many node processes this machine can take, for `meowonion network --processes`: each
 * node is a Node.js process of its own, and a thousand of them exhaust memory (or the open
 * file or process limits) long before they would be useful. Checked before anything starts,
 * so the user reads what to change instead of an obscure failure halfway.
 */
import { readFile } from "node:fs/promises";
import { freemem } from "node:os";
import { COMPILED } from "./child.js";

/**
 * Resident memory of one idle node process once started, MB (relays, authorities and the proxy
 * alike, measured with the V8 options of child.ts): compiled (`npm start`) or through tsx.
 */
export const PROCESS_RSS_MB = COMPILED ? 90 : 125;
/** Leave this share of the available memory to everything else. */
const MEMORY_SHARE = 0.8;
/** File descriptors the network process holds per child (stdin and stdout pipes, and slack). */
const FDS_PER_CHILD = 4;
/** Descriptors the network process needs for itself. */
const FDS_RESERVED = 64;

export interface ProcessCapacity {
  /** How many node processes fit. */
  processes: number;
  /** What limits it, in words. */
  limitedBy: string;
}

/** The limits of this machine and process (Linux /proc; elsewhere memory only). */
export async function processCapacity(): Promise<ProcessCapacity> {
  const availableMb = freemem() / 2 ** 20;
  const candidates: ProcessCapacity[] = [
    { processes: Math.floor((availableMb * MEMORY_SHARE) / PROCESS_RSS_MB), limitedBy: `memory: ${(availableMb / 1024).toFixed(1)} GB available, about ${PROCESS_RSS_MB} MB per process` },
  ];
  const limits = await readFile("/proc/self/limits", "utf8").catch(() => "");
  const soft = (name: string) => {
    const value = new RegExp(`^${name}\\s+(\\S+)`, "m").exec(limits)?.[1];
    return value === undefined || value === "unlimited" ? undefined : Number(value);
  };
  const files = soft("Max open files");
  if (files !== undefined) candidates.push({ processes: Math.floor((files - FDS_RESERVED) / FDS_PER_CHILD), limitedBy: `open files: ulimit -n is ${files}, ${FDS_PER_CHILD} per process` });
  const procs = soft("Max processes");
  if (procs !== undefined) candidates.push({ processes: procs, limitedBy: `processes: ulimit -u is ${procs}` });
  return candidates.reduce((a, b) => (b.processes < a.processes ? b : a));
}

/** Throws, saying what limits it and what to do, if `processes` node processes do not fit. */
export async function checkProcessCapacity(processes: number, relays: number): Promise<void> {
  const capacity = await processCapacity();
  if (processes <= capacity.processes) return;
  const maxRelays = Math.max(0, relays - (processes - capacity.processes));
  throw new Error(
    `--processes: ${processes} node processes (${relays} relays, the authorities, a proxy and two onion services) ` +
      `do not fit this machine: about ${capacity.processes} do (${capacity.limitedBy}). ` +
      `Run without --processes (every node in one process), or with --relays ${maxRelays} at most.`,
  );
}
