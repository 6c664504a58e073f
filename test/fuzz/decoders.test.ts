/**
 * Short fuzz pass for `npm test`: every decoder target for FUZZ_RUNS inputs (default 2,000;
 * expensive targets capped lower). The same targets run for 1,000,000 inputs each in
 * `npm run soak` (test/fuzz/soak.ts). A failure prints fast-check's seed and shrunk input:
 * reproduce with FUZZ_SEED=<seed> npx vitest run test/fuzz.
 */
import { describe, expect, it } from "vitest";
import { runTarget } from "./harness.js";
import { allTargets } from "./targets/index.js";

const runs = Number(process.env.FUZZ_RUNS ?? 2000);
const seed = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
const targets = await allTargets();

describe("fuzz (short pass)", () => {
  for (const target of targets) {
    it(`${target.name}: ${target.description}`, async () => {
      const n = Math.min(runs, target.shortRunsCap ?? runs);
      const stats = await runTarget(target, { runs: n, seed });
      expect(stats.runs).toBeGreaterThanOrEqual(n);
    }, 120_000);
  }
});
