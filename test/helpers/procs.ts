/**
 * Child processes for tests: start MeowOnion nodes through the real command line (optionally
 * inside a network namespace), wait for their one-line "ready" announcement with a deadline,
 * and kill them BY PID in teardown, even when a test fails. Every process started here is
 * tracked; `killAll()` ends those still running (SIGKILL to the process group we created).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const CLI = path.join(ROOT, "src/cli.ts");
const DIE_WITH_PARENT = path.join(ROOT, "test/helpers/die-with-parent.ts");

export interface StartOptions {
  /** Label in messages. */
  name: string;
  /** Run inside this network namespace (`ip netns exec NS ...`). */
  netns?: string;
  env?: Record<string, string>;
  /** Keep at most this many characters of stderr for error messages. */
  stderrTail?: number;
}

export class ManagedProcess {
  readonly lines: string[] = [];
  private stderrText = "";
  private readonly waiters = new Set<() => void>();
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
    private readonly tail: number,
  ) {
    let buffer = "";
    child.stdout!.setEncoding("utf8");
    child.stdout!.on("data", (text: string) => {
      buffer += text;
      let nl: number;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        this.lines.push(buffer.slice(0, nl));
        buffer = buffer.slice(nl + 1);
      }
      for (const wake of this.waiters) wake();
    });
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (text: string) => {
      this.stderrText = (this.stderrText + text).slice(-this.tail);
    });
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        this.exitInfo = { code, signal };
        for (const wake of this.waiters) wake();
        resolve({ code, signal });
      });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  get stderr(): string {
    return this.stderrText;
  }

  get alive(): boolean {
    return this.exitInfo === undefined;
  }

  /** The first stdout line matching `pattern`, waiting up to `timeoutMs`. */
  async waitForLine(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const line of this.lines) {
        const m = pattern.exec(line);
        if (m) return m;
      }
      if (!this.alive) {
        throw new Error(`${this.name} exited (${JSON.stringify(this.exitInfo)}) before printing ${pattern}; stderr:\n${this.stderrText}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name}: no line matching ${pattern} within ${timeoutMs} ms; stdout: ${JSON.stringify(this.lines)}; stderr:\n${this.stderrText}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.min(left, 1000));
        function done() {
          clearTimeout(timer);
          waiters.delete(done);
          resolve();
        }
        const waiters = this.waiters;
        waiters.add(done);
      });
    }
  }

  /** Send a signal to the process (by PID). */
  signal(signal: NodeJS.Signals): void {
    if (!this.alive) return;
    try {
      process.kill(this.pid, signal);
    } catch {
      // already gone
    }
  }

  /** SIGKILL the process group we created for it (the node process and any helper it spawned). */
  killHard(): void {
    if (!this.alive) return;
    try {
      process.kill(-this.pid, "SIGKILL");
    } catch {
      this.signal("SIGKILL");
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it exited. */
  async stop(graceMs = 3000): Promise<void> {
    if (!this.alive) return;
    this.signal("SIGTERM");
    const timer = setTimeout(() => this.killHard(), graceMs);
    await this.exited;
    clearTimeout(timer);
    // Helpers left in its group (esbuild) go too.
    try {
      process.kill(-this.pid, "SIGKILL");
    } catch {
      // none left
    }
  }
}

const running = new Set<ManagedProcess>();

/** Start `node --import tsx <script> ...args` (in a namespace if asked), in its own process group. */
export function startNode(script: string, args: string[], options: StartOptions): ManagedProcess {
  const nodeArgs = ["--import", "tsx", "--import", DIE_WITH_PARENT, script, ...args];
  const [command, argv] = options.netns
    ? ["ip", ["netns", "exec", options.netns, process.execPath, ...nodeArgs]]
    : [process.execPath, nodeArgs];
  const child = spawn(command, argv, {
    cwd: ROOT,
    detached: true, // own process group: teardown kills it and nothing else
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      MEOWONION_LOG_LEVEL: process.env.MEOWONION_LOG_LEVEL ?? "warn",
      MEOWONION_TEST_PARENT_PID: String(process.pid),
      ...options.env,
    },
  });
  const managed = new ManagedProcess(options.name, child, options.stderrTail ?? 20_000);
  running.add(managed);
  void managed.exited.then(() => running.delete(managed));
  return managed;
}

/** `meowonion <args>` as a child process. */
export function startCli(args: string[], options: StartOptions): ManagedProcess {
  return startNode(CLI, args, options);
}

/** Kill every process started here that is still running (teardown; safe to call twice). */
export async function killAll(): Promise<void> {
  const all = [...running];
  for (const p of all) p.killHard();
  await Promise.all(all.map((p) => Promise.race([p.exited, new Promise((r) => setTimeout(r, 5000))])));
}

const tempDirs = new Set<string>();

export async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), `meowonion-${prefix}-`));
  tempDirs.add(dir);
  return dir;
}

export async function removeTempDirs(): Promise<void> {
  for (const dir of tempDirs) await rm(dir, { recursive: true, force: true });
  tempDirs.clear();
}

/** Poll `check` until it returns a value (not undefined) or the deadline passes. */
export async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined> | T | undefined, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
