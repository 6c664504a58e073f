import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULT_TIME_PERIOD_PARAMS, nextTimePeriod, timePeriodAt, timePeriodBounds } from "./time-period.js";

const vector = JSON.parse(readFileSync(new URL("../../../conformance/vectors/hs-v3.json", import.meta.url), "utf8")).key_blinding;
const invalidArgument = expect.objectContaining({ kind: "invalid-argument" });

describe("time periods", () => {
  it("C tor's vector: its time is in period 1234 of 1440 minutes, offset 720", () => {
    expect(DEFAULT_TIME_PERIOD_PARAMS).toEqual({ lengthMinutes: vector.period_length_minutes, rotationOffsetMinutes: vector.rotation_offset_minutes });
    expect(timePeriodAt(Date.parse(vector.time))).toEqual({ number: vector.period_num, lengthMinutes: 1440, rotationOffsetMinutes: 720 });
  });

  it("C tor's test_time_period: 2016-04-13 11:00 and 11:59:59 UTC are in period 16903, noon starts 16904", () => {
    expect(timePeriodAt(Date.parse("2016-04-13T11:00:00Z")).number).toBe(16903);
    expect(timePeriodAt(Date.parse("2016-04-13T11:59:59Z")).number).toBe(16903);
    expect(timePeriodAt(Date.parse("2016-04-13T12:00:00Z")).number).toBe(16904);
    expect(timePeriodBounds(nextTimePeriod(timePeriodAt(Date.parse("2016-04-13T12:00:00Z")))).startMs).toBe(Date.parse("2016-04-14T12:00:00Z"));
  });

  it("C tor's test network (10-second votes: 4-minute periods, 2-minute offset): the next period starts at 00:02, then 00:06", () => {
    const params = { lengthMinutes: 4, rotationOffsetMinutes: 2 };
    const nextStart = (iso: string) => new Date(timePeriodBounds(nextTimePeriod(timePeriodAt(Date.parse(iso), params))).startMs).toISOString();
    expect(nextStart("2016-04-13T00:00:00Z")).toBe("2016-04-13T00:02:00.000Z");
    expect(nextStart("2016-04-13T00:02:00Z")).toBe("2016-04-13T00:06:00.000Z");
  });

  it("turn at 12:00 UTC by default", () => {
    const { startMs, endMs } = timePeriodBounds(timePeriodAt(Date.parse(vector.time)));
    expect(new Date(startMs).toISOString()).toBe("1973-05-19T12:00:00.000Z");
    expect(new Date(endMs).toISOString()).toBe("1973-05-20T12:00:00.000Z");
    expect(timePeriodAt(endMs).number).toBe(vector.period_num + 1);
    expect(timePeriodAt(endMs - 1).number).toBe(vector.period_num);
  });

  it("contain the time they were computed from, for any length and offset", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 0, max: 4_000_000_000_000 }),
        (lengthMinutes, rotationOffsetMinutes, extraMs) => {
          const nowMs = rotationOffsetMinutes * 60_000 + extraMs;
          const period = timePeriodAt(nowMs, { lengthMinutes, rotationOffsetMinutes });
          const { startMs, endMs } = timePeriodBounds(period);
          expect(startMs).toBeLessThanOrEqual(nowMs);
          expect(nowMs).toBeLessThan(endMs);
          expect(endMs - startMs).toBe(lengthMinutes * 60_000);
          expect(timePeriodBounds(nextTimePeriod(period)).startMs).toBe(endMs);
        },
      ),
    );
  });

  it("a test network's short periods", () => {
    const params = { lengthMinutes: 5, rotationOffsetMinutes: 1 };
    expect(timePeriodAt(60_000, params).number).toBe(0);
    expect(timePeriodAt(6 * 60_000 - 1, params).number).toBe(0);
    expect(timePeriodAt(6 * 60_000, params)).toEqual({ number: 1, ...params });
  });

  it("refuse a time before the first period and lengths or offsets that are not whole minutes", () => {
    expect(() => timePeriodAt(720 * 60_000 - 1)).toThrow(invalidArgument);
    expect(() => timePeriodAt(-1, { lengthMinutes: 10, rotationOffsetMinutes: 0 })).toThrow(invalidArgument);
    for (const params of [
      { lengthMinutes: 0, rotationOffsetMinutes: 0 },
      { lengthMinutes: 1.5, rotationOffsetMinutes: 0 },
      { lengthMinutes: 10, rotationOffsetMinutes: -1 },
      { lengthMinutes: 10, rotationOffsetMinutes: 0.5 },
    ]) {
      expect(() => timePeriodAt(Date.now(), params)).toThrow(invalidArgument);
      expect(() => timePeriodBounds({ number: 1, ...params })).toThrow(invalidArgument);
    }
  });
});
