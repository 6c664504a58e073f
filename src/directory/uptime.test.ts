import { describe, expect, it } from "vitest";
import { advance, decodeHistory, encodeHistory, runSeconds, skipDowntime, startHistory, transition, wfuPpm } from "./uptime.js";

const HOUR = 3600_000;

describe("uptime history", () => {
  it("weighs recent downtime more than old downtime (WFU decays 0.95 per 12 h)", () => {
    let h = startHistory(0);
    h = transition(h, false, 10 * HOUR);
    h = transition(h, true, 11 * HOUR);
    const early = wfuPpm(h, 100 * HOUR);
    let g = startHistory(0);
    g = transition(g, false, 98 * HOUR);
    g = transition(g, true, 99 * HOUR);
    const late = wfuPpm(g, 100 * HOUR);
    expect(early).toBeGreaterThan(late);
    expect(late).toBeGreaterThan(980_000);
    expect(late).toBeLessThan(1_000_000);
    expect(runSeconds(h, 100 * HOUR)).toBe(BigInt(89 * 3600));
  });

  it("counts the authority's downtime for nobody, and round-trips through the journal encoding", () => {
    const h = advance(startHistory(0), HOUR);
    const restored = skipDowntime(decodeHistory(encodeHistory(h)), 2 * HOUR, 50 * HOUR);
    expect(restored.running).toBe(true);
    expect(restored.runStartMs).toBe(0);
    expect(restored.asOfMs).toBe(50 * HOUR);
    expect(wfuPpm(restored, 50 * HOUR)).toBe(1_000_000);
    expect(runSeconds(restored, 50 * HOUR)).toBe(BigInt(50 * 3600));
    expect(() => decodeHistory(Buffer.alloc(3))).toThrow(RangeError);
  });
});
