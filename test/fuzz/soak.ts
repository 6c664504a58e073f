/**
 * The long fuzz run (`npm run soak`, first half): every target in test/fuzz/targets for
 * SOAK_RUNS inputs (default 1,000,000) each, in child processes, SOAK_JOBS at a time (default:
 * the number of CPUs, at most 2), each watched: a worker that reports no progress for
 * SOAK_STALL_S seconds (default 120) is killed and reported as a hang. Prints a table and
 * exits non-zero if any target failed. SOAK_ONLY=a,b restricts the targets.
 *
 * Duration on the 2-core CI machine: see docs/threat-model.md ("Testing it").
 */
import { spawn } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { allTargets } from "./targets/index.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const runs = Number(process.env.SOAK_RUNS ?? 1_000_000);
const jobs = Number(process.env.SOAK_JOBS ?? Math.min(2, os.availableParallelism()));
const stallMs = Number(process.env.SOAK_STALL_S ?? 120) * 1000;
const only = process.env.SOAK_ONLY?.split(",").filter(Boolean);

interface Outcome {
  name: string;
  ok: boolean;
  runs: number;
  accepted?: number;
  typedErrors?: number;
  maxInputMs?: number;
  seconds: number;
  seed?: number;
  failure?: string;
  errorKinds?: Record<string, number>;
  knownBugs?: Record<string, number>;
}

function runWorker(name: string, shardRuns: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ["--import", "tsx", "test/fuzz/worker.ts", name, String(shardRuns)], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
      // Refusals are logged at info level by the directory: millions of lines nobody reads.
      env: { ...process.env, MEOWONION_LOG_LEVEL: process.env.MEOWONION_LOG_LEVEL ?? "silent" },
    });
    let lastProgress = Date.now();
    let done = 0;
    let seed: number | undefined;
    let result: Outcome | undefined;
    let stderr = "";
    let stalled = false;
    let buffer = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (text: string) => {
      buffer += text;
      let nl: number;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        lastProgress = Date.now();
        if (line.startsWith("progress ")) done = Number(line.slice(9));
        else if (line.startsWith("seed ")) seed = Number(line.slice(5));
        else if (line.startsWith("result ")) {
          const stats = JSON.parse(line.slice(7));
          result = {
            name,
            ok: true,
            runs: stats.runs,
            accepted: stats.accepted,
            typedErrors: stats.typedErrors,
            maxInputMs: Math.round(stats.maxInputMs * 10) / 10,
            seconds: 0,
            seed,
            errorKinds: stats.errorKinds,
            knownBugs: stats.knownBugs,
          };
        }
      }
    });
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (text: string) => {
      stderr = (stderr + text).slice(-8000);
    });
    const watchdog = setInterval(() => {
      if (Date.now() - lastProgress > stallMs) {
        stalled = true;
        child.kill("SIGKILL");
      }
    }, 1000);
    child.on("exit", (code, signal) => {
      clearInterval(watchdog);
      const seconds = Math.round((Date.now() - started) / 100) / 10;
      if (result !== undefined && code === 0) {
        resolve({ ...result, seconds });
        return;
      }
      const failure = stalled
        ? `HANG: no progress for ${stallMs / 1000} s after ${done} inputs (seed ${seed})`
        : `exit ${code ?? signal} after ~${done} inputs (seed ${seed}):\n${stderr}`;
      resolve({ name, ok: false, runs: done, seconds, seed, failure });
    });
  });
}

const targets = (await allTargets()).filter((t) => only === undefined || only.includes(t.name));
const queue = targets.flatMap((t) => {
  const shards = t.soakShards ?? 1;
  return Array.from({ length: shards }, (_, i) => ({ name: t.name, label: shards > 1 ? `${t.name}#${i + 1}` : t.name, runs: Math.ceil(runs / shards) }));
});
const outcomes: Outcome[] = [];
const started = Date.now();
process.stdout.write(`fuzz soak: ${targets.length} targets x ${runs.toLocaleString("en")} inputs, ${jobs} workers at a time\n`);
await Promise.all(
  Array.from({ length: jobs }, async () => {
    for (let job = queue.shift(); job !== undefined; job = queue.shift()) {
      const outcome = { ...(await runWorker(job.name, job.runs)), name: job.label };
      outcomes.push(outcome);
      const bugs = Object.entries(outcome.knownBugs ?? {}).map(([id, n]) => `${id} x${n}`).join(", ");
      process.stdout.write(
        `${outcome.ok ? "ok  " : "FAIL"} ${job.label.padEnd(24)} ${outcome.runs.toLocaleString("en").padStart(11)} inputs ` +
          `${String(outcome.seconds).padStart(7)} s` +
          (outcome.ok ? `  accepted ${outcome.accepted}, refused (typed) ${outcome.typedErrors}, slowest ${outcome.maxInputMs} ms` : `\n${outcome.failure}`) +
          (bugs ? `\n     known bugs hit (reported): ${bugs}` : "") +
          "\n",
      );
    }
  }),
);
const total = Math.round((Date.now() - started) / 1000);
const failed = outcomes.filter((o) => !o.ok);
const perTarget = new Map<string, number>();
for (const o of outcomes) perTarget.set(o.name.split("#")[0], (perTarget.get(o.name.split("#")[0]) ?? 0) + o.runs);
process.stdout.write(`\ninputs per target: ${[...perTarget].map(([n, r]) => `${n} ${r.toLocaleString("en")}`).join("; ")}\n`);
process.stdout.write(`fuzz soak: ${outcomes.length - failed.length} passed, ${failed.length} failed, ${total} s in all\n`);
if (process.env.SOAK_REPORT) {
  const { writeFileSync } = await import("node:fs");
  writeFileSync(process.env.SOAK_REPORT, JSON.stringify({ runs, seconds: total, outcomes }, null, 2));
}
process.exit(failed.length === 0 ? 0 : 1);
