/**
 * Start MeowOnion's own network through its command line (never by importing src/): a directory,
 * four relays (one exit) and a proxy, each a child process in its own process group with its
 * own temporary data directory.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Spawned, spawnGroup } from "./lib/process.js";
import { Target, parseHostPort, parseKey } from "./target.js";

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

export interface OursOptions {
  /** Consensus interval in seconds for the directory (short, so that relays appear quickly). */
  interval?: number;
  relays?: number;
  proxy?: boolean;
  log?: (msg: string) => void;
}

export interface Launched {
  target: Target;
  procs: Spawned[];
  /** Why a component is missing (e.g. the proxy did not start). */
  unavailable: Record<string, string>;
  stop(): Promise<void>;
}

/** Data directories to remove even when the run is interrupted. */
const tempDirs = new Set<string>();
process.on("exit", () => {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

const cli = (args: string[]) => [process.execPath, "--import", "tsx", join(REPO_ROOT, "src/cli.ts"), ...args];

export async function startOurs(opts: OursOptions = {}): Promise<Launched> {
  const log = opts.log ?? (() => {});
  const base = mkdtempSync(join(tmpdir(), "meowonion-conformance-"));
  tempDirs.add(base);
  const procs: Spawned[] = [];
  const unavailable: Record<string, string> = {};
  const target = new Target();
  const stop = async () => {
    await Promise.all(procs.map((p) => p.stop()));
    rmSync(base, { recursive: true, force: true });
    tempDirs.delete(base);
  };
  const start = (args: string[]) => {
    const p = spawnGroup(cli(args), { cwd: REPO_ROOT, env: { ...process.env, NO_COLOR: "1" } });
    procs.push(p);
    return p;
  };
  try {
    // HSDir flags from the start, as a test network's thresholds (onion_service.proto HSDIRS).
    const dir = start(["directory", "--listen", "127.0.0.1:0", "--data-dir", join(base, "directory"), "--interval", String(opts.interval ?? 2), "--hsdir-after", "0"]);
    const dm = await dir.waitLine(/directory ready url=(\S+) key=([0-9a-fA-F]{64})/, 30_000);
    target.directory = { url: dm[1].replace(/\/$/, ""), key: parseKey(dm[2], "directory key") };
    log(`directory ${dm[1]}`);
    // Four: onion services' circuits to a peer-chosen last hop have an extra middle (consensus.proto PATH SELECTION).
    const n = opts.relays ?? 4;
    const relayProcs = [];
    for (let i = 0; i < n; i++) {
      const exit = i === n - 1;
      relayProcs.push(
        start([
          "relay",
          "--listen",
          "127.0.0.1:0",
          "--directory",
          target.directory.url,
          "--directory-key",
          dm[2],
          "--data-dir",
          join(base, `relay${i + 1}`),
          "--nickname",
          `conf${i + 1}${exit ? "exit" : ""}`,
          ...(exit ? ["--exit-policy", "accept 127.0.0.0/8:*,reject *:*"] : []),
        ]),
      );
    }
    for (const p of relayProcs) {
      const m = await p.waitLine(/relay ready or=(\S+) identity=([0-9a-fA-F]{64})/, 30_000);
      const { host, port } = parseHostPort(m[1]);
      target.relays.push({ host, port, identity: parseKey(m[2], "relay identity") });
      log(`relay ${m[1]}`);
    }
    if (opts.proxy ?? true) {
      const px = start(["proxy", "--directory", target.directory.url, "--directory-key", dm[2], "--socks", "127.0.0.1:0", "--control", "127.0.0.1:0", "--headless", "--allow-same-subnet", "--data-dir", join(base, "proxy")]);
      try {
        const m = await px.waitLine(/proxy ready socks=(\S+) control=(\S+)/, 30_000);
        const { host, port } = parseHostPort(m[1]);
        target.proxy = { host, port };
        target.control = m[2];
        log(`proxy ${m[1]}`);
      } catch (e) {
        unavailable.proxy = `our proxy did not start: ${(e as Error).message}`;
      }
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return { target, procs, unavailable, stop };
}
