/**
 * Time periods (rend-spec-v3 §2.2.1): blinded keys and the HSDir ring change once a period.
 * period_num = floor((minutes since the epoch - rotation offset) / period length); the offset
 * keeps periods a fixed time away from the shared random value's daily change (Tor's turn at
 * 12:00 UTC, the value at 00:00).
 */
import { MeowOnionError } from "../errors.js";

export interface TimePeriodParams {
  readonly lengthMinutes: number;
  readonly rotationOffsetMinutes: number;
}

/** Tor's: one day, turning at 12:00 UTC. A test network may shorten both. */
export const DEFAULT_TIME_PERIOD_PARAMS: TimePeriodParams = { lengthMinutes: 1440, rotationOffsetMinutes: 720 };

/** Periods of `lengthMinutes` offset by half of it, as Tor's 1440 / 720 (test networks run shorter ones). */
export function onionServicePeriodsOf(lengthMinutes: number): TimePeriodParams {
  return { lengthMinutes, rotationOffsetMinutes: Math.floor(lengthMinutes / 2) };
}

export interface TimePeriod extends TimePeriodParams {
  /** period_num. */
  readonly number: number;
}

/** What the hashes take from a period (blinding, the HSDir ring): its number and length. */
export type TimePeriodId = Pick<TimePeriod, "number" | "lengthMinutes">;

const MINUTE_MS = 60_000;

/** The period containing `nowMs` (unix milliseconds). */
export function timePeriodAt(nowMs: number, params: TimePeriodParams = DEFAULT_TIME_PERIOD_PARAMS): TimePeriod {
  checkParams(params);
  const minutes = Math.floor(nowMs / MINUTE_MS) - params.rotationOffsetMinutes;
  if (!Number.isSafeInteger(minutes) || minutes < 0) {
    throw new MeowOnionError("invalid-argument", `no time period before the first (at ${params.rotationOffsetMinutes} minutes after the epoch): ${nowMs} ms`);
  }
  return { ...params, number: Math.floor(minutes / params.lengthMinutes) };
}

/** The period after `period`: services publish for it ahead of its start. */
export function nextTimePeriod(period: TimePeriod): TimePeriod {
  return { ...period, number: period.number + 1 };
}

/** When `period` starts (inclusive) and ends (exclusive), in unix milliseconds. */
export function timePeriodBounds(period: TimePeriod): { startMs: number; endMs: number } {
  checkParams(period);
  const startMinutes = period.rotationOffsetMinutes + period.number * period.lengthMinutes;
  return { startMs: startMinutes * MINUTE_MS, endMs: (startMinutes + period.lengthMinutes) * MINUTE_MS };
}

function checkParams(params: TimePeriodParams): void {
  if (!Number.isSafeInteger(params.lengthMinutes) || params.lengthMinutes < 1) {
    throw new MeowOnionError("invalid-argument", `a time period lasts a whole number of minutes, at least 1: got ${params.lengthMinutes}`);
  }
  if (!Number.isSafeInteger(params.rotationOffsetMinutes) || params.rotationOffsetMinutes < 0) {
    throw new MeowOnionError("invalid-argument", `the rotation offset is a whole number of minutes, at least 0: got ${params.rotationOffsetMinutes}`);
  }
}
