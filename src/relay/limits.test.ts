import { describe, expect, it } from "vitest";
import { DEFAULT_LIMITS, RateLimiter, oomVictims } from "./limits.js";

describe("RateLimiter", () => {
  it("allows a burst, then the refill rate, per key", () => {
    const limiter = new RateLimiter(3, 90);
    const t0 = 1_000_000;
    for (let i = 0; i < 90; i++) expect(limiter.take("10.0.0.1", t0)).toBe(true);
    expect(limiter.take("10.0.0.1", t0)).toBe(false);
    expect(limiter.take("10.0.0.2", t0)).toBe(true); // other addresses have their own bucket
    expect(limiter.take("10.0.0.1", t0 + 1000)).toBe(true); // 3 per second come back
    expect(limiter.take("10.0.0.1", t0 + 1000)).toBe(true);
    expect(limiter.take("10.0.0.1", t0 + 1000)).toBe(true);
    expect(limiter.take("10.0.0.1", t0 + 1000)).toBe(false);
    expect(limiter.take("10.0.0.1", t0 + 1_000_000)).toBe(true); // never more than the burst
  });

  it("defaults to Tor's 3 per second with a burst of 90", () => {
    expect([DEFAULT_LIMITS.createRatePerSecond, DEFAULT_LIMITS.createBurst]).toEqual([3, 90]);
  });
});

describe("oomVictims", () => {
  const c = (name: string, oldestQueuedAt: number, queuedBytes: number) => ({ name, oldestQueuedAt, queuedBytes });

  it("frees the circuits with the oldest queued data first until under the target", () => {
    const circuits = [c("new", 300, 50), c("old", 100, 30), c("none", 0, 0), c("mid", 200, 40)];
    expect(oomVictims(circuits, 120, 100).map((v) => v.name)).toEqual(["old"]);
    expect(oomVictims(circuits, 120, 60).map((v) => v.name)).toEqual(["old", "mid"]);
    expect(oomVictims(circuits, 120, 0).map((v) => v.name)).toEqual(["old", "mid", "new"]);
    expect(oomVictims(circuits, 90, 100)).toEqual([]);
  });
});
