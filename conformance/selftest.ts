/**
 * Self-test: proves the suite catches bugs. Runs the suite against
 *   - the clean reference implementation (conformance/lib/ref via mutants/launch.ts): must pass;
 *   - MeowOnion itself (src/cli.ts, started once here): must pass (minus its known failures);
 *   - every mutant in mutants/catalog.ts, each of which must fail at least one test:
 *     faulty reference implementations (launched like any implementation, with --launch), and
 *     man-in-the-middle fronts that break one behaviour of MeowOnion's real processes.
 * Prints one line per implementation; exits non-zero unless all of that holds.
 *
 *   npm run conformance:selftest -- [--only NAME ...] [--concurrency N] [--no-ours] [--verbose]
 */
import { join } from "node:path";
import { hex } from "./lib/bytes.js";
import { closingLine, type SuiteSummary } from "./framework.js";
import { killAllSync, stopAll } from "./lib/process.js";
import { MUTANTS, type Mutant } from "./mutants/catalog.js";
import { type Front, directoryFront, socksFront, tlsTerminator } from "./mutants/mitm.js";
import { type Launched, REPO_ROOT, startOurs } from "./ours.js";
import { type ReferenceNetwork, startReference } from "./mutants/reference.js";
import { type RunOptions, runSuite } from "./run.js";

export interface SelftestLine {
  name: string;
  kind: "clean" | "mutant";
  ok: boolean;
  text: string;
  caughtBy: string[];
  /** "id: message" for each failed test (shown with --verbose). */
  details: string[];
  ms: number;
}

const LAUNCH = `${process.execPath} --import tsx ${join(REPO_ROOT, "conformance/mutants/launch.ts")}`;
const REF_FEATURES = join(REPO_ROOT, "conformance/features/reference.json");
const OUR_FEATURES = join(REPO_ROOT, "conformance/features/meowonion.json");
const OUR_KNOWN = join(REPO_ROOT, "conformance/known-failures/meowonion.txt");

function mutantLine(m: Mutant, s: SuiteSummary | Error, t0: number): SelftestLine {
  const ms = Date.now() - t0;
  if (s instanceof Error) return { name: m.name, kind: "mutant", ok: false, caughtBy: [], details: [], ms, text: `NOT CAUGHT: the run itself failed: ${s.message.split("\n")[0]}` };
  const failed = s.results.filter((r) => r.outcome === "failed");
  const caught = failed.map((r) => r.id);
  return { name: m.name, kind: "mutant", ok: caught.length > 0, caughtBy: caught, details: failed.map((r) => `${r.id}: ${r.message}`), ms, text: caught.length ? `caught by ${caught.join(", ")}` : `NOT CAUGHT (${closingLine(s)})` };
}

function cleanLine(name: string, s: SuiteSummary | Error, t0: number): SelftestLine {
  const ms = Date.now() - t0;
  if (s instanceof Error) return { name, kind: "clean", ok: false, caughtBy: [], details: [], ms, text: `did not run: ${s.message.split("\n")[0]}` };
  const failed = s.results.filter((r) => r.outcome === "failed" || r.outcome === "xpass");
  return {
    name,
    kind: "clean",
    ok: s.ok,
    caughtBy: failed.map((r) => r.id),
    details: failed.map((r) => `${r.id}: ${r.message}`),
    ms,
    text: s.ok ? `passes: ${closingLine(s)}` : `FAILS: ${closingLine(s)}: ${failed.map((r) => `${r.id} (${r.outcome === "xpass" ? "passed but listed as a known failure" : r.message})`).join("; ")}`,
  };
}

/** Explicit-target options for the network started by startOurs. */
function oursTarget(n: Launched): RunOptions {
  const t = n.target;
  return {
    directory: t.directory ? { url: t.directory.url, key: hex(t.directory.key) } : undefined,
    relays: t.relays.map((r) => ({ addr: `${r.host}:${r.port}`, identity: hex(r.identity) })),
    proxy: t.proxy ? `${t.proxy.host}:${t.proxy.port}` : undefined,
    control: t.control,
    featuresFile: OUR_FEATURES,
  };
}

async function front(m: Mutant, base: RunOptions): Promise<{ opts: RunOptions; f: Front }> {
  const opts: RunOptions = { ...base, relays: base.relays?.map((r) => ({ ...r })) };
  let f: Front;
  switch (m.front!) {
    case "relay-tls-terminator": {
      const r0 = opts.relays![0];
      const [host, port] = [r0.addr.slice(0, r0.addr.lastIndexOf(":")), Number(r0.addr.slice(r0.addr.lastIndexOf(":") + 1))];
      f = await tlsTerminator({ host, port });
      r0.addr = `${f.host}:${f.port}`;
      break;
    }
    case "proxy-bind-success":
    case "proxy-corrupt-data": {
      const [host, port] = base.proxy!.split(":");
      f = await socksFront({ host, port: Number(port) }, m.front === "proxy-bind-success" ? "bind-success" : "corrupt-data");
      opts.proxy = `${f.host}:${f.port}`;
      break;
    }
    case "dir-resign-consensus":
    case "dir-accept-replayed-heartbeat":
      f = await directoryFront(base.directory!.url, m.front === "dir-resign-consensus" ? "resign-consensus" : "accept-replayed-heartbeat");
      opts.directory = { ...base.directory!, url: f.url };
      break;
  }
  return { opts, f };
}

export async function selftest(opts: { only?: string[]; concurrency?: number; ours?: boolean; onLine?: (l: SelftestLine) => void } = {}): Promise<{ ok: boolean; lines: SelftestLine[] }> {
  const lines: SelftestLine[] = [];
  const emit = (l: SelftestLine) => {
    lines.push(l);
    opts.onLine?.(l);
  };
  const only = opts.only?.length ? opts.only : undefined;
  const want = (name: string) => !only || only.includes(name);

  // Pool A: the reference implementation, clean and with each fault, launched as child processes.
  const refJobs: (() => Promise<void>)[] = [];
  if (want("reference")) {
    refJobs.push(async () => {
      const t0 = Date.now();
      const s = await runSuite({ launch: LAUNCH, featuresFile: REF_FEATURES, quiet: true, knownFailures: [] }).catch((e: Error) => e);
      emit(cleanLine("reference (clean)", s, t0));
    });
  }
  // The faulty references run in this process (no launch cost); the clean one above goes through --launch.
  for (const m of MUTANTS.filter((m) => !m.front && want(m.name))) {
    refJobs.push(async () => {
      const t0 = Date.now();
      let net: ReferenceNetwork | undefined;
      let s: SuiteSummary | Error;
      try {
        net = await startReference(m);
        s = await runSuite({
          directory: { url: net.directory.url, key: hex(net.directory.key.publicKey) },
          relays: net.relays.map((r) => ({ addr: `${r.host}:${r.port}`, identity: hex(r.identity.publicKey), onionKey: hex(r.onionKey.publicKey) })),
          control: net.onionHost.url,
          featuresFile: REF_FEATURES,
          features: { vectorCheck: net.vectorCheck },
          run: m.focus,
          quiet: true,
          knownFailures: [],
        });
      } catch (e) {
        s = e as Error;
      } finally {
        await net?.stop();
      }
      emit(mutantLine(m, s, t0));
    });
  }

  // Pool B (sequential, one network): MeowOnion clean, then the fronts before its processes.
  const fronts = MUTANTS.filter((m) => m.front && want(m.name));
  const oursJob = async () => {
    if (!(opts.ours ?? true) || (!want("meowonion") && !fronts.length)) return;
    const t0 = Date.now();
    let net: Launched;
    try {
      net = await startOurs({});
    } catch (e) {
      if (want("meowonion")) emit(cleanLine("meowonion (clean)", e as Error, t0));
      for (const m of fronts) emit(mutantLine(m, new Error(`MeowOnion did not start: ${(e as Error).message}`), t0));
      return;
    }
    try {
      const base = oursTarget(net);
      if (want("meowonion")) {
        const unavailable = Object.values(net.unavailable);
        const s = unavailable.length ? new Error(unavailable.join("; ")) : await runSuite({ ...base, knownFailuresFile: OUR_KNOWN, quiet: true }).catch((e: Error) => e);
        emit(cleanLine("meowonion (clean)", s, t0));
      }
      for (const m of fronts) {
        const t1 = Date.now();
        let f: Front | undefined;
        try {
          const fr = await front(m, base);
          f = fr.f;
          const s = await runSuite({ ...fr.opts, run: m.focus, quiet: true, knownFailures: [] }).catch((e: Error) => e);
          emit(mutantLine(m, s, t1));
        } catch (e) {
          emit(mutantLine(m, e as Error, t1));
        } finally {
          await f?.stop();
        }
      }
    } finally {
      await net.stop();
    }
  };

  let next = 0;
  const worker = async () => {
    while (next < refJobs.length) await refJobs[next++]();
  };
  await Promise.all([oursJob(), ...Array.from({ length: Math.max(1, opts.concurrency ?? 3) }, worker)]);
  return { ok: lines.length > 0 && lines.every((l) => l.ok), lines };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const only: string[] = [];
  let concurrency = 3;
  let ours = true;
  let verbose = false;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--only") only.push(args[++i]);
    else if (args[i] === "--concurrency") concurrency = Number(args[++i]);
    else if (args[i] === "--no-ours") ours = false;
    else if (args[i] === "--verbose") verbose = true;
    else {
      process.stderr.write(`selftest: unknown argument ${args[i]}\n`);
      process.exit(2);
    }
  }
  process.on("exit", killAllSync);
  const onSignal = () => void stopAll().finally(() => process.exit(130));
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const t0 = Date.now();
  process.stdout.write(`conformance self-test: clean implementations must pass, each of ${MUTANTS.length} mutants must be caught\n`);
  const w = Math.max(...MUTANTS.map((m) => m.name.length), 30);
  const res = await selftest({
    only,
    concurrency,
    ours,
    onLine: (l) => {
      process.stdout.write(`${l.ok ? "ok  " : "FAIL"}  ${l.name.padEnd(w)}  ${l.text}  [${(l.ms / 1000).toFixed(1)}s]\n`);
      if (verbose) for (const d of l.details) process.stdout.write(`        ${d}\n`);
    },
  });
  const mutants = res.lines.filter((l) => l.kind === "mutant");
  const clean = res.lines.filter((l) => l.kind === "clean");
  process.stdout.write(
    `\n${mutants.filter((l) => l.ok).length} of ${mutants.length} mutants caught; ${clean.filter((l) => l.ok).length} of ${clean.length} clean implementations pass; ${((Date.now() - t0) / 1000).toFixed(0)} s\n`,
  );
  const passed = res.lines.filter((l) => l.ok).length;
  process.stdout.write(`${passed} passed, ${res.lines.length - passed} failed\n`);
  await stopAll();
  process.exitCode = res.ok ? 0 : 1;
  setTimeout(() => process.exit(process.exitCode ?? 0), 50).unref();
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  await main();
}
