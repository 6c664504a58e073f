/** The fuzz harness itself: it must catch what it exists to catch. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type FuzzTarget, runTarget } from "./harness.js";

class Typed extends Error {}

const base: Omit<FuzzTarget<number>, "run"> = {
  name: "self",
  description: "harness self-test",
  arbitrary: fc.integer({ min: 0, max: 1000 }),
  typed: (e) => e instanceof Typed,
};

describe("fuzz harness", () => {
  it("counts typed refusals and accepted inputs", async () => {
    const stats = await runTarget({ ...base, run: (n) => { if (n % 2) throw new Typed("odd"); } }, { runs: 300, seed: 1 });
    expect(stats.runs).toBe(300);
    expect(stats.accepted + stats.typedErrors).toBe(300);
    expect(stats.typedErrors).toBeGreaterThan(0);
  });

  it("fails on an untyped error, with the input shrunk", async () => {
    await expect(runTarget({ ...base, run: (n) => { if (n > 500) throw new TypeError("boom"); } }, { runs: 300, seed: 1 })).rejects.toThrow(/untyped error TypeError/);
  });

  it("fails on a slow input", async () => {
    await expect(
      runTarget({ ...base, perInputMs: 5, run: (n) => { const end = performance.now() + (n > 900 ? 20 : 0); while (performance.now() < end); } }, { runs: 300, seed: 1 }),
    ).rejects.toThrow(/took/);
  });

  it("counts known bugs without failing, and async targets work", async () => {
    const stats = await runTarget(
      { ...base, async: true, knownBug: (e) => (e instanceof RangeError ? "range" : undefined), run: async (n) => { if (n % 3 === 0) throw new RangeError("known"); } },
      { runs: 200, seed: 2 },
    );
    expect(stats.knownBugs.range).toBeGreaterThan(0);
  });
});
