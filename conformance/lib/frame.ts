/**
 * Link framing (link.proto FRAMING), the suite's own codec: varint length | Frame bytes,
 * MAX_FRAME_SIZE = 1024 message bytes.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { type Frame, FrameSchema } from "../../gen/meowonion/v1/link_pb.js";
import { concat } from "./bytes.js";

export const MAX_FRAME_SIZE = 1024;
/** A RELAY / RELAY_EARLY frame on the wire, prefix included (link.proto CONSTANT SIZE). */
export const RELAY_FRAME_WIRE_LEN = 519;

export function varint(n: number): Uint8Array {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return new Uint8Array(out);
}

export function encodeFrame(frame: Frame): Uint8Array {
  const body = toBinary(FrameSchema, frame);
  return concat(varint(body.length), body);
}

export function makeFrame(init: Parameters<typeof create<typeof FrameSchema>>[1]): Frame {
  return create(FrameSchema, init);
}

export class FrameError extends Error {
  constructor(
    readonly kind: "oversized" | "undecodable" | "no-command" | "bad-varint",
    message: string,
  ) {
    super(message);
  }
}

/** Incremental decoder. `push` returns complete frames with their wire length (prefix included). */
export class FrameReader {
  private buf: Uint8Array = new Uint8Array(0);
  /** True while bytes of an incomplete frame are buffered (EOF now would be a truncated frame). */
  get pending(): boolean {
    return this.buf.length > 0;
  }

  push(chunk: Uint8Array): { frame: Frame; wireLen: number; messageBytes: Uint8Array }[] {
    this.buf = this.buf.length ? concat(this.buf, chunk) : Uint8Array.from(chunk);
    const out: { frame: Frame; wireLen: number; messageBytes: Uint8Array }[] = [];
    for (;;) {
      let len = 0;
      let shift = 0;
      let i = 0;
      let complete = false;
      while (i < this.buf.length && i < 5) {
        const b = this.buf[i++];
        len += (b & 0x7f) * 2 ** shift;
        shift += 7;
        if ((b & 0x80) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete) {
        if (this.buf.length >= 5) throw new FrameError("bad-varint", "frame length varint longer than 5 bytes");
        return out;
      }
      if (len > MAX_FRAME_SIZE) throw new FrameError("oversized", `frame length ${len} > MAX_FRAME_SIZE ${MAX_FRAME_SIZE}`);
      if (this.buf.length < i + len) return out;
      const messageBytes = this.buf.slice(i, i + len);
      this.buf = this.buf.slice(i + len);
      let frame: Frame;
      try {
        frame = fromBinary(FrameSchema, messageBytes);
      } catch (e) {
        throw new FrameError("undecodable", `frame does not decode: ${(e as Error).message}`);
      }
      if (frame.command.case === undefined) throw new FrameError("no-command", "frame command unset or unknown");
      out.push({ frame, wireLen: i + len, messageBytes });
    }
  }
}
