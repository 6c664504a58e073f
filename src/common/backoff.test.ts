import { describe, expect, it } from "vitest";
import { Backoff } from "./backoff.js";

describe("Backoff", () => {
  it("doubles from the initial wait up to the cap, with ±25 % jitter, and starts over after a success", () => {
    const low = new Backoff({ initialMs: 100, maxMs: 1_000, random: () => 0 });
    expect([1, 2, 3, 4, 5].map(() => low.fail())).toEqual([75, 150, 300, 600, 750]);
    expect(low.failures).toBe(5);
    low.reset();
    expect(low.fail()).toBe(75);
    const high = new Backoff({ initialMs: 100, maxMs: 1_000, random: () => 0.999_999 });
    expect(high.fail()).toBeCloseTo(125, 3);
  });
});
