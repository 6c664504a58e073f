/**
 * Processes the benchmark starts, and what it reads about them from /proc: the process tree
 * (PPID walk), CPU time (utime+stime) and peak resident memory (VmHWM). Everything started is
 * registered here and stopped by PID (never by name) at the end, on failure, or on Ctrl-C.
 */
import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { execFileSync } from "node:child_process";

let clockTicks: number | undefined;

/** Clock ticks per second of /proc/PID/stat's times (getconf CLK_TCK; 100 on Linux). */
export function clkTck(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** Fields of /proc/PID/stat after the command name (which may contain spaces and parens). */
export function parseStat(text: string): { ppid: number; utime: number; stime: number } {
  const close = text.lastIndexOf(")");
  const rest = text.slice(close + 2).split(" ");
  // rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
  return { ppid: Number(rest[1]), utime: Number(rest[11]), stime: Number(rest[12]) };
}

/** A memory field of /proc/PID/status text (VmHWM: peak resident set, VmRSS: resident set) in KiB; undefined if absent. */
export function parseStatusKb(text: string, field: "VmHWM" | "VmRSS"): number | undefined {
  const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, "m").exec(text);
  return m ? Number(m[1]) : undefined;
}

function readProc(pid: number, file: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, "utf8");
  } catch {
    return undefined;
  }
}

/** All live descendants of a process (children, grandchildren, ...), by walking PPIDs. */
export function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readProc(Number(name), "stat");
    if (stat === undefined) continue;
    const { ppid } = parseStat(stat);
    const list = children.get(ppid) ?? [];
    list.push(Number(name));
    children.set(ppid, list);
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    for (const c of children.get(pid) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

/** CPU seconds (user + system) a process has used so far; 0 if it is gone. */
export function cpuSeconds(pid: number): number {
  const stat = readProc(pid, "stat");
  if (stat === undefined) return 0;
  const { utime, stime } = parseStat(stat);
  return (utime + stime) / clkTck();
}

/** Peak resident memory of a process in MB (VmHWM); undefined if it is gone. */
export function peakRssMb(pid: number): number | undefined {
  const status = readProc(pid, "status");
  if (status === undefined) return undefined;
  const kb = parseStatusKb(status, "VmHWM");
  return kb === undefined ? undefined : kb / 1024;
}

/** Command line of a process, as its arguments. */
export function cmdline(pid: number): string[] {
  const text = readProc(pid, "cmdline");
  return text === undefined ? [] : text.split("\0").filter((s) => s.length > 0);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return readProc(pid, "stat")?.includes(") Z ") !== true;
  } catch {
    return false;
  }
}

const registry = new Set<ChildProcess>();
let refusing = false;

/** From now on startProcess throws: we are shutting down (Ctrl-C, failure). */
export function refuseNewProcesses(): void {
  refusing = true;
}

export class ShuttingDown extends Error {
  constructor() {
    super("shutting down: not starting new processes");
    this.name = "ShuttingDown";
  }
}

/** Spawn a child process and register it for cleanup. */
export function startProcess(cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
  if (refusing) throw new ShuttingDown();
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], ...opts });
  registry.add(child);
  child.on("exit", () => registry.delete(child));
  child.on("error", () => registry.delete(child));
  return child;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface ReadyLineOptions<T> {
  /** What is starting, for the timeout's message. */
  what: string;
  timeoutMs: number;
  /** The ready line's content, or undefined for any other line. */
  match: (line: string) => T | undefined;
  /** Sees every stdout line (logging). */
  onLine?: (line: string) => void;
  /** The error for a child that exits before it is ready, given its exit and stderr's tail. */
  exited?: (message: string) => Error;
}

/**
 * Wait for `child`'s ready line on stdout. If it exits first or `timeoutMs` pass, it is stopped
 * and the promise rejects, with the tail of its stderr when it exited.
 */
export async function awaitReadyLine<T>(child: ChildProcess, opts: ReadyLineOptions<T>): Promise<T> {
  let stderr = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (t: string) => {
    stderr = (stderr + t).slice(-1500);
  });
  try {
    return await new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${opts.what}: not ready within ${opts.timeoutMs} ms`)), opts.timeoutMs);
      createInterface({ input: child.stdout! }).on("line", (line) => {
        opts.onLine?.(line);
        const ready = opts.match(line.trim());
        if (ready === undefined) return;
        clearTimeout(timer);
        resolve(ready);
      });
      child.once("exit", (code, sig) => {
        clearTimeout(timer);
        const message = `${opts.what} exited (${sig ?? code}) before ready: ${stderr.trim()}`;
        reject(opts.exited ? opts.exited(message) : new Error(message));
      });
    });
  } catch (e) {
    await stopProcess(child);
    throw e;
  }
}

/**
 * Stop a process and all its descendants by PID: SIGTERM to the process (it stops its own
 * children in order), then SIGKILL to whatever of the tree is left after graceMs. The
 * descendants are collected first (once the parent is gone they are re-parented and the PPID
 * walk would lose them).
 */
export async function stopTree(root: number, graceMs = 3000): Promise<void> {
  const pids = [root, ...descendants(root)];
  try {
    process.kill(root, "SIGTERM");
  } catch {
    /* already gone */
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && pids.some(alive)) await sleep(50);
  for (const pid of pids) {
    if (!alive(pid)) continue;
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* gone */
    }
  }
}

export async function stopProcess(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.pid !== undefined) await stopTree(child.pid, graceMs);
  // stopTree counts a zombie as gone; our own child is reaped by Node a moment later, when it
  // emits 'exit' (until then its PID still answers signals): wait for that too.
  if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, graceMs);
      child.once("exit", () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
  registry.delete(child);
}

/** Stop everything still registered (used at the end and on failure or a signal). */
export async function stopAll(): Promise<void> {
  refuseNewProcesses();
  await Promise.all([...registry].map((c) => stopProcess(c)));
}

/** Synchronous last resort (process "exit" handler): SIGKILL every registered process tree. */
export function killAllSync(): void {
  for (const c of registry) {
    if (c.pid === undefined) continue;
    for (const pid of [c.pid, ...descendants(c.pid)]) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* gone */
      }
    }
  }
  registry.clear();
}
