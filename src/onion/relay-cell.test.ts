import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EndReason, RelayCommand } from "../../gen/meowonion/v1/relay_pb.js";
import { OnionError } from "./errors.js";
import { decodeRelayMessage, encodeRelayMessage, readRelayCell } from "./relay-cell.js";
import { RELAY_BODY_LEN } from "./frame.js";
import { RELAY_DATA_MAX } from "./relay-cell.js";

describe("relay cells", () => {
  it("lays out Tor's header: command, recognized 0, stream id, digest 0, length", () => {
    const cell = encodeRelayMessage({ command: RelayCommand.DATA, streamId: 0x1234, data: new Uint8Array([7, 8, 9]) });
    expect(cell.length).toBe(RELAY_BODY_LEN);
    expect([...cell.subarray(0, 11)]).toEqual([2, 0, 0, 0x12, 0x34, 0, 0, 0, 0, 0, 3]);
    expect([...cell.subarray(11, 18)]).toEqual([7, 8, 9, 0, 0, 0, 0]);
  });

  it("round-trips DATA and every protobuf body", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: RELAY_DATA_MAX }), fc.integer({ min: 1, max: 0xffff }), (data, streamId) => {
        const decoded = decodeRelayMessage(encodeRelayMessage({ command: RelayCommand.DATA, streamId, data }));
        expect(decoded).toEqual({ command: RelayCommand.DATA, streamId, data });
      }),
    );
    const begin = decodeRelayMessage(encodeRelayMessage({ command: RelayCommand.BEGIN, streamId: 5, body: { host: "example.org", port: 443 } }));
    expect(begin).toMatchObject({ command: RelayCommand.BEGIN, streamId: 5, body: { host: "example.org", port: 443 } });
    const end = decodeRelayMessage(encodeRelayMessage({ command: RelayCommand.END, streamId: 5, body: { reason: EndReason.EXITPOLICY } }));
    expect(end).toMatchObject({ command: RelayCommand.END, body: { reason: EndReason.EXITPOLICY } });
    const extend = decodeRelayMessage(
      encodeRelayMessage({
        command: RelayCommand.EXTEND2,
        streamId: 0,
        body: {
          linkSpecifiers: [{ specifier: { case: "address", value: "127.0.0.1:9001" } }, { specifier: { case: "identityKey", value: new Uint8Array(32).fill(1) } }],
          create2: { handshakeType: 2, handshakeData: new Uint8Array(84).fill(3) },
        },
      }),
    );
    expect(extend.command).toBe(RelayCommand.EXTEND2);
  });

  it("refuses oversized data, bad length fields and unknown commands with OnionError", () => {
    expect(() => encodeRelayMessage({ command: RelayCommand.DATA, streamId: 1, data: new Uint8Array(RELAY_DATA_MAX + 1) })).toThrow(OnionError);
    const cell = encodeRelayMessage({ command: RelayCommand.DATA, streamId: 1, data: new Uint8Array(4) });
    cell[9] = 0x02;
    expect(() => readRelayCell(cell)).toThrow(OnionError);
    const unknown = encodeRelayMessage({ command: RelayCommand.DATA, streamId: 1, data: new Uint8Array(4) });
    unknown[0] = 77;
    expect(() => decodeRelayMessage(unknown)).toThrow(OnionError);
  });

  it("never throws anything but OnionError on random cells", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: RELAY_BODY_LEN, maxLength: RELAY_BODY_LEN }), (bytes) => {
        try {
          decodeRelayMessage(bytes);
        } catch (error) {
          expect(error).toBeInstanceOf(OnionError);
        }
      }),
      { numRuns: 5000 },
    );
  });
});
