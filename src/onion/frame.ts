/**
 * Link frame codec (proto/meowonion/v1/link.proto, FRAMING): size-delimited `Frame` messages
 * with a maximum size, an incremental decoder for a byte stream that arrives in arbitrary
 * chunks, and a byte-exact fast path for RELAY/RELAY_EARLY frames, which are the hot path of
 * a relay: writing 519 known bytes costs a small fraction of a general protobuf encoding
 * (measured in docs/bench-compare.md).
 */
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { sizeDelimitedEncode } from "@bufbuild/protobuf/wire";
import { type Frame, FrameSchema } from "../../gen/meowonion/v1/link_pb.js";
import { OnionError } from "./errors.js";

/** Largest allowed frame, message bytes without the length prefix. */
export const MAX_FRAME_SIZE = 1024;
/** Bytes of an onion-encrypted relay cell. */
export const RELAY_BODY_LEN = 509;
/** Message bytes of a RELAY/RELAY_EARLY frame with a nonzero circuit id. */
export const RELAY_FRAME_MESSAGE_LEN = 517;
/** On-the-wire bytes of a RELAY/RELAY_EARLY frame, length prefix included. */
export const RELAY_FRAME_WIRE_LEN = 519;

const TAG_CIRCUIT_ID = 0x0d; // field 1, wire type fixed32
const TAG_RELAY = 0x32; // field 6, length-delimited
const TAG_RELAY_EARLY = 0x3a; // field 7, length-delimited
const PREFIX_HI = 0x85; // varint 517, low 7 bits with continuation
const PREFIX_LO = 0x04;
const BODY_LEN_HI = 0xfd; // varint 509
const BODY_LEN_LO = 0x03;
const RELAY_BODY_OFFSET = 10; // prefix 2 + circuit id 5 + tag 1 + length 2

/** Encode any frame with its length prefix, refusing frames above MAX_FRAME_SIZE. */
export function encodeFrame(frame: Frame): Uint8Array {
  const encoded = sizeDelimitedEncode(FrameSchema, frame);
  if (encoded.length > MAX_FRAME_SIZE + 2) {
    const size = toBinary(FrameSchema, frame).length;
    if (size > MAX_FRAME_SIZE) {
      throw new OnionError("frame-too-large", `frame of ${size} bytes exceeds ${MAX_FRAME_SIZE}`);
    }
  }
  return encoded;
}

/**
 * Write a RELAY (or RELAY_EARLY) frame for `circuitId` carrying `body` (509 bytes) into `out`
 * at `offset`; returns the offset after it. Byte-identical to `encodeFrame` (tested).
 */
export function writeRelayFrame(
  out: Uint8Array,
  offset: number,
  circuitId: number,
  body: Uint8Array,
  early = false,
): number {
  if (body.length !== RELAY_BODY_LEN) {
    throw new OnionError("cell-malformed", `relay body must be ${RELAY_BODY_LEN} bytes, got ${body.length}`);
  }
  if (circuitId === 0) {
    throw new OnionError("cell-malformed", "relay frames need a nonzero circuit id");
  }
  out[offset] = PREFIX_HI;
  out[offset + 1] = PREFIX_LO;
  out[offset + 2] = TAG_CIRCUIT_ID;
  out[offset + 3] = circuitId & 0xff;
  out[offset + 4] = (circuitId >>> 8) & 0xff;
  out[offset + 5] = (circuitId >>> 16) & 0xff;
  out[offset + 6] = (circuitId >>> 24) & 0xff;
  out[offset + 7] = early ? TAG_RELAY_EARLY : TAG_RELAY;
  out[offset + 8] = BODY_LEN_HI;
  out[offset + 9] = BODY_LEN_LO;
  out.set(body, offset + RELAY_BODY_OFFSET);
  return offset + RELAY_FRAME_WIRE_LEN;
}

/** One RELAY frame as a fresh buffer. */
export function encodeRelayFrame(circuitId: number, body: Uint8Array, early = false): Uint8Array {
  const out = new Uint8Array(RELAY_FRAME_WIRE_LEN);
  writeRelayFrame(out, 0, circuitId, body, early);
  return out;
}

/** Decode one frame's message bytes (no prefix), refusing garbage with a typed error. */
export function decodeFrameMessage(bytes: Uint8Array): Frame {
  if (bytes.length > MAX_FRAME_SIZE) {
    throw new OnionError("frame-too-large", `frame of ${bytes.length} bytes exceeds ${MAX_FRAME_SIZE}`);
  }
  let frame: Frame;
  try {
    frame = fromBinary(FrameSchema, bytes);
  } catch (cause) {
    throw new OnionError("frame-malformed", "frame does not decode as meowonion.v1.Frame", { cause });
  }
  const command = frame.command;
  if (command.case === undefined) {
    throw new OnionError("frame-malformed", "frame has no command");
  }
  if ((command.case === "relay" || command.case === "relayEarly") && command.value.length !== RELAY_BODY_LEN) {
    throw new OnionError("frame-malformed", `relay payload must be ${RELAY_BODY_LEN} bytes, got ${command.value.length}`);
  }
  return frame;
}

function relayFrameFastPath(buffer: Uint8Array, offset: number): Frame | undefined {
  if (
    buffer[offset] !== PREFIX_HI ||
    buffer[offset + 1] !== PREFIX_LO ||
    buffer[offset + 2] !== TAG_CIRCUIT_ID ||
    buffer[offset + 8] !== BODY_LEN_HI ||
    buffer[offset + 9] !== BODY_LEN_LO
  ) {
    return undefined;
  }
  const tag = buffer[offset + 7];
  if (tag !== TAG_RELAY && tag !== TAG_RELAY_EARLY) return undefined;
  const circuitId =
    (buffer[offset + 3] | (buffer[offset + 4] << 8) | (buffer[offset + 5] << 16) | (buffer[offset + 6] << 24)) >>> 0;
  if (circuitId === 0) return undefined;
  const value = buffer.subarray(offset + RELAY_BODY_OFFSET, offset + RELAY_FRAME_WIRE_LEN);
  // What create(FrameSchema, …) returns (protobuf-es messages are plain objects), built
  // directly: create() walks the schema and costs ~5 times as much on this per-cell path.
  return {
    $typeName: FrameSchema.typeName,
    circuitId,
    command: tag === TAG_RELAY ? { case: "relay", value } : { case: "relayEarly", value },
  } as Frame;
}

/**
 * Incremental frame decoder. Feed it chunks as they arrive; it returns every complete frame.
 * After it throws, the stream is unusable (the link must be closed).
 * Returned relay payloads are views into an internal buffer that stays valid until the next
 * `push` call: consumers that keep a payload beyond that must copy it.
 */
export class FrameDecoder {
  private pending: Uint8Array = new Uint8Array(0);

  /** Bytes received but not yet part of a complete frame. */
  get bufferedBytes(): number {
    return this.pending.length;
  }

  push(chunk: Uint8Array): Frame[] {
    const buffer = this.pending.length === 0 ? chunk : concat(this.pending, chunk);
    const frames: Frame[] = [];
    let offset = 0;
    while (offset < buffer.length) {
      if (buffer.length - offset >= RELAY_FRAME_WIRE_LEN) {
        const fast = relayFrameFastPath(buffer, offset);
        if (fast !== undefined) {
          frames.push(fast);
          offset += RELAY_FRAME_WIRE_LEN;
          continue;
        }
      }
      const header = readLengthPrefix(buffer, offset);
      if (header === undefined) break;
      const end = offset + header.prefixBytes + header.size;
      if (end > buffer.length) break;
      frames.push(decodeFrameMessage(buffer.subarray(offset + header.prefixBytes, end)));
      offset = end;
    }
    this.pending = offset === buffer.length ? new Uint8Array(0) : buffer.slice(offset);
    return frames;
  }

  /** Call at end of stream: a partial frame left over is a truncated frame. */
  end(): void {
    if (this.pending.length > 0) {
      throw new OnionError("frame-truncated", `stream ended inside a frame (${this.pending.length} bytes left)`);
    }
  }
}

/** Decode a whole buffer that must hold exactly one size-delimited frame. */
export function decodeFrame(bytes: Uint8Array): Frame {
  const decoder = new FrameDecoder();
  const frames = decoder.push(bytes);
  decoder.end();
  if (frames.length !== 1) {
    throw new OnionError("frame-malformed", `expected one frame, found ${frames.length}`);
  }
  return frames[0];
}

function readLengthPrefix(buffer: Uint8Array, offset: number): { size: number; prefixBytes: number } | undefined {
  let size = 0;
  for (let i = 0; i < 3; i++) {
    if (offset + i >= buffer.length) return undefined;
    const byte = buffer[offset + i];
    size |= (byte & 0x7f) << (7 * i);
    if ((byte & 0x80) === 0) {
      if (size > MAX_FRAME_SIZE) {
        throw new OnionError("frame-too-large", `frame of ${size} bytes exceeds ${MAX_FRAME_SIZE}`);
      }
      return { size, prefixBytes: i + 1 };
    }
  }
  // Three varint bytes still continuing means at least 2^21 bytes: far above the maximum.
  throw new OnionError("frame-too-large", `frame length prefix exceeds ${MAX_FRAME_SIZE}`);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

function isRelayFrame(frame: Frame): boolean {
  return frame.command.case === "relay" || frame.command.case === "relayEarly";
}

/**
 * Splits the frames of one link read into runs for their circuits: each maximal run of
 * consecutive RELAY/RELAY_EARLY frames of one circuit (crypted as one batch), and every other
 * frame alone. Calls `visit(from, to, relay)` for frames[from..to) in order.
 */
export function forEachCircuitRun(frames: readonly Frame[], visit: (from: number, to: number, relay: boolean) => void): void {
  for (let from = 0; from < frames.length; ) {
    const relay = isRelayFrame(frames[from]);
    let to = from + 1;
    if (relay) {
      const circuitId = frames[from].circuitId;
      while (to < frames.length && frames[to].circuitId === circuitId && isRelayFrame(frames[to])) to++;
    }
    visit(from, to, relay);
    from = to;
  }
}
