/**
 * MeowOnion conformance runner.
 *
 *   npm run conformance -- [--directory URL --directory-key KEY] [--relay HOST:PORT --relay-identity KEY ...]
 *                          [--proxy SOCKSHOST:PORT] [--control URL] [--launch 'COMMAND'] [--features FILE]
 *                          [--known-failures FILE] [--junit FILE] [--run GLOB] [--skip GLOB]
 *                          [--timeout-scale X] [--verbose] [--list]
 *
 * With no target it starts MeowOnion's own network (directory, 4 relays, proxy) through the CLI
 * and tests it. See conformance/README.md.
 */
import { writeFileSync } from "node:fs";
import { allTests } from "./tests/index.js";
import {
  type Feature,
  Failure,
  Skip,
  type SuiteSummary,
  type TestCase,
  type TestContext,
  type TestResult,
  closingLine,
  globMatch,
  junit,
  summarize,
  table,
} from "./framework.js";
import { killAllSync, spawnGroup, stopAll } from "./lib/process.js";
import { startOurs, REPO_ROOT } from "./ours.js";
import { Target, applyLaunchLine, loadFeatures, loadKnownFailures, parseHostPort, parseKey, setFeature } from "./target.js";

export interface RunOptions {
  directory?: { url: string; key: string };
  relays?: { addr: string; identity: string; onionKey?: string }[];
  proxy?: string;
  /** A ControlService base URL (the proxy's, or one of its own). */
  control?: string;
  launch?: string;
  featuresFile?: string;
  /** Features set after the file (same names and values as the features file). */
  features?: Record<string, boolean | string>;
  knownFailuresFile?: string;
  knownFailures?: string[];
  junitFile?: string;
  run?: string[];
  skip?: string[];
  timeoutScale?: number;
  verbose?: boolean;
  /** Print nothing (the self-test uses the summary). */
  quiet?: boolean;
  launchTimeoutMs?: number;
  /** Called with each result as it completes. */
  onResult?: (r: TestResult) => void;
  tests?: TestCase[];
}

export const DEFAULT_FEATURES_OURS = "conformance/features/meowonion.json";

function say(opts: RunOptions, msg: string): void {
  if (!opts.quiet) process.stdout.write(msg + "\n");
}

export async function runSuite(opts: RunOptions): Promise<SuiteSummary> {
  const t0 = Date.now();
  const target = new Target();
  const cleanups: (() => Promise<void>)[] = [];
  const unavailable: Record<string, string> = {};
  let featuresFile = opts.featuresFile;
  try {
    if (opts.launch) {
      say(opts, `launching: ${opts.launch}`);
      const proc = spawnGroup(opts.launch, { cwd: process.cwd() });
      cleanups.push(() => proc.stop());
      let lineError: Error | undefined;
      proc.onLine((l) => {
        if (opts.verbose) say(opts, `  | ${l}`);
        try {
          applyLaunchLine(target, l);
        } catch (e) {
          lineError ??= e as Error;
        }
      });
      for (const l of proc.lines) applyLaunchLine(target, l);
      await proc.waitLine(/^conformance\s+ready\b/, opts.launchTimeoutMs ?? 90_000);
      if (lineError) throw lineError;
    } else if (opts.directory || opts.relays?.length || opts.proxy || opts.control) {
      if (opts.directory) target.directory = { url: opts.directory.url.replace(/\/$/, ""), key: parseKey(opts.directory.key, "--directory-key") };
      for (const r of opts.relays ?? []) {
        const { host, port } = parseHostPort(r.addr);
        target.relays.push({ host, port, identity: parseKey(r.identity, "--relay-identity"), onionKey: r.onionKey ? parseKey(r.onionKey, "--relay-onion-key") : undefined });
      }
      if (opts.proxy) target.proxy = parseHostPort(opts.proxy);
      target.control = opts.control?.replace(/\/$/, "");
    } else {
      say(opts, "no target given: starting MeowOnion's own network (directory, 4 relays, proxy) through src/cli.ts");
      const ours = await startOurs({ log: (m) => opts.verbose && say(opts, `  ${m}`) });
      cleanups.push(() => ours.stop());
      Object.assign(target, { directory: ours.target.directory, relays: ours.target.relays, proxy: ours.target.proxy, control: ours.target.control });
      Object.assign(unavailable, ours.unavailable);
      featuresFile ??= `${REPO_ROOT}/${DEFAULT_FEATURES_OURS}`;
      if (opts.knownFailuresFile === undefined && opts.knownFailures === undefined) {
        opts = { ...opts, knownFailuresFile: `${REPO_ROOT}/conformance/known-failures/meowonion.txt` };
      }
    }
    if (featuresFile) loadFeatures(featuresFile, target.features);
    for (const [k, v] of Object.entries(opts.features ?? {})) setFeature(target.features, k, v);
    say(opts, target.describe());
    const known = [...(opts.knownFailures ?? []), ...(opts.knownFailuresFile ? loadKnownFailures(opts.knownFailuresFile) : [])];
    const results = await runTests(target, opts, known, unavailable);
    const summary = summarize(results, Date.now() - t0);
    if (opts.junitFile) writeFileSync(opts.junitFile, junit(summary));
    if (!opts.quiet) {
      say(opts, "");
      say(opts, table(summary));
      say(opts, "");
      say(opts, closingLine(summary));
    }
    return summary;
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  }
}

async function runTests(target: Target, opts: RunOptions, known: string[], unavailable: Record<string, string>): Promise<TestResult[]> {
  const tests = (opts.tests ?? allTests).filter((t) => (!opts.run?.length || opts.run.some((g) => globMatch(g, t.id))) && !opts.skip?.some((g) => globMatch(g, t.id)));
  const resources = new Map<string, { value: Promise<unknown>; dispose: (v: never) => Promise<void> | void }>();
  const scale = opts.timeoutScale ?? 1;
  const results: TestResult[] = [];
  try {
    for (const t of tests) {
      const r = await runOne(t, target, scale, resources, unavailable, opts);
      const listed = known.some((k) => globMatch(k, t.id));
      if (listed && r.outcome === "failed") r.outcome = "xfail";
      else if (listed && r.outcome === "passed") r.outcome = "xpass";
      results.push(r);
      opts.onResult?.(r);
      if (opts.verbose) say(opts, `${r.outcome.toUpperCase().padEnd(7)} ${t.id}${r.message ? `: ${r.message}` : ""}`);
    }
  } finally {
    for (const { value, dispose } of resources.values()) await value.then((v) => dispose(v as never)).catch(() => {});
  }
  return results;
}

async function runOne(
  t: TestCase,
  target: Target,
  scale: number,
  resources: Map<string, { value: Promise<unknown>; dispose: (v: never) => Promise<void> | void }>,
  unavailable: Record<string, string>,
  opts: RunOptions,
): Promise<TestResult> {
  const base = { id: t.id, clause: t.clause, level: t.level, notes: [] as string[] };
  const missing = t.requires.filter((f: Feature) => !target.has(f));
  if (missing.length) return { ...base, outcome: "skipped", ms: 0, message: `feature not declared: ${missing.join(", ")}` };
  const down = t.requires.map((f) => unavailable[f]).find(Boolean);
  if (down) return { ...base, outcome: "failed", ms: 0, message: down };
  const deferred: (() => unknown)[] = [];
  const ac = new AbortController();
  const ctx: TestContext = {
    target,
    defer: (fn) => deferred.push(fn),
    note: (m) => {
      base.notes.push(m);
      if (opts.verbose) say(opts, `    ${t.id}: ${m}`);
    },
    ms: (b) => Math.round(b * scale),
    signal: ac.signal,
    resource: <T>(name: string, make: () => Promise<T>, dispose: (v: T) => Promise<void> | void) => {
      let r = resources.get(name);
      if (!r) {
        r = { value: make(), dispose: dispose as (v: never) => Promise<void> | void };
        resources.set(name, r);
      }
      return r.value as Promise<T>;
    },
  };
  const start = Date.now();
  const timeout = Math.round((t.timeoutMs ?? 30_000) * scale);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      t.run(ctx),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Failure(`test timed out after ${timeout} ms`)), timeout);
      }),
    ]);
    return { ...base, outcome: "passed", ms: Date.now() - start };
  } catch (e) {
    if (e instanceof Skip) return { ...base, outcome: "skipped", ms: Date.now() - start, message: e.message };
    if (e instanceof Failure) return { ...base, outcome: "failed", ms: Date.now() - start, message: e.message, expected: e.expected, actual: e.actual };
    return { ...base, outcome: "failed", ms: Date.now() - start, message: `error: ${(e as Error).message ?? String(e)}` };
  } finally {
    clearTimeout(timer);
    ac.abort();
    for (const fn of deferred.reverse()) {
      try {
        await fn();
      } catch {}
    }
  }
}

function parseArgs(argv: string[]): RunOptions & { list?: boolean; help?: boolean } {
  const o: RunOptions & { list?: boolean; help?: boolean } = { relays: [], run: [], skip: [] };
  let dirUrl: string | undefined;
  let dirKey: string | undefined;
  const pendingRelays: { addr: string; identity?: string; onionKey?: string }[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    switch (a) {
      case "--directory":
        dirUrl = val();
        break;
      case "--directory-key":
        dirKey = val();
        break;
      case "--relay":
        pendingRelays.push({ addr: val() });
        break;
      case "--relay-identity": {
        const r = pendingRelays.find((p) => !p.identity);
        if (!r) throw new Error("--relay-identity without a preceding --relay");
        r.identity = val();
        break;
      }
      case "--relay-onion-key": {
        const r = [...pendingRelays].reverse().find((p) => p.identity) ?? pendingRelays[pendingRelays.length - 1];
        if (!r) throw new Error("--relay-onion-key without a preceding --relay");
        r.onionKey = val();
        break;
      }
      case "--proxy":
        o.proxy = val();
        break;
      case "--control":
        o.control = val();
        break;
      case "--launch":
        o.launch = val();
        break;
      case "--features":
        o.featuresFile = val();
        break;
      case "--known-failures":
        o.knownFailuresFile = val();
        break;
      case "--junit":
        o.junitFile = val();
        break;
      case "--run":
        o.run!.push(val());
        break;
      case "--skip":
        o.skip!.push(val());
        break;
      case "--timeout-scale":
        o.timeoutScale = Number(val());
        break;
      case "--launch-timeout":
        o.launchTimeoutMs = Number(val()) * 1000;
        break;
      case "--verbose":
      case "-v":
        o.verbose = true;
        break;
      case "--list":
        o.list = true;
        break;
      case "--help":
      case "-h":
        o.help = true;
        break;
      default:
        throw new Error(`unknown argument ${a} (see --help)`);
    }
  }
  if (dirUrl || dirKey) {
    if (!dirUrl || !dirKey) throw new Error("--directory and --directory-key go together");
    o.directory = { url: dirUrl, key: dirKey };
  }
  for (const r of pendingRelays) {
    if (!r.identity) throw new Error(`--relay ${r.addr} needs --relay-identity KEY`);
    o.relays!.push({ addr: r.addr, identity: r.identity, onionKey: r.onionKey });
  }
  return o;
}

const HELP = `usage: npm run conformance -- [options]

target (none: start MeowOnion's own network through src/cli.ts):
  --directory URL --directory-key HEX      a directory authority and its Ed25519 key
  --relay HOST:PORT --relay-identity HEX   a relay (repeatable); [--relay-onion-key HEX] if no directory
  --proxy HOST:PORT                        a SOCKS5 / HTTP CONNECT proxy
  --control URL                            a ControlService (AddOnionService for the onion/service tests)
  --launch 'COMMAND'                       start the implementation; it prints conformance lines (README)
options:
  --features FILE        what the implementation supports (JSON or "key: value" lines)
  --known-failures FILE  test ids expected to fail (a listed test that passes fails the run)
  --junit FILE           write JUnit XML
  --run GLOB / --skip GLOB   select tests by id (repeatable; * within a segment, ** across)
  --timeout-scale X      multiply every timeout (slow machines)
  --verbose              progress and launch output
  --list                 list the tests and exit
`;

async function main(): Promise<void> {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`conformance: ${(e as Error).message}\n`);
    process.exit(2);
  }
  if (opts.help) {
    process.stdout.write(HELP);
    return;
  }
  if (opts.list) {
    process.stdout.on("error", () => {});
    process.stdout.write(allTests.map((t) => `${t.id.padEnd(48)} ${t.level.padEnd(6)} ${(t.requires.join(",") || "-").padEnd(16)} ${t.title}\n${" ".repeat(49)}spec: ${t.clause}\n`).join(""));
    return;
  }
  const onSignal = (sig: NodeJS.Signals) => {
    process.stderr.write(`\nconformance: ${sig}, stopping the processes started\n`);
    void stopAll().finally(() => process.exit(130));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("exit", killAllSync);
  try {
    const s = await runSuite(opts);
    process.exitCode = s.ok ? 0 : 1;
  } catch (e) {
    process.stderr.write(`conformance: ${(e as Error).stack ?? e}\n`);
    process.stdout.write("0 passed, 1 failed\n");
    process.exitCode = 1;
  }
  await stopAll();
  // Connect clients keep HTTP/2 sessions alive; do not wait for them.
  setTimeout(() => process.exit(process.exitCode ?? 0), 50).unref();
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  await main();
}
