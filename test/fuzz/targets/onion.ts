/**
 * Fuzz targets for the onion core (src/onion): link frames (whole and streamed in arbitrary
 * chunks), relay cells and their protobuf bodies, the client/relay layer crypto fed garbage,
 * the ntor handshake fed garbage onionskins and replies, key files, signature checks.
 * Every decoder there must refuse bad input with OnionError only.
 */
import { create, equals, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { type Frame, FrameSchema, HandshakeType } from "../../../gen/meowonion/v1/link_pb.js";
import {
  BeginSchema,
  ConnectedSchema,
  EndSchema,
  Extend2Schema,
  Extended2Schema,
  RelayCommand,
  ResolvedSchema,
  SendmeSchema,
  TruncatedSchema,
} from "../../../gen/meowonion/v1/relay_pb.js";
import { OnionError } from "../../../src/onion/errors.js";
import { FrameDecoder, MAX_FRAME_SIZE, RELAY_BODY_LEN, decodeFrame, decodeFrameMessage, encodeFrame } from "../../../src/onion/frame.js";
import { decodeKeyFile, encodeKeyFile } from "../../../src/onion/keys.js";
import {
  generateX25519KeyPair,
  ntorClientFinish,
  ntorClientStart,
  ntorServerRespond,
  relayIdFromIdentity,
} from "../../../src/onion/ntor.js";
import { decodeRelayMessage, encodeRelayCell } from "../../../src/onion/relay-cell.js";
import { ClientCircuitCrypto, KeystreamPool, RelayCircuitCrypto } from "../../../src/onion/relay-crypto.js";
import { generateEd25519KeyPair, verifyWithDomain } from "../../../src/onion/signing.js";
import type { FuzzTarget } from "../harness.js";
import { chunk, concatBytes, hostileBytes, mutated } from "../mutate.js";
import { protoWire, varint } from "../protowire.js";
import { RELAY_DATA_MAX } from "../../../src/onion/relay-cell.js";

const isOnionError = (error: unknown): boolean => error instanceof OnionError;

class InvariantError extends Error {
  override readonly name = "InvariantError";
}

function invariant(condition: boolean, message: string): void {
  if (!condition) throw new InvariantError(message);
}

// ---------------------------------------------------------------------------------------------
// Link frames

const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });
const circuitId = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 0xffffffff }), fc.constantFrom(0x80000000, 0x7fffffff, 0xffffffff));

/** Valid Frame messages of every command (some with a zero circuit id, which the link refuses but the codec accepts). */
export const validFrame: fc.Arbitrary<Frame> = fc.oneof(
  fc.record({ versions: fc.array(fc.nat(), { maxLength: 8 }), identityKey: fc.oneof(bytes(0, 0), bytes(32, 32)), signature: fc.oneof(bytes(0, 0), bytes(64, 64)) })
    .map((hello) => create(FrameSchema, { circuitId: 0, command: { case: "hello", value: hello } })),
  bytes(0, 509).map((data) => create(FrameSchema, { circuitId: 0, command: { case: "padding", value: { data } } })),
  fc.tuple(circuitId, fc.constantFrom(0, HandshakeType.NTOR, 7), bytes(0, 84)).map(([id, handshakeType, handshakeData]) =>
    create(FrameSchema, { circuitId: id, command: { case: "create2", value: { handshakeType, handshakeData } } })),
  fc.tuple(circuitId, bytes(0, 64)).map(([id, handshakeData]) => create(FrameSchema, { circuitId: id, command: { case: "created2", value: { handshakeData } } })),
  fc.tuple(circuitId, bytes(RELAY_BODY_LEN, RELAY_BODY_LEN), fc.boolean()).map(([id, body, early]) =>
    create(FrameSchema, { circuitId: id, command: early ? { case: "relayEarly", value: body } : { case: "relay", value: body } })),
  fc.tuple(circuitId, fc.integer({ min: 0, max: 12 })).map(([id, reason]) => create(FrameSchema, { circuitId: id, command: { case: "destroy", value: { reason } } })),
);

function checkFrame(frame: Frame): void {
  invariant(frame.command.case !== undefined, "decoded frame without a command");
  if (frame.command.case === "relay" || frame.command.case === "relayEarly") {
    invariant(frame.command.value.length === RELAY_BODY_LEN, `relay payload of ${frame.command.value.length} bytes`);
  }
  invariant(Number.isInteger(frame.circuitId) && frame.circuitId >= 0 && frame.circuitId <= 0xffffffff, "circuit id out of range");
}

const frameStreamInput = fc.record({
  frames: fc.array(validFrame, { minLength: 0, maxLength: 6 }),
  cuts: fc.array(fc.nat(), { maxLength: 12 }),
});

export const frameDecoderTarget: FuzzTarget<{ wire: Uint8Array; cuts: number[]; frames: Frame[] | undefined }> = {
  name: "link-frames-stream",
  description: "FrameDecoder.push over a byte stream of valid, mutated or random frames cut into arbitrary chunks, then end()",
  arbitrary: fc.oneof(
    // Valid frame sequences: the decoder must give back exactly the frames, whatever the chunking.
    frameStreamInput.map(({ frames, cuts }) => ({ wire: concatBytes(frames.map((f) => encodeFrame(f))), cuts, frames })),
    // Mutated sequences.
    fc.tuple(mutated(fc.array(validFrame, { minLength: 1, maxLength: 4 }).map((fs) => concatBytes(fs.map((f) => encodeFrame(f)))), 6), fc.array(fc.nat(), { maxLength: 12 }))
      .map(([wire, cuts]) => ({ wire, cuts, frames: undefined })),
    // Random bytes.
    fc.tuple(bytes(0, 3000), fc.array(fc.nat(), { maxLength: 12 })).map(([wire, cuts]) => ({ wire, cuts, frames: undefined })),
  ),
  run({ wire, cuts, frames }) {
    const decoder = new FrameDecoder();
    const seen: Frame[] = [];
    for (const piece of chunk(wire, cuts)) {
      for (const frame of decoder.push(piece)) {
        checkFrame(frame);
        // Payloads are views valid until the next push: compare now.
        if (frames !== undefined) {
          const expected = frames[seen.length];
          invariant(expected !== undefined && equals(FrameSchema, frame, expected), `frame ${seen.length} decoded differently`);
        }
        seen.push(frame);
      }
      // Only an incomplete frame may stay buffered: memory per link is bounded by one frame.
      invariant(decoder.bufferedBytes < MAX_FRAME_SIZE + 2, `decoder holds ${decoder.bufferedBytes} bytes`);
    }
    decoder.end();
    if (frames !== undefined) invariant(seen.length === frames.length, `decoded ${seen.length} of ${frames.length} frames`);
  },
  typed: isOnionError,
};

export const frameMessageTarget: FuzzTarget<Uint8Array> = {
  name: "link-frame-message",
  description: "decodeFrameMessage and decodeFrame on one frame's bytes (random, protobuf-shaped, mutated valid)",
  arbitrary: fc.oneof(
    hostileBytes(validFrame.map((f) => toBinary(FrameSchema, f)), MAX_FRAME_SIZE + 64),
    protoWire,
  ),
  run(input) {
    // Differential: the streaming decoder (with its RELAY fast path) must agree with the plain
    // decoder on the same message, size-delimited.
    let streamed: Frame | undefined;
    let streamError: unknown;
    try {
      streamed = decodeFrame(concatBytes([varint(BigInt(input.length)), input]));
    } catch (error) {
      streamError = error;
    }
    let message: Frame;
    try {
      message = decodeFrameMessage(input);
    } catch (error) {
      invariant(streamed === undefined, "decodeFrame accepted what decodeFrameMessage refused");
      throw error;
    }
    checkFrame(message);
    if (streamError !== undefined) throw streamError;
    invariant(streamed !== undefined && equals(FrameSchema, streamed, message), "decodeFrame and decodeFrameMessage disagree");
  },
  typed: isOnionError,
};

// ---------------------------------------------------------------------------------------------
// Relay cells

const bodyFor: Partial<Record<RelayCommand, fc.Arbitrary<Uint8Array>>> = {
  [RelayCommand.BEGIN]: fc.record({ host: fc.string({ maxLength: 64 }), port: fc.nat() }).map((b) => toBinary(BeginSchema, create(BeginSchema, b))),
  [RelayCommand.END]: fc.integer({ min: 0, max: 20 }).map((reason) => toBinary(EndSchema, create(EndSchema, { reason }))),
  [RelayCommand.CONNECTED]: fc.record({ address: fc.string({ maxLength: 40 }), ttlSeconds: fc.nat() }).map((b) => toBinary(ConnectedSchema, create(ConnectedSchema, b))),
  [RelayCommand.SENDME]: fc.record({ version: fc.nat(3), digest: bytes(0, 20) }).map((b) => toBinary(SendmeSchema, create(SendmeSchema, b))),
  [RelayCommand.TRUNCATED]: fc.integer({ min: 0, max: 12 }).map((reason) => toBinary(TruncatedSchema, create(TruncatedSchema, { reason }))),
  [RelayCommand.EXTENDED2]: bytes(0, 64).map((handshakeData) => toBinary(Extended2Schema, create(Extended2Schema, { handshakeData }))),
  [RelayCommand.RESOLVED]: fc.array(fc.record({ address: fc.string({ maxLength: 20 }), ttlSeconds: fc.nat() }), { maxLength: 16 })
    .map((answers) => toBinary(ResolvedSchema, create(ResolvedSchema, { answers }))),
  [RelayCommand.EXTEND2]: fc.record({ addr: fc.string({ maxLength: 30 }), id: bytes(0, 32), hs: bytes(0, 84) }).map(({ addr, id, hs }) =>
    toBinary(Extend2Schema, create(Extend2Schema, {
      linkSpecifiers: [{ specifier: { case: "address", value: addr } }, { specifier: { case: "identityKey", value: id } }],
      create2: { handshakeType: HandshakeType.NTOR, handshakeData: hs },
    }))),
};

const relayCommands = Object.values(RelayCommand).filter((v): v is RelayCommand => typeof v === "number");

const relayBodyInput: fc.Arbitrary<Uint8Array> = fc.oneof(
  // A well-laid-out cell whose data is a (mutated) body of its own command, another command's, or protobuf-shaped junk.
  {
    weight: 6,
    arbitrary: fc.tuple(
      fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...relayCommands) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
      fc.integer({ min: 0, max: 0xffff }),
      fc.oneof(...Object.values(bodyFor).map((arb) => mutated(arb!, 3)), protoWire, bytes(0, RELAY_DATA_MAX)),
    ).map(([command, streamId, data]) => encodeRelayCell(command as RelayCommand, streamId, data.subarray(0, RELAY_DATA_MAX))),
  },
  // Random 509-byte bodies (the length field is then mostly out of range).
  { weight: 1, arbitrary: bytes(RELAY_BODY_LEN, RELAY_BODY_LEN) },
  // Random bodies with a plausible length field.
  {
    weight: 1,
    arbitrary: fc.tuple(bytes(RELAY_BODY_LEN, RELAY_BODY_LEN), fc.integer({ min: 0, max: 520 })).map(([b, len]) => {
      b[9] = len >> 8;
      b[10] = len & 0xff;
      return b;
    }),
  },
  // Wrong sizes.
  { weight: 1, arbitrary: bytes(0, 1100) },
);

export const relayCellTarget: FuzzTarget<Uint8Array> = {
  name: "relay-cells",
  description: "decodeRelayMessage on 509-byte plaintext bodies (every command, mutated protobuf bodies, bad length fields) and wrong sizes",
  arbitrary: relayBodyInput,
  run(input) {
    const message = decodeRelayMessage(input);
    invariant(message.streamId >= 0 && message.streamId <= 0xffff, "stream id out of range");
    if (message.command === RelayCommand.DATA) {
      invariant(message.data.length >= 1 && message.data.length <= RELAY_DATA_MAX, "DATA length out of range");
    } else {
      invariant(relayCommands.includes(message.command), `unknown command ${message.command} accepted`);
    }
  },
  typed: isOnionError,
};

// ---------------------------------------------------------------------------------------------
// Layer crypto: a client and a relay fed bodies nobody encrypted for them.

function keyMaterial(): Uint8Array {
  return Uint8Array.from({ length: 92 }, () => Math.floor(Math.random() * 256));
}

let cryptoState: { client: ClientCircuitCrypto; relay: RelayCircuitCrypto };

export const clientCryptoTarget: FuzzTarget<Uint8Array> = {
  name: "relay-crypto-inbound",
  description: "ClientCircuitCrypto.decryptInbound (3 hops) and RelayCircuitCrypto.decryptOutbound/decryptOutboundMany on random bodies",
  arbitrary: fc.oneof({ weight: 8, arbitrary: bytes(RELAY_BODY_LEN, RELAY_BODY_LEN) }, { weight: 1, arbitrary: bytes(0, 3 * RELAY_BODY_LEN + 3) }),
  run(input) {
    const { client, relay } = cryptoState;
    const copy = Uint8Array.from(input);
    try {
      relay.decryptOutbound(Uint8Array.from(input));
      if (input.length > 0 && input.length % RELAY_BODY_LEN === 0) relay.decryptOutboundMany(Uint8Array.from(input));
    } catch (error) {
      if (!isOnionError(error)) throw error;
    }
    const result = client.decryptInbound(copy);
    invariant(result.hop >= 0 && result.hop < 3 && result.digest.length === 20, "bad recognized cell");
  },
  async setup() {
    const client = new ClientCircuitCrypto(new KeystreamPool());
    for (let i = 0; i < 3; i++) client.addHop(keyMaterial());
    cryptoState = { client, relay: new RelayCircuitCrypto(keyMaterial(), new KeystreamPool()) };
  },
  typed: isOnionError,
};

// ---------------------------------------------------------------------------------------------
// ntor: a relay fed garbage onionskins, a client fed garbage CREATED2 replies.

const identity = generateEd25519KeyPair();
const relayId = relayIdFromIdentity(identity.publicKey);
const onionKeys = [generateX25519KeyPair(), generateX25519KeyPair()];
// Small-order and other special X25519 points.
const specialPoints = [
  new Uint8Array(32),
  Uint8Array.from([1, ...new Array(31).fill(0)]),
  Buffer.from("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800", "hex"),
  Buffer.from("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157", "hex"),
  Buffer.from("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", "hex"),
  new Uint8Array(32).fill(0xff),
];
const point = fc.oneof({ weight: 3, arbitrary: bytes(32, 32) }, { weight: 1, arbitrary: fc.constantFrom(...specialPoints) });

export const ntorServerTarget: FuzzTarget<Uint8Array> = {
  name: "ntor-server",
  description: "ntorServerRespond on random, mis-addressed and hostile (small-order X) onionskins",
  arbitrary: fc.oneof(
    bytes(0, 100),
    fc.tuple(fc.oneof(fc.constant(relayId), bytes(20, 20)), fc.oneof(fc.constantFrom(...onionKeys.map((k) => k.publicKey)), bytes(32, 32)), point)
      .map(([id, b, x]) => concatBytes([id, b, x])),
    point.map((x) => concatBytes([relayId, onionKeys[0].publicKey, x])),
  ),
  run(input) {
    const { reply, keyMaterial } = ntorServerRespond(input, relayId, onionKeys);
    invariant(reply.length === 64 && keyMaterial.length === 92, "bad ntor output sizes");
  },
  typed: isOnionError,
};

const clientState = ntorClientStart(relayId, onionKeys[0].publicKey).state;

export const ntorClientTarget: FuzzTarget<Uint8Array> = {
  name: "ntor-client",
  description: "ntorClientFinish on random and hostile CREATED2 replies",
  arbitrary: fc.oneof(bytes(0, 100), fc.tuple(point, bytes(32, 32)).map(([y, auth]) => concatBytes([y, auth]))),
  run(input) {
    ntorClientFinish(clientState, input);
    throw new InvariantError("a random CREATED2 reply was accepted");
  },
  typed: isOnionError,
};

// ---------------------------------------------------------------------------------------------
// Key files and signature verification.

const validKeyFile = fc.tuple(fc.constantFrom("ed25519-identity-secret" as const, "x25519-onion-secret" as const), bytes(32, 32))
  .map(([kind, secret]) => new TextEncoder().encode(encodeKeyFile(kind, secret)));

export const keyFileTarget: FuzzTarget<string> = {
  name: "key-file",
  description: "decodeKeyFile on random and mutated key files",
  arbitrary: fc.oneof(
    fc.string({ maxLength: 120 }),
    fc.string({ maxLength: 120, unit: "binary" }),
    mutated(validKeyFile, 4).map((b) => new TextDecoder().decode(b)),
  ),
  run(input) {
    const secret = decodeKeyFile("ed25519-identity-secret", input);
    invariant(secret.length === 32, "decoded a key of the wrong size");
  },
  typed: isOnionError,
};

export const signatureTarget: FuzzTarget<{ message: Uint8Array; signature: Uint8Array; key: Uint8Array }> = {
  name: "signature-verify",
  description: "verifyWithDomain on random messages, signatures and keys (must return false, never throw)",
  arbitrary: fc.record({
    message: bytes(0, 200),
    signature: fc.oneof(bytes(64, 64), bytes(0, 80)),
    key: fc.oneof(bytes(32, 32), point, bytes(0, 40)),
  }),
  run({ message, signature, key }) {
    invariant(verifyWithDomain("meowonion-descriptor-v1", message, signature, key) === false, "a random signature verified");
  },
  typed: () => false,
};

export const onionTargets: FuzzTarget<any>[] = [
  frameDecoderTarget,
  frameMessageTarget,
  relayCellTarget,
  clientCryptoTarget,
  ntorServerTarget,
  ntorClientTarget,
  keyFileTarget,
  signatureTarget,
];
