/**
 * `npm run bench:compare [-- --json FILE] [--runs N] [--quick]`
 *
 * MeowOnion side by side with the real Tor daemon, in one run on this machine: a private Tor
 * test network on 127.0.0.1 (defaults, i.e. the KIST scheduler, and `Schedulers Vanilla`), a
 * MeowOnion network of the same shape and the Node.js TLS floor (./compare/floor.ts), what
 * Node.js itself costs to carry the same workloads through that shape; the same workloads
 * through each one's SOCKS port with one Node client, the networks taking turns run by run;
 * and an onion service on each network, reached through fresh clients (./compare/onion-service.ts).
 * Without `tor` it runs scripts/ensure-tor.sh (Debian's tor package, as root); if that cannot
 * install it, it says how to get it and exits 2. Everything it starts is stopped by PID at the
 * end (also on failure or Ctrl-C) and its temporary directory removed.
 * See docs/bench-compare.md.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, hostname, loadavg, release, tmpdir, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { killAllSync, refuseNewProcesses, stopAll } from "./compare/procs.js";
import { bulkCpuLines, compare, jsonReport, markdownTable, nodeMemoryLines, summarizeSide, type SideResult } from "./compare/report.js";
import { summarizeProfiles, type ProfileSummary } from "./compare/profile.js";
import { FULL, QUICK, runWorkloads, type Params, type Role, type RunOutput } from "./compare/run.js";
import { startServers, type BenchServers } from "./compare/servers.js";
import { oursMissing, startOurs, torTarget, type NetworkUnderTest } from "./compare/targets.js";
import { floorOnly, floorRole, startFloor } from "./compare/floor.js";
import { findBinary, startTorNetwork, torVersion } from "./compare/tor-net.js";
import type { TorScheduler } from "./compare/torrc.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** Relays in our network (see the comment where it starts). */
const OUR_RELAYS = 4;

const USAGE = `Usage: npm run bench:compare [-- options]

  --runs N        runs per network (default ${FULL.runs}; --quick: ${QUICK.runs})
  --quick         a smoke run: fewer and smaller workloads (about 2 minutes)
  --json FILE     also write the results as JSON
  --only WHAT     tor | tor-default | tor-vanilla | ours | floor (default: all)
                  floor: the Node.js TLS floor, our shape forwarding bytes only (no onion)
  --idle-circuits N  idle circuits at one relay for memory per circuit, first run of each
                  network only (default ${FULL.idleCircuits}; --quick: ${QUICK.idleCircuits}; 0: skip)
  --warmup N      back-to-back round trips (and ${FULL.warmupCircuits} circuits and ${FULL.warmupBulkBytes / 1e6} MB of bulk; --quick:
                  ${QUICK.warmupRoundTrips}, ${QUICK.warmupCircuits} and ${QUICK.warmupBulkBytes / 1e6} MB) run untimed on every network before the
                  workloads, and ${FULL.onionWarmupBytes / 1e6} MB (--quick: ${QUICK.onionWarmupBytes / 1e6}) through the onion service before its bulk
                  (default ${FULL.warmupRoundTrips}; 0: no warm-up, first-use figures)
  --onion-connects N  fresh clients connecting to each network's onion service, one
                  new client process each (default ${FULL.onionConnects}; --quick: ${QUICK.onionConnects}; 0: skip the onion service)
  --profile DIR   write V8 CPU profiles of our network's processes to DIR and summarize them
  --verbose       log tor's bootstrap and each step
  -h, --help
`;

/** A network under test, started afresh for each of its runs. */
interface Contender {
  /** Names its runs' data directories and isolation tags. */
  name: string;
  label: string;
  side: SideResult;
  /** Start the network (setting `current`, which the caller stops) and run the workloads. */
  runOnce(dataDir: string, params: Params, tag: string): Promise<RunOutput>;
}

function emptySide(): SideResult {
  return { available: true, runs: [], nodesPeakRssMb: {}, bulkCpuCores: {}, errors: [], notes: [] };
}

function torRole(name: string): Role {
  if (name === "client") return "client";
  if (name === "auth") return "authority";
  return "relay";
}

function ourRole(name: string): Role {
  if (name.startsWith("relay")) return "relay";
  if (name === "proxy") return "client";
  if (name === "authority") return "authority";
  return "other";
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      runs: { type: "string" },
      "idle-circuits": { type: "string" },
      warmup: { type: "string" },
      "onion-connects": { type: "string" },
      quick: { type: "boolean", default: false },
      json: { type: "string" },
      only: { type: "string" },
      verbose: { type: "boolean", default: false },
      profile: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const params: Params = { ...(values.quick ? QUICK : FULL) };
  if (values.runs !== undefined) {
    const n = Number(values.runs);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--runs wants a positive whole number, got '${values.runs}'`);
    params.runs = n;
  }
  if (values["idle-circuits"] !== undefined) {
    const n = Number(values["idle-circuits"]);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--idle-circuits wants a whole number, got '${values["idle-circuits"]}'`);
    params.idleCircuits = n;
  }
  if (values.warmup !== undefined) {
    const n = Number(values.warmup);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--warmup wants a whole number, got '${values.warmup}'`);
    params.warmupRoundTrips = n;
    if (n === 0) {
      params.warmupCircuits = 0;
      params.warmupBulkBytes = 0;
      params.onionWarmupBytes = 0;
    }
  }
  if (values["onion-connects"] !== undefined) {
    const n = Number(values["onion-connects"]);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--onion-connects wants a whole number, got '${values["onion-connects"]}'`);
    params.onionConnects = n;
  }
  const only = values.only ?? "all";
  if (!["all", "tor", "tor-default", "tor-vanilla", "ours", "floor"].includes(only)) throw new Error(`--only: unknown '${only}'`);
  const wantTor = (s: TorScheduler) => only === "all" || only === "tor" || only === `tor-${s}`;
  const wantOurs = only === "all" || only === "ours";
  const wantFloor = only === "all" || only === "floor";

  const say = (msg: string) => process.stderr.write(`${msg}\n`);
  const verbose = values.verbose ? say : () => {};

  // MEOWONION_BENCH_TOR / MEOWONION_BENCH_TOR_GENCERT: use another tor build than PATH's.
  const fromEnv = (name: string, bin: string) => {
    const v = process.env[name];
    return v === undefined ? findBinary(bin) : existsSync(v) ? v : undefined;
  };
  const needTor = wantTor("default") || wantTor("vanilla");
  let tor = fromEnv("MEOWONION_BENCH_TOR", "tor");
  let gencert = fromEnv("MEOWONION_BENCH_TOR_GENCERT", "tor-gencert");
  if (needTor && (!tor || !gencert) && process.env.MEOWONION_BENCH_TOR === undefined) {
    // Debian's tor package, installed by the project's script (as root; it says why not otherwise).
    say("bench:compare: tor is not installed; running scripts/ensure-tor.sh…");
    if (spawnSync("bash", [join(ROOT, "scripts", "ensure-tor.sh")], { stdio: "inherit" }).status === 0) {
      tor = fromEnv("MEOWONION_BENCH_TOR", "tor");
      gencert = fromEnv("MEOWONION_BENCH_TOR_GENCERT", "tor-gencert");
    }
  }
  if (needTor && (!tor || !gencert)) {
    say(
      [
        "bench:compare needs the real Tor daemon to compare against, and it is not installed",
        `(${!tor ? "no 'tor'" : "no 'tor-gencert'"} on PATH or in /usr/sbin), and scripts/ensure-tor.sh could not install it. To install it:`,
        "",
        "  sudo bash scripts/ensure-tor.sh  # Debian/Ubuntu: apt-get install tor (tor and tor-gencert)",
        "",
        "The benchmark never touches the public Tor network: it starts a private test network on",
        "127.0.0.1 with its own authority. (If apt also started a system tor service, you may",
        "stop it: sudo systemctl disable --now tor)",
      ].join("\n"),
    );
    return 2;
  }

  const tmp = mkdtempSync(join(tmpdir(), "meowonion-bench-compare-"));
  let servers: BenchServers | undefined;
  let current: NetworkUnderTest | undefined;
  let cleaned = false;
  const cleanup = async (): Promise<void> => {
    if (cleaned) return;
    cleaned = true;
    await current?.stop().catch(() => undefined);
    await stopAll();
    await servers?.close().catch(() => undefined);
    rmSync(tmp, { recursive: true, force: true });
  };
  process.on("exit", () => {
    killAllSync();
    try {
      rmSync(tmp, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  });
  let interrupted = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted) process.exit(130);
    interrupted = true;
    refuseNewProcesses();
    say(`\n${sig}: stopping everything this benchmark started…`);
    void cleanup().finally(() => process.exit(sig === "SIGINT" ? 130 : 143));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("SIGHUP", onSignal);

  const t0 = Date.now();
  const loadStart = loadavg()[0]!;
  const sides: Record<"tor_default" | "tor_vanilla" | "ours" | "node_floor", SideResult> = {
    tor_default: emptySide(),
    tor_vanilla: emptySide(),
    ours: emptySide(),
    node_floor: emptySide(),
  };
  let oursShape = "";
  const profileDir = values.profile ? resolve(values.profile) : undefined;
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  const oursPids: Record<number, string> = {};
  try {
    servers = await startServers();
    const dst = { httpPort: servers.httpPort, echoPort: servers.echoPort };
    say(
      `bench:compare: ${params.runs} run(s) per network; bulk ${params.bulkBytes / 1e6} MB, ` +
        `${params.concurrentStreams}×${params.concurrentBytes / 1e6} MB concurrent; servers http=${dst.httpPort} echo=${dst.echoPort}`,
    );

    const record = (side: SideResult, out: RunOutput) => {
      side.runs.push(out.values);
      side.errors.push(...out.errors);
      side.notes.push(...out.notes);
      for (const [k, mb] of Object.entries(out.nodesPeakRssMb)) (side.nodesPeakRssMb[k] ??= []).push(mb);
      for (const [k, c] of Object.entries(out.bulkCpuCores)) (side.bulkCpuCores[k] ??= []).push(c);
    };
    const runFailed = (side: SideResult, run: number, e: unknown) => {
      const msg = e instanceof Error ? e.message : String(e);
      side.runs.push({}); // keeps run i in round i
      side.errors.push(`run ${run}: ${msg}`);
      say(`  run ${run} failed: ${msg}`);
    };
    const unavailable = (side: SideResult, reason: string) => {
      side.available = false;
      side.reason = reason;
    };
    /** After a network's runs: unavailable if none completed. */
    const settle = (side: SideResult) => {
      if (side.runs.every((run) => Object.keys(run).length === 0)) unavailable(side, side.errors[0] ?? "no run completed");
    };

    // One entry per network under test. Runs are interleaved (run 1 of each network, then
    // run 2 of each…) so that the machine's own drift, up to 1.5x within an hour here, falls
    // on every network alike instead of on whichever ran during a slow stretch.
    const contenders: Contender[] = [];
    for (const scheduler of ["default", "vanilla"] as const) {
      const side = scheduler === "default" ? sides.tor_default : sides.tor_vanilla;
      if (!wantTor(scheduler)) {
        unavailable(side, "not run (--only)");
        continue;
      }
      side.notes.push(
        `tor ${torVersion(tor!)}: authority (also a relay), 2 middle relays, 1 exit (loopback only), 1 client` +
          (params.onionConnects > 0 ? " (also the onion service, ADD_ONION), 1 more client process per onion-service connect" : ""),
      );
      contenders.push({
        name: `tor-${scheduler}`,
        label: `Tor (${scheduler === "default" ? "defaults, KIST" : "Schedulers Vanilla"})`,
        side,
        async runOnce(dataDir, runParams, tag) {
          const net = await startTorNetwork({
            tor: tor!,
            gencert: gencert!,
            dir: dataDir,
            scheduler,
            middles: 2,
            bootstrapTimeoutMs: params.readyTimeoutMs,
            exitPorts: [dst.httpPort, dst.echoPort],
            log: verbose,
          });
          current = torTarget(net);
          return runWorkloads(current, dst, runParams, tag, torRole, say, () => net.waitBootstrapped(30_000));
        },
      });
    }

    const missing = wantOurs ? oursMissing(ROOT) : undefined;
    if (!wantOurs) {
      unavailable(sides.ours, "not run (--only)");
    } else if (missing) {
      unavailable(sides.ours, `MeowOnion network unavailable: ${missing}`);
      say(`MeowOnion network unavailable: ${missing}`);
    } else {
      // Same shape as Tor's: 4 relays (Tor's authority is one of its 4), one exit. `network`
      // may insist on two exits; then use two (a 3-hop circuit still crosses exactly three
      // relays). Four relays is also what a service's rendezvous circuit needs: 3 hops and
      // the rendezvous point, all distinct.
      let exits = 1;
      contenders.push({
        name: "ours",
        label: "MeowOnion",
        side: sides.ours,
        async runOnce(dataDir, runParams, tag) {
          const start = (n: number) =>
            startOurs({ root: ROOT, relays: OUR_RELAYS, exits: n, readyTimeoutMs: params.readyTimeoutMs, profileDir, dataDir, log: verbose });
          let net;
          try {
            net = await start(exits);
          } catch (e) {
            if (exits !== 1 || !/exits.*at least 2/.test(String(e))) throw e;
            exits = 2;
            net = await start(exits);
          }
          oursShape =
            `1 authority, ${OUR_RELAYS} relays (${exits} exit${exits > 1 ? "s" : ""}), 1 proxy, each its own process (--processes)` +
            (params.onionConnects > 0 ? "; the proxy also runs the onion service (AddOnionService), 1 more proxy process per onion-service connect" : "");
          current = net;
          const out = await runWorkloads(net, dst, runParams, tag, ourRole, say);
          Object.assign(oursPids, out.pids);
          return out;
        },
      });
    }

    if (wantFloor) {
      sides.node_floor.notes.push("4 node processes (SOCKS entry, 2 relays, exit) forwarding bytes over 3 TLS 1.3 links, one chain per stream; builds: 3 ntor handshakes over links kept open, nothing else");
      contenders.push({
        name: "floor",
        label: "Node.js TLS floor",
        side: sides.node_floor,
        async runOnce(_dataDir, runParams, tag) {
          current = await startFloor({ root: ROOT, readyTimeoutMs: params.readyTimeoutMs });
          return floorOnly(await runWorkloads(current, dst, { ...runParams, idleCircuits: 0 }, tag, floorRole, say));
        },
      });
    } else {
      unavailable(sides.node_floor, "not run (--only)");
    }

    for (let run = 1; run <= params.runs && !interrupted; run++) {
      for (const contender of contenders) {
        if (interrupted) break;
        say(`${contender.label} run ${run}/${params.runs}: starting…`);
        const dataDir = join(tmp, `${contender.name}-${run}`);
        try {
          const runParams = { ...params, idleCircuits: run === 1 ? params.idleCircuits : 0 };
          record(contender.side, await contender.runOnce(dataDir, runParams, `${contender.name}-${run}`));
        } catch (e) {
          runFailed(contender.side, run, e);
        } finally {
          await current?.stop().catch(() => undefined);
          current = undefined;
          rmSync(dataDir, { recursive: true, force: true });
        }
      }
    }
    for (const contender of contenders) settle(contender.side);
    if (oursShape) sides.ours.notes.push(oursShape);
  } finally {
    await cleanup();
  }

  const c = compare(summarizeSide(sides.ours), summarizeSide(sides.tor_default), summarizeSide(sides.tor_vanilla), summarizeSide(sides.node_floor), {
    ours: sides.ours.runs,
    torDefault: sides.tor_default.runs,
    torVanilla: sides.tor_vanilla.runs,
  });
  const date = new Date().toISOString();
  const machine = {
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    memory_gb: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    tor: tor ? torVersion(tor) : "not installed",
    host: hostname(),
    // 1-minute load average when the run started and ended: other work on the machine skews
    // every figure (all networks share the same cores).
    load_avg_start: Math.round(loadStart * 100) / 100,
    load_avg_end: Math.round(loadavg()[0]! * 100) / 100,
  };
  const lines = [
    `## MeowOnion vs Tor, ${date.slice(0, 10)}`,
    "",
    `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memory_gb} GB, Linux ${machine.kernel}, Node ${machine.node}, tor ${machine.tor}; ` +
      `load average ${machine.load_avg_start} at the start, ${machine.load_avg_end} at the end. ` +
      `${params.runs} run(s) per network, the networks taking turns (round i: run i of each), median (min–max); bold: Tor's better configuration, which the ratio uses ` +
      "(ratio of the medians, and in brackets its range over the rounds). " +
      (params.warmupRoundTrips > 0 || params.warmupCircuits > 0 || params.warmupBulkBytes > 0
        ? `Every network was warmed up alike before the timed workloads (${params.warmupRoundTrips} round trips, ${params.warmupCircuits} circuits, ${params.warmupBulkBytes / 1e6} MB over one stream and then ${params.concurrentStreams}).`
        : "No warm-up: first-use figures."),
    "",
    markdownTable(c),
    "",
  ];
  for (const [name, s] of Object.entries(sides)) {
    if (!s.available) lines.push(`- ${name}: unavailable — ${s.reason}`);
    for (const n of s.notes) lines.push(`- ${name}: ${n}`);
    for (const e of s.errors) lines.push(`- ${name} error: ${e}`);
  }
  lines.push(`- total time ${Math.round((Date.now() - t0) / 1000)} s`);
  lines.push("", nodeMemoryLines(sides), "", bulkCpuLines(sides));
  let profiles: ProfileSummary[] | undefined;
  if (profileDir) {
    profiles = summarizeProfiles(profileDir, 8, ROOT);
    lines.push("", `### Where our processes spent their CPU (\`--profile ${values.profile}\`, self time)`, "");
    for (const p of profiles) {
      const name = oursPids[p.pid] ?? `pid ${p.pid} (gone before the end of its run)`;
      lines.push(`- **${name}** (${Math.round(p.totalMs / 1000)} s profiled, ${Math.round(p.busyShare * 100)}% busy; share of busy time): ` +
        p.top.map((f) => `${f.name} ${(f.share * 100).toFixed(1)}%`).join("; "));
    }
  }
  process.stdout.write(lines.join("\n") + "\n");
  if (values.json) {
    const report = jsonReport(c, {
      machine,
      date,
      params: { ...params, quick: values.quick, ours_shape: oursShape },
      sides,
    });
    if (profiles) (report.ours as Record<string, unknown>).profile = profiles.map((p) => ({ ...p, name: oursPids[p.pid] }));
    writeFileSync(values.json, JSON.stringify(report, null, 2) + "\n");
    say(`wrote ${values.json}`);
  }
  const anyFailed = Object.values(sides).some((s) => s.errors.length > 0);
  return anyFailed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  async (e: unknown) => {
    process.stderr.write(`bench:compare: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    await stopAll().catch(() => undefined);
    process.exit(1);
  },
);
