/**
 * Relay cell body layout (relay.proto RELAY CELL BODY), the suite's own codec:
 *   0 command(1) | 1 recognized(2) | 3 stream_id(2, BE) | 5 digest(4) | 9 length(2, BE) | 11 data(498)
 * Padding after `length` data bytes: 4 zero bytes (or fewer), then random bytes.
 */
import { randomFillSync } from "node:crypto";

export const RELAY_BODY_LEN = 509;
export const RELAY_HEADER_LEN = 11;
export const RELAY_DATA_MAX = 498;

export interface RelayCell {
  command: number;
  recognized: number;
  streamId: number;
  digest: Uint8Array;
  data: Uint8Array;
}

export interface EncodeOptions {
  /** Override the recognized field (tests that send a nonzero value). Default 0. */
  recognized?: number;
  /** Fill padding with zeros instead of random bytes (for deterministic vectors). */
  zeroPadding?: boolean;
  /** Write this value into the length field instead of data.length (malformed cells). */
  lengthOverride?: number;
}

export function encodeRelayCell(command: number, streamId: number, data: Uint8Array, opts: EncodeOptions = {}): Uint8Array {
  if (data.length > RELAY_DATA_MAX) throw new Error(`relay cell data too long: ${data.length}`);
  const body = new Uint8Array(RELAY_BODY_LEN);
  body[0] = command;
  const rec = opts.recognized ?? 0;
  body[1] = (rec >> 8) & 0xff;
  body[2] = rec & 0xff;
  body[3] = (streamId >> 8) & 0xff;
  body[4] = streamId & 0xff;
  const len = opts.lengthOverride ?? data.length;
  body[9] = (len >> 8) & 0xff;
  body[10] = len & 0xff;
  body.set(data, RELAY_HEADER_LEN);
  const padStart = RELAY_HEADER_LEN + data.length + 4;
  if (!opts.zeroPadding && padStart < RELAY_BODY_LEN) randomFillSync(body, padStart, RELAY_BODY_LEN - padStart);
  return body;
}

export class RelayCellError extends Error {}

export function decodeRelayCell(body: Uint8Array): RelayCell {
  if (body.length !== RELAY_BODY_LEN) throw new RelayCellError(`relay body is ${body.length} bytes, not 509`);
  const length = (body[9] << 8) | body[10];
  if (length > RELAY_DATA_MAX) throw new RelayCellError(`relay cell length ${length} > 498`);
  return {
    command: body[0],
    recognized: (body[1] << 8) | body[2],
    streamId: (body[3] << 8) | body[4],
    digest: body.slice(5, 9),
    data: body.slice(RELAY_HEADER_LEN, RELAY_HEADER_LEN + length),
  };
}
