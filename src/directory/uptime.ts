/**
 * A relay's uptime history as one authority sees it (Tor's rephist, simplified): the start of
 * its current run of continuous Running, and its weighted fractional uptime (WFU), the share
 * of the time since the authority first saw it Running that it was Running, older time
 * weighing less (a factor 0.95 per 12 hours, as Tor). Kept in the authority's journal, so a
 * restart of the authority neither ends the runs of relays that stayed up nor forgets their
 * WFU: Stable and Guard survive it. The authority's own downtime counts for nobody.
 */

/** Tor's WFU decay: every 12 hours, weights so far are multiplied by 0.95. */
export const WFU_DECAY_PER_MS = Math.log(0.95) / (12 * 3600 * 1000);
/** Guard needs this WFU (Tor's 98 %), in millionths. */
export const GUARD_MIN_WFU_PPM = 980_000;

export interface UptimeHistory {
  /** Whether the relay was Running as of `asOfMs`. */
  running: boolean;
  /** When the current run started (meaningful while running). */
  runStartMs: number;
  /** The time up to which the weights below are accounted. */
  asOfMs: number;
  /** Decayed milliseconds Running, and decayed milliseconds observed. */
  weightedUpMs: number;
  weightedTotalMs: number;
}

/** A relay first seen Running at `nowMs`. */
export function startHistory(nowMs: number): UptimeHistory {
  return { running: true, runStartMs: nowMs, asOfMs: nowMs, weightedUpMs: 0, weightedTotalMs: 0 };
}

/** The history accounted up to `nowMs`, in its current state (never backwards). */
export function advance(h: UptimeHistory, nowMs: number): UptimeHistory {
  const dt = nowMs - h.asOfMs;
  if (dt <= 0) return h;
  const decay = Math.exp(WFU_DECAY_PER_MS * dt);
  return {
    ...h,
    asOfMs: nowMs,
    weightedUpMs: h.weightedUpMs * decay + (h.running ? dt : 0),
    weightedTotalMs: h.weightedTotalMs * decay + dt,
  };
}

/** Running starts or stops at `nowMs`. A run that starts anew starts at `nowMs`. */
export function transition(h: UptimeHistory | undefined, running: boolean, nowMs: number): UptimeHistory {
  if (h === undefined) return running ? startHistory(nowMs) : { ...startHistory(nowMs), running: false };
  const accounted = advance(h, nowMs);
  if (accounted.running === running) return accounted;
  return { ...accounted, running, runStartMs: running ? nowMs : accounted.runStartMs };
}

/**
 * After the authority was down: the time from `lastAliveMs` (its last record of the relay,
 * e.g. its last heartbeat) to `restartMs` counts for nothing; the state (and an open run)
 * carries over, to be confirmed or ended by the first judgement after the restart.
 */
export function skipDowntime(h: UptimeHistory, lastAliveMs: number, restartMs: number): UptimeHistory {
  const accounted = advance(h, Math.min(lastAliveMs, restartMs));
  return { ...accounted, asOfMs: Math.max(accounted.asOfMs, restartMs) };
}

/** WFU in millionths at `nowMs`; a relay with no observed time yet counts as fully up. */
export function wfuPpm(h: UptimeHistory, nowMs: number): number {
  const a = advance(h, nowMs);
  if (a.weightedTotalMs <= 0) return 1_000_000;
  return Math.round((1_000_000 * a.weightedUpMs) / a.weightedTotalMs);
}

/** Seconds of the current run at `nowMs`, 0 when not running. */
export function runSeconds(h: UptimeHistory | undefined, nowMs: number): bigint {
  if (h === undefined || !h.running) return 0n;
  return BigInt(Math.max(0, Math.floor((nowMs - h.runStartMs) / 1000)));
}

const PAYLOAD_BYTES = 1 + 8 + 8 + 8 + 8;

/** Journal payload: u8 running | u64 run start | u64 as-of | f64 weighted up | f64 weighted total. */
export function encodeHistory(h: UptimeHistory): Buffer {
  const out = Buffer.alloc(PAYLOAD_BYTES);
  out.writeUInt8(h.running ? 1 : 0, 0);
  out.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(h.runStartMs))), 1);
  out.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(h.asOfMs))), 9);
  out.writeDoubleBE(h.weightedUpMs, 17);
  out.writeDoubleBE(h.weightedTotalMs, 25);
  return out;
}

export function decodeHistory(bytes: Buffer): UptimeHistory {
  if (bytes.length !== PAYLOAD_BYTES) throw new RangeError(`uptime record of ${bytes.length} bytes`);
  const h: UptimeHistory = {
    running: bytes.readUInt8(0) === 1,
    runStartMs: Number(bytes.readBigUInt64BE(1)),
    asOfMs: Number(bytes.readBigUInt64BE(9)),
    weightedUpMs: bytes.readDoubleBE(17),
    weightedTotalMs: bytes.readDoubleBE(25),
  };
  if (!(h.weightedUpMs >= 0 && h.weightedTotalMs >= h.weightedUpMs * (1 - 1e-9))) throw new RangeError("uptime record with impossible weights");
  return h;
}
