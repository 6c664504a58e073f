/**
 * Runs one MeowOnion node as its own OS process and waits for its ready line (`<kind> ready
 * key=value …`) with a deadline. Stopping is by PID: SIGTERM, then SIGKILL after a grace
 * period. The child's stdin is a pipe the parent never writes: exit-with-parent.ts (preloaded)
 * stops the child when that pipe closes, so a parent that dies — however it dies — leaves no
 * orphans.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";

/**
 * Children run the way this module does: compiled (`npm run build`, dist/src/**.js: no loader,
 * half the start-up time and ~35 MB less memory per process) or as TypeScript through tsx (tests
 * and development).
 */
export const COMPILED = import.meta.url.endsWith(".js");
const EXTENSION = COMPILED ? ".js" : ".ts";
/** The root of the tree this module runs from (two levels above src/network/): the package, or dist/. */
export const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const CLI_PATH = join(PACKAGE_ROOT, "src", `cli${EXTENSION}`);
const EXIT_WITH_PARENT = pathToFileURL(join(PACKAGE_ROOT, "src", "network", `exit-with-parent${EXTENSION}`)).href;
/** The old generation's floor every node shares (NODE_FLAGS says why). */
const INITIAL_OLD_SPACE = "--initial-old-space-size=64";

/**
 * V8 options every node process of ours runs with, on the command line (Node refuses
 * --initial-old-space-size in NODE_OPTIONS); `npm start` and bin/meowonion.js pass the same.
 *
 * Why: after a process's first full collection V8 sets the old generation's limit just above
 * its live size, and the external memory (Buffer contents) allocated between two scavenges
 * counts against that limit. From then on a relay or the proxy ran full collections instead
 * of scavenges and spent about twice the CPU per MB for the rest of its life. A configured
 * initial size is also V8's floor for that limit. Semi-spaces stay at V8's starting size
 * instead of doubling: fewer external bytes between scavenges, which made that fall come
 * sooner, and less memory per process. The measurements: docs/bench-compare.md.
 */
export const NODE_FLAGS: readonly string[] = ["--max-semi-space-size=8", INITIAL_OLD_SPACE];

/**
 * The proxy's V8 options: NODE_FLAGS with 1 MB semi-spaces. The proxy's young generation and the
 * Buffers that wait for its scavenges were most of what a bulk transfer added to its memory:
 * its peak fell from ≈ 114 to ≈ 84 MB at the same CPU per MB (docs/bench-compare.md).
 */
export const PROXY_NODE_FLAGS: readonly string[] = ["--max-semi-space-size=1", INITIAL_OLD_SPACE];

/**
 * Node's arguments to run the CLI with `args`: the V8 `flags`, then exit-with-parent preloaded
 * (and tsx for TypeScript).
 */
export function nodeArguments(args: string[], flags: readonly string[] = NODE_FLAGS): string[] {
  return [...flags, ...(COMPILED ? [] : ["--import", "tsx"]), "--import", EXIT_WITH_PARENT, CLI_PATH, ...args];
}

export const STOP_GRACE_MS = 5_000;

/** Parses "kind ready a=1 b=2" into { a: "1", b: "2" }, or undefined if not that kind's ready line. */
export function parseReadyLine(kind: string, line: string): Record<string, string> | undefined {
  const prefix = `${kind} ready`;
  if (!line.startsWith(prefix) || (line.length > prefix.length && line[prefix.length] !== " ")) return undefined;
  const fields: Record<string, string> = {};
  for (const token of line.slice(prefix.length).trim().split(/\s+/)) {
    const eq = token.indexOf("=");
    if (eq > 0) fields[token.slice(0, eq)] = token.slice(eq + 1);
  }
  return fields;
}

export interface ChildNode {
  name: string;
  pid: number;
  fields: Record<string, string>;
  /** The file its stderr (JSON logs) goes to. */
  logFile: string;
  /** Resolves when the process has exited. */
  exited: Promise<void>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it is gone. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL now (synchronous; for process 'exit' handlers). */
  killNow(): void;
}

/** PIDs of every child started and not yet exited, for last-resort cleanup. */
export const liveChildren = new Map<number, ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const child of liveChildren.values()) {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
  });
}

function tail(file: string, bytes = 2_000): string {
  try {
    const text = readFileSync(file, "utf8");
    return text.slice(-bytes).trim();
  } catch {
    return "";
  }
}

/**
 * Starts `meowonion <kind> <args>` and resolves with its ready fields. Rejects (after killing
 * it) if it exits or misses the deadline first; the error carries the end of its log.
 */
export function spawnNode(options: {
  name: string;
  kind: string;
  args: string[];
  logFile: string;
  readyTimeoutMs: number;
  env?: NodeJS.ProcessEnv;
  /** V8 options instead of NODE_FLAGS (of repeated ones, V8 takes the last). */
  nodeFlags?: readonly string[];
}): Promise<ChildNode> {
  installExitHook();
  const logFd = openSync(options.logFile, "a", 0o600);
  let child: ChildProcess;
  try {
    child = spawn(
      process.execPath,
      nodeArguments([options.kind, ...options.args], options.nodeFlags),
      {
        cwd: PACKAGE_ROOT,
        stdio: ["pipe", "pipe", logFd],
        env: { ...process.env, ...options.env, MEOWONION_EXIT_WITH_PARENT: "1" },
      },
    );
  } finally {
    closeSync(logFd);
  }
  const pid = child.pid;
  if (pid === undefined) return Promise.reject(new Error(`${options.name}: could not start ${process.execPath}`));
  liveChildren.set(pid, child);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    child.once("exit", () => {
      liveChildren.delete(pid);
      resolve();
    });
  });
  child.stdin?.on("error", () => undefined); // EPIPE if the child is already gone

  const stop = async (graceMs = STOP_GRACE_MS) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
  };
  const killNow = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  };

  return new Promise<ChildNode>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    let done = false;
    const fail = (why: string) => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      killNow();
      const log = tail(options.logFile);
      reject(new Error(`${options.name} (pid ${pid}) ${why}${log ? `; end of its log (${options.logFile}):\n${log}` : ""}`));
    };
    const deadline = setTimeout(
      () => fail(`printed no '${options.kind} ready' line within ${options.readyTimeoutMs} ms`),
      options.readyTimeoutMs,
    );
    lines.on("line", (line) => {
      if (done) return; // keep draining stdout so the child never blocks on it
      const fields = parseReadyLine(options.kind, line.trim());
      if (!fields) return;
      done = true;
      clearTimeout(deadline);
      resolve({ name: options.name, pid, fields, logFile: options.logFile, exited, stop, killNow });
    });
    child.once("exit", (code, signal) => fail(`exited (${signal ?? `code ${code}`}) before it was ready`));
    child.once("error", (err) => fail(`could not run: ${err.message}`));
  });
}
