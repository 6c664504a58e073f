/** Child processes in their own process group, stopped by PID (group) only. */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";

export interface Spawned {
  child: ChildProcess;
  pid: number;
  /** Every stdout line so far. */
  lines: string[];
  /** Tail of stderr (for error messages). */
  stderrTail: string[];
  exited: boolean;
  exitCode: number | null;
  /** Wait for a stdout line matching re; rejects on exit or timeout. */
  waitLine(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  onLine(fn: (line: string) => void): void;
  stop(graceMs?: number): Promise<void>;
}

const live = new Set<Spawned>();

/** Run `command` (argv array, or a shell string when `shell` is true) detached in a new process group. */
export function spawnGroup(command: string | string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; shell?: boolean; stdin?: "pipe" | "ignore" } = {}): Spawned {
  const [file, args] = typeof command === "string" ? ["/bin/sh", ["-c", command]] : [command[0], command.slice(1)];
  const child = spawn(file, args, { cwd: opts.cwd, env: opts.env ?? process.env, detached: true, stdio: [opts.stdin ?? "ignore", "pipe", "pipe"] });
  const lineListeners: ((l: string) => void)[] = [];
  const s: Spawned = {
    child,
    pid: child.pid ?? -1,
    lines: [],
    stderrTail: [],
    exited: false,
    exitCode: null,
    onLine(fn) {
      lineListeners.push(fn);
    },
    waitLine(re, timeoutMs) {
      const found = s.lines.map((l) => l.match(re)).find(Boolean);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out after ${timeoutMs} ms waiting for a line matching ${re} from ${JSON.stringify(command)}; stderr: ${s.stderrTail.slice(-5).join(" | ")}`));
        }, timeoutMs);
        const onLine = (l: string) => {
          const m = l.match(re);
          if (m) {
            cleanup();
            resolve(m);
          }
        };
        const onExit = () => {
          cleanup();
          reject(new Error(`${JSON.stringify(command)} exited (code ${s.exitCode}) before printing a line matching ${re}; stderr: ${s.stderrTail.slice(-5).join(" | ")}`));
        };
        const cleanup = () => {
          clearTimeout(t);
          lineListeners.splice(lineListeners.indexOf(onLine), 1);
          child.off("exit", onExit);
        };
        lineListeners.push(onLine);
        child.once("exit", onExit);
      });
    },
    async stop(graceMs = 3000) {
      if (s.exited || s.pid < 0) return;
      const gone = new Promise<void>((r) => child.once("exit", () => r()));
      try {
        process.kill(-s.pid, "SIGTERM");
      } catch {
        return;
      }
      const t = setTimeout(() => {
        try {
          process.kill(-s.pid, "SIGKILL");
        } catch {}
      }, graceMs);
      await gone;
      clearTimeout(t);
      // Anything left in the group (grandchildren that ignored SIGTERM) goes too.
      try {
        process.kill(-s.pid, "SIGKILL");
      } catch {}
      live.delete(s);
    },
  };
  live.add(s);
  createInterface({ input: child.stdout! }).on("line", (l) => {
    s.lines.push(l);
    if (s.lines.length > 2000) s.lines.splice(0, 1000);
    for (const fn of [...lineListeners]) fn(l);
  });
  createInterface({ input: child.stderr! }).on("line", (l) => {
    s.stderrTail.push(l);
    if (s.stderrTail.length > 50) s.stderrTail.shift();
  });
  child.on("exit", (code) => {
    s.exited = true;
    s.exitCode = code;
  });
  child.on("error", (e) => {
    s.stderrTail.push(`spawn error: ${e.message}`);
  });
  return s;
}

/** Stop every group this process started (used on exit paths and signals). */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((s) => s.stop(1500)));
}

/** Synchronous last resort for process "exit": SIGKILL every group we started. */
export function killAllSync(): void {
  for (const s of live) {
    if (s.exited || s.pid < 0) continue;
    try {
      process.kill(-s.pid, "SIGKILL");
    } catch {}
  }
}
