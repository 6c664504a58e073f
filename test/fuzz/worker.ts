/**
 * One soak worker: `node --import tsx test/fuzz/worker.ts <target> <runs> [seed]`.
 * Prints `progress <n>` lines (the parent's watchdog kills a worker that stops printing: a
 * hang) and finally `result <json stats>`; exits 1 with the failure on stderr.
 */
import { runTarget } from "./harness.js";
import { allTargets } from "./targets/index.js";

const [name, runsText, seedText] = process.argv.slice(2);
const target = (await allTargets()).find((t) => t.name === name);
if (target === undefined) {
  process.stderr.write(`unknown fuzz target ${name}\n`);
  process.exit(2);
}
const runs = Number(runsText ?? 1_000_000);
const seed = seedText === undefined ? Date.now() ^ process.pid : Number(seedText);
process.stdout.write(`seed ${seed}\n`);
try {
  const stats = await runTarget(target, {
    runs,
    seed,
    progressEvery: Math.max(1000, Math.floor(runs / 100)),
    onProgress: (n) => process.stdout.write(`progress ${n}\n`),
  });
  process.stdout.write(`result ${JSON.stringify({ ...stats, seed })}\n`);
  process.exit(0);
} catch (error) {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
}
