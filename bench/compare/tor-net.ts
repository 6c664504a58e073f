/**
 * Starts a private Tor test network on 127.0.0.1 from the Debian `tor` package: authority keys
 * with tor-gencert, fingerprints with `tor --list-fingerprint`, one tor process per node, and
 * waits for the client's bootstrap through its ControlPort.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { createServer, type AddressInfo, type Server } from "node:net";
import type { ChildProcess } from "node:child_process";
import { startProcess, stopProcess } from "./procs.js";
import { RELAY_ADDRESS, torrc, type TorNetworkSpec, type TorNodeSpec, type TorScheduler } from "./torrc.js";
import { TorControl, bootstrapProgress } from "./tor-control.js";

/** Path of a binary on PATH (or in /usr/sbin, where Debian puts tor), or undefined. */
export function findBinary(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(":"), "/usr/sbin", "/usr/local/sbin", "/sbin"];
  for (const d of dirs) {
    if (d && existsSync(join(d, name))) return join(d, name);
  }
  return undefined;
}

export function torVersion(tor: string): string {
  const out = spawnSync(tor, ["--version"], { encoding: "utf8" }).stdout ?? "";
  return /Tor version ([^\s]+?)\.?\s/.exec(out)?.[1] ?? "unknown";
}

/** Free TCP ports on 127.0.0.1 (all held open together so they are distinct). */
export async function freePorts(n: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < n; i++) {
      const s = createServer();
      servers.push(s);
      ports.push(
        await new Promise<number>((resolve, reject) => {
          s.once("error", reject);
          s.listen(0, "127.0.0.1", () => resolve((s.address() as AddressInfo).port));
        }),
      );
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}

export interface TorNode extends TorNodeSpec {
  process?: ChildProcess;
}

export interface TorNetwork {
  scheduler: TorScheduler;
  nodes: TorNode[];
  socksPort: number;
  control: TorControl;
  /** ms from spawning the tor processes to the client's 75% (enough directory info). */
  dirInfoMs: number;
  /** Wait for the client's bootstrap 100% (after a first stream has asked for a circuit). */
  waitBootstrapped(timeoutMs: number): Promise<void>;
  /** performance.now() when the tor processes were spawned. */
  startedAt: number;
  /**
   * Start one more client (its own tor process, data directory and ports), up to bootstrap 75%
   * like the first: a client that has never been used. Stopped with the network at the latest.
   */
  startClient(): Promise<TorClient>;
  pids(): { name: string; pid: number }[];
  stop(): Promise<void>;
}

/** A tor client of the network: SocksPort, ControlPort, and its bootstrap. */
export interface TorClient {
  socksPort: number;
  control: TorControl;
  /** Wait for bootstrap 100% (after a first stream has asked for a circuit). */
  waitBootstrapped(timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

export interface TorNetworkOptions {
  tor: string;
  gencert: string;
  dir: string;
  scheduler: TorScheduler;
  /** Middle relays besides the authority (also a relay) and the exit. */
  middles: number;
  bootstrapTimeoutMs: number;
  /** The destination ports the exit must accept (on loopback only). */
  exitPorts: number[];
  log?: (msg: string) => void;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The authority's current consensus (plain text), from its DirPort. */
async function fetchConsensus(dirPort: number): Promise<string> {
  const res = await fetch(`http://${RELAY_ADDRESS}:${dirPort}/tor/status-vote/current/consensus`, {
    signal: AbortSignal.timeout(2000),
  });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return res.text();
}

/**
 * How many relays of a consensus are usable: Running and Valid (and for the path, at least
 * one of them an Exit). Returns 0 if there is no Exit at all.
 */
export function consensusReady(consensus: string): number {
  let usable = 0;
  let exits = 0;
  for (const line of consensus.split("\n")) {
    if (!line.startsWith("s ")) continue;
    const flags = line.split(" ");
    if (flags.includes("Running") && flags.includes("Valid")) {
      usable++;
      if (flags.includes("Exit")) exits++;
    }
  }
  return exits > 0 ? usable : 0;
}

/** Generate the authority's v3 keys and certificate; returns the v3 identity fingerprint. */
function genAuthorityKeys(gencert: string, dataDir: string, dirPort: number): string {
  const keys = join(dataDir, "keys");
  mkdirSync(keys, { recursive: true, mode: 0o700 });
  execFileSync(
    gencert,
    [
      "--create-identity-key",
      "--passphrase-fd",
      "0",
      "-m",
      "12",
      "-a",
      `${RELAY_ADDRESS}:${dirPort}`,
      "-i",
      join(keys, "authority_identity_key"),
      "-s",
      join(keys, "authority_signing_key"),
      "-c",
      join(keys, "authority_certificate"),
    ],
    { input: "\n", stdio: ["pipe", "ignore", "pipe"] },
  );
  const cert = readFileSync(join(keys, "authority_certificate"), "utf8");
  const m = /^fingerprint ([0-9A-F]{40})$/m.exec(cert);
  if (!m) throw new Error("tor-gencert: no fingerprint in authority_certificate");
  return m[1]!;
}

/** The relay (RSA) identity fingerprint of a data directory (creates its keys). */
function listFingerprint(tor: string, torrcPath: string, dataDir: string): string {
  const out = execFileSync(tor, ["--list-fingerprint", "-f", torrcPath, "--DataDirectory", dataDir], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
  const m = /^\S+ ((?:[0-9A-F]{4} ?){10})$/m.exec(out);
  if (!m) throw new Error(`tor --list-fingerprint: no fingerprint in output:\n${out}`);
  return m[1]!.replace(/ /g, "");
}

export async function startTorNetwork(opts: TorNetworkOptions): Promise<TorNetwork> {
  const log = opts.log ?? (() => {});
  const nMiddles = opts.middles;
  // Authority OR and Dir, middles' OR, exit OR, client SOCKS and control.
  const all = await freePorts(nMiddles + 5);
  let p = 0;
  const nodes: TorNode[] = [];
  const node = (n: Omit<TorNodeSpec, "dataDir">): TorNode => {
    const dataDir = join(opts.dir, n.nickname);
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const full = { ...n, dataDir };
    nodes.push(full);
    return full;
  };
  const auth = node({ nickname: "auth", role: "authority", orPort: all[p++]!, dirPort: all[p++]! });
  for (let i = 1; i <= nMiddles; i++) node({ nickname: `relay${i}`, role: "relay", orPort: all[p++]! });
  node({ nickname: "exit", role: "exit", orPort: all[p++]! });
  const client = node({ nickname: "client", role: "client", orPort: 0, socksPort: all[p++]!, controlPort: all[p++]! });

  const v3Ident = genAuthorityKeys(opts.gencert, auth.dataDir, auth.dirPort!);
  // A placeholder authority line lets --list-fingerprint parse the torrc.
  const spec: TorNetworkSpec = {
    nodes,
    v3Ident,
    authFingerprint: "0".repeat(40),
    scheduler: opts.scheduler,
    exitPorts: opts.exitPorts,
    ownerPid: process.pid,
    // Debugging aid: MEOWONION_BENCH_TOR_LOG=info keeps an info.log per node.
    extraLogLevel: process.env.MEOWONION_BENCH_TOR_LOG || undefined,
    // Experiments: MEOWONION_BENCH_TORRC_EXTRA="Option value;Option value" for every node.
    extraLines: process.env.MEOWONION_BENCH_TORRC_EXTRA?.split(";").map((x) => x.trim()).filter(Boolean),
  };
  const authTorrc = join(auth.dataDir, "torrc");
  writeFileSync(authTorrc, torrc(spec, auth));
  spec.authFingerprint = listFingerprint(opts.tor, authTorrc, auth.dataDir);
  for (const n of nodes) writeFileSync(join(n.dataDir, "torrc"), torrc(spec, n));

  const startedAt = performance.now();
  const spawnNode = (n: TorNode): void => {
    const child = startProcess(opts.tor, ["-f", join(n.dataDir, "torrc")], { stdio: ["ignore", "ignore", "pipe"] });
    n.process = child;
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (t: string) => log(`[tor ${n.nickname}] ${t.trim()}`));
    child.on("exit", (code, sig) => {
      if (code !== 0 && code !== null) log(`tor ${n.nickname} exited with ${code ?? sig}`);
    });
  };
  const checkAlive = (): void => {
    const dead = nodes.find((n) => n.process !== undefined && n.process.exitCode !== null);
    if (dead) throw new Error(`tor ${dead.nickname} exited (${dead.process?.exitCode}); see its notice.log`);
  };
  const clients: TorClient[] = [];
  const stop = async (): Promise<void> => {
    for (const c of clients) c.control.close();
    await Promise.all(nodes.map((n) => (n.process ? stopProcess(n.process) : Promise.resolve())));
  };

  /** Spawn a client node; resolves once its ControlPort answers and it has enough directory info (75%). */
  const launchClient = async (n: TorNode, deadline: number): Promise<TorClient> => {
    spawnNode(n);
    let control: TorControl | undefined;
    try {
      const cookie = join(n.dataDir, "control_auth_cookie");
      while (!control) {
        if (Date.now() > deadline) throw new Error(`tor ${n.nickname}'s ControlPort never came up`);
        checkAlive();
        if (existsSync(cookie)) {
          control = await TorControl.open("127.0.0.1", n.controlPort!, cookie).catch(() => undefined);
        }
        if (!control) await sleep(20);
      }
      // With __DisablePredictedCircuits the client stops at 75% (enough directory info) until a
      // stream asks for a circuit; the caller's first SOCKS request takes it to 100%.
      const ctl = control;
      const waitProgress = async (target: number, deadlineAt: number): Promise<void> => {
        let last = "";
        for (;;) {
          const phase = await ctl.getinfo("status/bootstrap-phase");
          if (phase !== last) {
            log(`tor ${n.nickname} (${opts.scheduler}): ${phase}`);
            last = phase;
          }
          if (bootstrapProgress(phase) >= target) return;
          if (Date.now() > deadlineAt) throw new Error(`tor ${n.nickname} did not reach bootstrap ${target}% in time (last: ${phase})`);
          await sleep(20);
        }
      };
      await waitProgress(75, deadline);
      const client: TorClient = {
        socksPort: n.socksPort!,
        control: ctl,
        waitBootstrapped: (timeoutMs: number) => waitProgress(100, Date.now() + timeoutMs),
        async stop() {
          ctl.close();
          if (n.process) await stopProcess(n.process);
          nodes.splice(nodes.indexOf(n), 1);
          clients.splice(clients.indexOf(client), 1);
        },
      };
      clients.push(client);
      return client;
    } catch (e) {
      control?.close();
      throw e;
    }
  };

  try {
    const deadline = Date.now() + opts.bootstrapTimeoutMs;
    // The authority and relays first; the client once the consensus lists every relay with
    // the flags a 3-hop exit path needs (as our network starts its proxy after its relays).
    for (const n of nodes) if (n.role !== "client") spawnNode(n);
    const relays = nodes.filter((n) => n.role !== "client").length;
    let lastCount = -1;
    for (;;) {
      checkAlive();
      const c = await fetchConsensus(auth.dirPort!).catch(() => undefined);
      const count = c ? consensusReady(c) : 0;
      if (count !== lastCount) {
        log(`tor authority: consensus with ${count}/${relays} usable relays (${Math.round(performance.now() - startedAt)} ms)`);
        lastCount = count;
      }
      if (count >= relays) break;
      if (Date.now() > deadline) throw new Error(`the tor authority's consensus never listed all ${relays} relays`);
      await sleep(100);
    }
    const first = await launchClient(client, deadline);
    const dirInfoMs = performance.now() - startedAt;
    let more = 0;
    return {
      scheduler: opts.scheduler,
      nodes,
      socksPort: first.socksPort,
      control: first.control,
      dirInfoMs,
      startedAt,
      waitBootstrapped: first.waitBootstrapped,
      async startClient() {
        const [socksPort, controlPort] = await freePorts(2);
        const n = node({ nickname: `client${++more + 1}`, role: "client", orPort: 0, socksPort, controlPort });
        writeFileSync(join(n.dataDir, "torrc"), torrc(spec, n));
        try {
          return await launchClient(n, Date.now() + opts.bootstrapTimeoutMs);
        } catch (e) {
          if (n.process) await stopProcess(n.process);
          nodes.splice(nodes.indexOf(n), 1);
          throw e;
        }
      },
      pids: () =>
        nodes.flatMap((n) => (n.process?.pid !== undefined ? [{ name: n.nickname, pid: n.process.pid }] : [])),
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
