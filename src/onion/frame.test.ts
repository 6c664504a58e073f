import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { sizeDelimitedEncode } from "@bufbuild/protobuf/wire";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DestroyReason, FrameSchema, HandshakeType } from "../../gen/meowonion/v1/link_pb.js";
import { OnionError } from "./errors.js";
import {
  FrameDecoder,
  MAX_FRAME_SIZE,
  RELAY_BODY_LEN,
  RELAY_FRAME_WIRE_LEN,
  decodeFrame,
  encodeFrame,
  encodeRelayFrame,
} from "./frame.js";

const body = (fill: number) => new Uint8Array(RELAY_BODY_LEN).fill(fill);

function expectOnionError(fn: () => unknown, reason: OnionError["reason"]): void {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(OnionError);
    expect((error as OnionError).reason).toBe(reason);
    return;
  }
  throw new Error("expected an OnionError");
}

describe("link frames", () => {
  it("relay frames are 519 bytes whatever the circuit id", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 0xffffffff }), fc.boolean(), (circuitId, early) => {
        const frame = create(FrameSchema, {
          circuitId,
          command: { case: early ? "relayEarly" : "relay", value: body(7) },
        });
        const generic = encodeFrame(frame);
        expect(generic.length).toBe(RELAY_FRAME_WIRE_LEN);
        expect(encodeRelayFrame(circuitId, body(7), early)).toEqual(generic);
        // The decoder's fast path builds the same message fromBinary would.
        expect(new FrameDecoder().push(generic)).toEqual([fromBinary(FrameSchema, generic.subarray(2))]);
      }),
    );
  });

  it("decodes frames split into arbitrary chunks", () => {
    const frames = [
      create(FrameSchema, { circuitId: 0, command: { case: "hello", value: { versions: [1] } } }),
      create(FrameSchema, { circuitId: 0x80000001, command: { case: "relay", value: body(1) } }),
      create(FrameSchema, {
        circuitId: 5,
        command: { case: "create2", value: { handshakeType: HandshakeType.NTOR, handshakeData: new Uint8Array(84) } },
      }),
      create(FrameSchema, { circuitId: 9, command: { case: "destroy", value: { reason: DestroyReason.FINISHED } } }),
      create(FrameSchema, { circuitId: 0xffffffff, command: { case: "relayEarly", value: body(2) } }),
    ];
    const stream = Buffer.concat(frames.map((f) => encodeFrame(f)));
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: stream.length }), { maxLength: 20 }), (cuts) => {
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        const decoder = new FrameDecoder();
        const out = [];
        let last = 0;
        for (const point of [...points, stream.length]) {
          for (const f of decoder.push(stream.subarray(last, point))) out.push(toBinary(FrameSchema, f));
          last = point;
        }
        decoder.end();
        expect(out).toEqual(frames.map((f) => toBinary(FrameSchema, f)));
      }),
    );
  });

  it("refuses a frame above the maximum size before reading it", () => {
    const oversized = create(FrameSchema, { command: { case: "padding", value: { data: new Uint8Array(MAX_FRAME_SIZE) } } });
    expectOnionError(() => encodeFrame(oversized), "frame-too-large");
    const bytes = sizeDelimitedEncode(FrameSchema, oversized);
    expectOnionError(() => new FrameDecoder().push(bytes.subarray(0, 3)), "frame-too-large");
    expectOnionError(() => new FrameDecoder().push(new Uint8Array([0xff, 0xff, 0xff, 0x7f])), "frame-too-large");
  });

  it("refuses truncated frames at end of stream", () => {
    const bytes = encodeRelayFrame(1, body(3));
    const decoder = new FrameDecoder();
    expect(decoder.push(bytes.subarray(0, 300))).toEqual([]);
    expectOnionError(() => decoder.end(), "frame-truncated");
    expectOnionError(() => decodeFrame(bytes.subarray(0, RELAY_FRAME_WIRE_LEN - 1)), "frame-truncated");
  });

  it("refuses frames without a command and relay payloads of the wrong size", () => {
    expectOnionError(() => decodeFrame(encodeFrame(create(FrameSchema, { circuitId: 3 }))), "frame-malformed");
    const short = create(FrameSchema, { circuitId: 3, command: { case: "relay", value: new Uint8Array(508) } });
    expectOnionError(() => decodeFrame(encodeFrame(short)), "frame-malformed");
  });

  it("never throws anything but OnionError on random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => {
        try {
          const decoder = new FrameDecoder();
          decoder.push(bytes);
          decoder.end();
        } catch (error) {
          expect(error).toBeInstanceOf(OnionError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
