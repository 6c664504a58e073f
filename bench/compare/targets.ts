/**
 * The networks under test, behind one interface: where the SOCKS port is, how to build one
 * circuit and time it, which OS processes make up the network, and how to stop it.
 */
import { join } from "node:path";
import { existsSync, readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { parseHostPort } from "../../src/common/host-port.js";
import { parseReadyLine, PROXY_NODE_FLAGS } from "../../src/network/child.js";
import { measureIdleCircuits } from "../idle-circuits.js";
import { torIdleCircuits } from "./idle.js";
import type { OnionClient, OnionServicePortSpec, OnionServiceUnderTest } from "./onion-service.js";
import { awaitReadyLine, cmdline, descendants, startProcess, stopProcess } from "./procs.js";
import type { TorNetwork } from "./tor-net.js";
import { addTorOnionService } from "./tor-onion.js";

export interface BuiltCircuit {
  ms: number;
  close(): Promise<void>;
}

/** Memory per idle circuit at a relay, bytes (see bench/idle-circuits.ts and ./idle.ts). */
export interface IdleCircuitMemory {
  edge: { rssBytes: number; heapExternalBytes?: number };
  middle?: { rssBytes: number; heapExternalBytes?: number };
}

export interface NetworkUnderTest {
  socksHost: string;
  socksPort: number;
  /** performance.now() when the network's processes were spawned. */
  startedAt: number;
  /**
   * Build one circuit; its build time in ms as the network reports it, and a way to close it
   * (until then it is a clean circuit that a new stream could use). Absent for a network
   * without circuits: then build and fresh-circuit figures are skipped.
   */
  buildCircuit?(): Promise<BuiltCircuit>;
  /**
   * False when a new SOCKS username does not get a circuit like the ones buildCircuit makes
   * (the floor: its builds are handshakes alone): then fresh-circuit figures are skipped.
   */
  streamsUseBuiltCircuits?: boolean;
  /** Every OS process of the network, named. */
  processes(): { name: string; pid: number }[];
  /** Build `count` idle circuits at a relay and measure its memory per circuit. */
  idleCircuits?(count: number, log: (msg: string) => void): Promise<IdleCircuitMemory>;
  /**
   * Publish an onion service through the network's client (its control API: Tor's ADD_ONION,
   * our AddOnionService); resolves once its descriptor is on the HSDirs. Absent for a network
   * without onion services (the floor).
   */
  onionService?(ports: OnionServicePortSpec[]): Promise<OnionServiceUnderTest>;
  stop(): Promise<void>;
}

/** How long a service may take to publish its first descriptor. */
const PUBLISH_TIMEOUT_MS = 120_000;

/** Tor: EXTENDCIRCUIT 0 on the ControlPort, time until `CIRC <id> BUILT`, then CLOSECIRCUIT. */
export function torTarget(net: TorNetwork): NetworkUnderTest {
  return {
    socksHost: "127.0.0.1",
    socksPort: net.socksPort,
    startedAt: net.startedAt,
    async buildCircuit() {
      await net.control.addEvents("CIRC");
      const seen = new Map<string, { status: string; at: number }>();
      let wake: (() => void) | undefined;
      const off = net.control.onEvent((e) => {
        const m = /^CIRC (\d+) (\w+)/.exec(e.lines[0] ?? "");
        if (m && (m[2] === "BUILT" || m[2] === "FAILED" || m[2] === "CLOSED")) {
          if (!seen.has(m[1]!)) seen.set(m[1]!, { status: m[2]!, at: performance.now() });
          wake?.();
        }
      });
      try {
        const t0 = performance.now();
        const r = await net.control.ok("EXTENDCIRCUIT 0");
        const id = /^EXTENDED (\d+)/.exec(r.lines[0] ?? "")?.[1];
        if (!id) throw new Error(`EXTENDCIRCUIT: unexpected reply ${r.lines.join(" ")}`);
        const deadline = Date.now() + 30_000;
        while (!seen.has(id)) {
          if (Date.now() > deadline) throw new Error(`circuit ${id} not built within 30 s`);
          await new Promise<void>((resolve) => {
            wake = resolve;
            setTimeout(resolve, 250);
          });
        }
        const ev = seen.get(id)!;
        if (ev.status !== "BUILT") throw new Error(`circuit ${id} ${ev.status}`);
        return {
          ms: ev.at - t0,
          close: async () => {
            await net.control.command(`CLOSECIRCUIT ${id}`);
          },
        };
      } finally {
        off();
      }
    },
    processes: () => net.pids(),
    idleCircuits: (count, log) => torIdleCircuits(net, { circuits: count, middle: true, log }),
    async onionService(ports) {
      const id = await addTorOnionService(net.control, ports, PUBLISH_TIMEOUT_MS);
      return {
        host: `${id}.onion`,
        async freshClient(): Promise<OnionClient> {
          const client = await net.startClient();
          return { socksHost: "127.0.0.1", socksPort: client.socksPort, stop: () => client.stop() };
        },
      };
    },
    stop: () => net.stop(),
  };
}

/** The fields of our network's final line `network ready socks=… control=… http=… echo=…`. */
export function parseNetworkReady(line: string): Record<string, string> | undefined {
  if (!line.startsWith("network ready ")) return undefined;
  const out: Record<string, string> = {};
  for (const tok of line.slice("network ready ".length).trim().split(/\s+/)) {
    const eq = tok.indexOf("=");
    if (eq > 0) out[tok.slice(0, eq)] = tok.slice(eq + 1);
  }
  return out;
}

/**
 * A directory authority from our network's start-up listing
 * (`  authority NAME URL  key=HEX  pid=N`): what a proxy of its own needs.
 */
export function parseAuthorityLine(line: string): { url: string; key: string } | undefined {
  const m = /^authority\s+\S+\s+(http:\/\/\S+)\s+key=([0-9a-f]{64})\b/.exec(line.trim());
  return m ? { url: m[1]!, key: m[2]! } : undefined;
}

/** A readable name for one of our node processes, from its command line. */
export function ourProcessName(args: string[], root: boolean): string {
  if (root) return "network";
  if (args[0]?.endsWith("esbuild")) return "esbuild (tsx)";
  const cli = args.findIndex((a) => a.endsWith("cli.ts") || a.endsWith("cli.js"));
  const kind = cli >= 0 ? args[cli + 1] : undefined;
  if (!kind) return args.slice(0, 3).join(" ");
  const opt = (name: string): string | undefined => {
    const i = args.indexOf(`--${name}`);
    if (i >= 0) return args[i + 1];
    return args.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
  };
  const nick = opt("nickname");
  if (kind === "relay" && nick) return `relay ${nick}`;
  if (kind === "directory") return "authority";
  return kind;
}

/** How our CLI runs: compiled (dist/, as `npm start` runs it) or from source through tsx (`npm run bench`). */
export type OurBuild = "dist" | "source";

/** Node's arguments up to the CLI's command: exit-with-parent preloaded, then that build's CLI. */
function cliArguments(root: string, build: OurBuild): string[] {
  if (build === "source") {
    return ["--import", "tsx", "--import", pathToFileURL(join(root, "src", "network", "exit-with-parent.ts")).href, join(root, "src", "cli.ts")];
  }
  const ewp = join(root, "dist", "src", "network", "exit-with-parent.js");
  return [...(existsSync(ewp) ? ["--import", pathToFileURL(ewp).href] : []), join(root, "dist", "src", "cli.js")];
}

/** The environment of our processes: exit with this one, log warnings only (unless told). */
function ourEnv(): NodeJS.ProcessEnv {
  return { ...process.env, MEOWONION_EXIT_WITH_PARENT: "1", MEOWONION_LOG_LEVEL: process.env.MEOWONION_LOG_LEVEL ?? "warn" };
}

export interface OursOptions {
  root: string;
  /** Default: dist. */
  build?: OurBuild;
  relays: number;
  exits: number;
  readyTimeoutMs: number;
  /** Write a V8 CPU profile of every process of the network into this directory. */
  profileDir?: string;
  /** The network's --data-dir (inside the benchmark's temporary directory, removed by it). */
  dataDir?: string;
  log?: (msg: string) => void;
}

export class OursUnavailable extends Error {}

/** Why ours cannot run at all (the network command is not there yet, or not built), or undefined. */
export function oursMissing(root: string): string | undefined {
  const main = join(root, "src", "network", "main.ts");
  if (!existsSync(main)) return "src/network/main.ts does not exist yet";
  const cli = readFileSync(join(root, "src", "cli.ts"), "utf8");
  if (!/network/.test(cli.split("const commands")[1] ?? "")) return "src/cli.ts does not register the network command yet";
  if (!existsSync(join(root, "dist", "src", "cli.js"))) return "dist/src/cli.js is missing: run `npm run build` (npm run bench:compare does)";
  return undefined;
}

/**
 * `node dist/src/cli.js network --headless --processes …` (the compiled build, as `npm start`
 * runs it) until its ready line. The network's exit-with-parent preload stops it should this
 * process die.
 */
export async function startOurs(opts: OursOptions): Promise<NetworkUnderTest & { ready: Record<string, string> }> {
  const build = opts.build ?? "dist";
  const args = [
    ...cliArguments(opts.root, build),
    "network",
    "--headless",
    "--processes",
    "--relays",
    String(opts.relays),
    "--exits",
    String(opts.exits),
    "--socks",
    "127.0.0.1:0",
    "--control",
    "127.0.0.1:0",
    ...(opts.dataDir ? ["--data-dir", opts.dataDir] : []),
  ];
  const startedAt = performance.now();
  const child = startProcess(process.execPath, args, {
    cwd: opts.root,
    stdio: ["pipe", "pipe", "pipe"],
    env: {
      ...ourEnv(),
      // Inherited by every node process the network starts (Node 20 refuses --cpu-prof in
      // NODE_OPTIONS; a preload with the inspector's profiler does the same).
      ...(opts.profileDir
        ? {
            MEOWONION_BENCH_PROFILE_DIR: opts.profileDir,
            NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --import ${pathToFileURL(join(opts.root, "bench", "compare", "cpu-profile-preload.mjs")).href}`.trim(),
          }
        : {}),
    },
  });
  child.stdin?.on("error", () => undefined);
  const directories: { url: string; key: string }[] = [];
  const ready = await awaitReadyLine(child, {
    what: "meowonion network",
    timeoutMs: opts.readyTimeoutMs,
    match: parseNetworkReady,
    onLine: (line) => {
      opts.log?.(`[ours] ${line}`);
      const authority = parseAuthorityLine(line);
      if (authority) directories.push(authority);
    },
    exited: (message) => new OursUnavailable(message),
  });
  const socks = parseHostPort(ready.socks ?? "");
  const control = ready.control ?? "";
  const rootPid = child.pid!;

  const rpc = async (method: string, body: unknown): Promise<Record<string, unknown>> => {
    const res = await fetch(`${control}/meowonion.v1.ControlService/${method}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as Record<string, unknown>;
    if (!res.ok) throw new Error(`${method}: HTTP ${res.status} ${JSON.stringify(json)}`);
    return json;
  };

  return {
    ready,
    socksHost: socks.host,
    socksPort: socks.port,
    startedAt,
    async buildCircuit() {
      const r = await rpc("BuildCircuit", {});
      const circ = r.circuit as { id?: string; buildMs?: number } | undefined;
      if (circ?.buildMs === undefined) throw new Error(`BuildCircuit: no buildMs in ${JSON.stringify(r)}`);
      return {
        ms: circ.buildMs,
        close: async () => {
          if (circ.id !== undefined) await rpc("CloseCircuit", { id: circ.id }).catch(() => undefined);
        },
      };
    },
    processes() {
      return [rootPid, ...descendants(rootPid)].map((pid) => ({ name: ourProcessName(cmdline(pid), pid === rootPid), pid }));
    },
    // A relay of its own (with a directory and next relays), not one of this network's: its
    // processes are started with --expose-gc and a preload that reads memory after gc().
    idleCircuits: (count, log) => measureIdleCircuits({ circuits: count, log }),
    async onionService(ports) {
      const r = await rpc("AddOnionService", { ports });
      if (typeof r.address !== "string") throw new Error(`AddOnionService: no address in ${JSON.stringify(r)}`);
      return {
        host: r.address,
        freshClient: () => startOurProxy({ root: opts.root, build, directories, readyTimeoutMs: opts.readyTimeoutMs }),
      };
    },
    stop: () => stopProcess(child, 10_000),
  };
}

/**
 * One more proxy of ours, its own process (`meowonion proxy`, as the network starts its own,
 * guards in memory), following the network's authorities; resolves at its ready line (first
 * circuit open).
 */
export async function startOurProxy(opts: {
  root: string;
  build: OurBuild;
  directories: { url: string; key: string }[];
  readyTimeoutMs: number;
}): Promise<OnionClient> {
  if (opts.directories.length === 0) throw new Error("no directory authority known to start a proxy with");
  const child = startProcess(
    process.execPath,
    [
      ...PROXY_NODE_FLAGS,
      ...cliArguments(opts.root, opts.build),
      "proxy",
      "--headless",
      ...opts.directories.flatMap((d) => ["--directory", d.url, "--directory-key", d.key]),
      "--socks",
      "127.0.0.1:0",
      "--control",
      "127.0.0.1:0",
      "--allow-same-subnet",
    ],
    { cwd: opts.root, stdio: ["pipe", "pipe", "pipe"], env: ourEnv() },
  );
  child.stdin?.on("error", () => undefined);
  const ready = await awaitReadyLine(child, {
    what: "meowonion proxy",
    timeoutMs: opts.readyTimeoutMs,
    match: (line) => parseReadyLine("proxy", line),
  });
  const socks = parseHostPort(ready.socks ?? "");
  return { socksHost: socks.host, socksPort: socks.port, stop: () => stopProcess(child) };
}
