/**
 * Generates the suite's additional vector files (frames, relay cells, HKDF, signatures, tor1
 * inbound) with the suite's own code. `crosscheck.py` recomputes every value independently
 * (Python `cryptography` and a hand-written protobuf encoder); both must agree before a file is
 * committed. Run: node --import tsx conformance/vectors/generate.ts && python3 conformance/vectors/crosscheck.py
 * The Tor vectors (ntor-v1.json, tor1-relay-crypto.json) are facts copied from Tor and are not generated.
 */
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { create, toBinary } from "@bufbuild/protobuf";
import { DestroyReason, FrameSchema, HandshakeType } from "../../gen/meowonion/v1/link_pb.js";
import { RelayCommand } from "../../gen/meowonion/v1/relay_pb.js";
import { hex, unhex, utf8 } from "../lib/bytes.js";
import { DOMAIN, ed25519FromSeed, ed25519Sign, hkdfSha256, hkdfSha256Node, signDomain } from "../lib/crypto.js";
import { FrameError, FrameReader, encodeFrame, varint } from "../lib/frame.js";
import { proofMessage } from "../lib/link.js";
import { encodeRelayCell } from "../lib/relay-cell.js";
import { ClientCircuitCrypto, HopCrypto } from "../lib/tor1.js";
import { pb } from "../lib/circuit.js";
import { BeginSchema, EndReason, EndSchema, SendmeSchema, Extend2Schema, ConnectedSchema } from "../../gen/meowonion/v1/relay_pb.js";
import { patternBytes } from "../lib/tcp.js";
import tor1 from "./tor1-relay-crypto.json" with { type: "json" };

const here = dirname(fileURLToPath(import.meta.url));
const write = (name: string, obj: unknown) => writeFileSync(join(here, name), JSON.stringify(obj, null, 1) + "\n");

// RFC 8032 section 7.1 TEST 1 key.
const RFC8032_SEED = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const key = ed25519FromSeed(unhex(RFC8032_SEED));

// ---------- frames.json
const relayBody = patternBytes(509, "frames/relay");
const frames: { name: string; frame: unknown; bytes: string; wire_len: number; note?: string }[] = [];
const addFrame = (name: string, init: Parameters<typeof create<typeof FrameSchema>>[1], note?: string) => {
  const f = create(FrameSchema, init);
  const bytes = encodeFrame(f);
  frames.push({ name, frame: fieldsOf(init), bytes: hex(bytes), wire_len: bytes.length, note });
};
function fieldsOf(init: unknown): unknown {
  return JSON.parse(JSON.stringify(init, (_k, v) => (v instanceof Uint8Array ? hex(v) : typeof v === "bigint" ? v.toString() : v)));
}
const exporter = new Uint8Array(32).fill(0x11);
addFrame("hello-initiator-anonymous", { circuitId: 0, command: { case: "hello", value: { versions: [1] } } });
addFrame(
  "hello-responder",
  { circuitId: 0, command: { case: "hello", value: { versions: [1], identityKey: key.publicKey, signature: signDomainRaw(proofMessage(0x01, exporter)) } } },
  "identity = RFC 8032 TEST 1 key; signature over 'meowonion-link-auth-v1' 0x00 0x01 exporter, exporter = 32 bytes of 0x11",
);
addFrame("padding", { circuitId: 0, command: { case: "padding", value: { data: new Uint8Array(4) } } });
addFrame("create2", { circuitId: 0x80000001, command: { case: "create2", value: { handshakeType: HandshakeType.NTOR, handshakeData: patternBytes(84, "frames/create2") } } });
addFrame("created2", { circuitId: 0x80000001, command: { case: "created2", value: { handshakeData: patternBytes(64, "frames/created2") } } });
addFrame("relay", { circuitId: 0x80000001, command: { case: "relay", value: relayBody } }, "constant size: 519 bytes on the wire");
addFrame("relay-early", { circuitId: 0x00000002, command: { case: "relayEarly", value: relayBody } }, "constant size: 519 bytes on the wire");
addFrame("destroy", { circuitId: 0xfffffffe, command: { case: "destroy", value: { reason: DestroyReason.PROTOCOL } } });
function signDomainRaw(msg: Uint8Array): Uint8Array {
  // proofMessage already holds the domain, 0x00 and the role: sign those bytes as they are.
  return ed25519Sign(key, msg);
}
const invalid = [
  { name: "oversized-length", bytes: hex(varint(1025)) + "00".repeat(1025), error: "oversized", note: "length 1025 > MAX_FRAME_SIZE 1024: close the link before reading the body" },
  { name: "command-unset", bytes: hex(varint(5)) + hex(toBinary(FrameSchema, create(FrameSchema, { circuitId: 7 }))), error: "invalid", note: "circuit_id only, no command" },
  { name: "unknown-command-field", bytes: "03" + "a00601", error: "invalid", note: "only field 100 (unknown, varint 1): command unset" },
  { name: "truncated-field", bytes: "03" + "321000", error: "invalid", note: "field 6 (relay) declares 16 bytes, 1 present: does not decode" },
];
for (const v of invalid) {
  try {
    new FrameReader().push(unhex(v.bytes));
    throw new Error(`suite reader accepted invalid frame ${v.name}`);
  } catch (e) {
    if (!(e instanceof FrameError)) throw e;
  }
}
write("frames.json", {
  source: "computed by conformance/vectors/generate.ts, cross-checked by conformance/vectors/crosscheck.py (hand-written protobuf encoder)",
  spec: "link.proto FRAMING, Frame, CONSTANT SIZE",
  note: "bytes = varint(length) | Frame binary encoding. Byte fields in `frame` are hex. relay body = patternBytes(509, 'frames/relay').",
  valid: frames,
  invalid,
});

// ---------- relay-cells.json
const cells: { name: string; command: number; stream_id: number; data: string; body_prefix: string; note?: string }[] = [];
const addCell = (name: string, command: number, streamId: number, data: Uint8Array, note?: string) => {
  const body = encodeRelayCell(command, streamId, data, { zeroPadding: true });
  cells.push({ name, command, stream_id: streamId, data: hex(data), body_prefix: hex(body.subarray(0, Math.min(509, 11 + data.length + 4))), note });
};
addCell("begin", RelayCommand.BEGIN, 1, pb(BeginSchema, { host: "127.0.0.1", port: 8080 }));
addCell("connected", RelayCommand.CONNECTED, 1, pb(ConnectedSchema, { address: "127.0.0.1", ttlSeconds: 60 }));
addCell("data-short", RelayCommand.DATA, 0x1234, utf8("meow"));
addCell("data-full", RelayCommand.DATA, 7, patternBytes(498, "cells/data-full"), "498 data bytes: no room for the 4 zero bytes");
addCell("data-495", RelayCommand.DATA, 7, patternBytes(495, "cells/data-495"), "only 3 padding bytes, all zero");
addCell("end-done", RelayCommand.END, 1, pb(EndSchema, { reason: EndReason.DONE }));
addCell("sendme-circuit", RelayCommand.SENDME, 0, pb(SendmeSchema, { version: 1, digest: patternBytes(20, "cells/sendme") }));
addCell("sendme-stream", RelayCommand.SENDME, 3, pb(SendmeSchema, { version: 0 }), "empty message: length 0");
addCell(
  "extend2",
  RelayCommand.EXTEND2,
  0,
  pb(Extend2Schema, {
    linkSpecifiers: [{ specifier: { case: "address", value: "127.0.0.1:9001" } }, { specifier: { case: "identityKey", value: key.publicKey } }],
    create2: { handshakeType: HandshakeType.NTOR, handshakeData: patternBytes(84, "cells/extend2") },
  }),
);
write("relay-cells.json", {
  source: "computed by conformance/vectors/generate.ts, cross-checked by conformance/vectors/crosscheck.py",
  spec: "relay.proto RELAY CELL BODY and PADDING",
  note: "body_prefix = the first min(509, 11 + len + 4) bytes of the 509-byte plaintext body (header, data, the 4 zero padding bytes); the rest is random padding. recognized = 0, digest = 0 (not yet set).",
  cells,
  invalid: [{ name: "length-499", body: "02" + "0000" + "0001" + "00000000" + "01f3" + "00".repeat(498), error: "length above 498" }],
});

// ---------- hkdf-sha256.json
const hk = (name: string, ikm: string, salt: string, info: string, length: number, source: string) => {
  const a = hkdfSha256(unhex(ikm), unhex(salt), unhex(info), length);
  const b = hkdfSha256Node(unhex(ikm), unhex(salt), unhex(info), length);
  if (hex(a) !== hex(b)) throw new Error(`hkdf mismatch ${name}`);
  return { name, ikm, salt, info, length, okm: hex(a), source };
};
write("hkdf-sha256.json", {
  source: "RFC 5869 appendix A.1 and A.3 (SHA-256), plus ntor's use; computed twice (conformance/lib and node:crypto) and by crosscheck.py",
  spec: "link.proto HandshakeType.HANDSHAKE_TYPE_NTOR (HKDF-SHA256)",
  cases: [
    hk("rfc5869-a1", "0b".repeat(22), "000102030405060708090a0b0c", "f0f1f2f3f4f5f6f7f8f9", 42, "RFC 5869 A.1 (OKM 3cb25f25…5865)"),
    hk("rfc5869-a3", "0b".repeat(22), "", "", 42, "RFC 5869 A.3 (OKM 8da4e775…96c8)"),
    hk("ntor-92", hex(utf8("meowonion conformance secret input")), hex(utf8("ntor-curve25519-sha256-1:key_extract")), hex(utf8("ntor-curve25519-sha256-1:key_expand")), 92, "ntor salt/info with a fixed IKM, 92 bytes"),
  ],
});

// ---------- signatures.json
const sigCase = (name: string, domain: string, message: Uint8Array, note?: string) => ({
  name,
  domain,
  message: hex(message),
  signed_bytes: hex(new Uint8Array([...utf8(domain), 0, ...message])),
  signature: hex(signDomain(key, domain, message)),
  note,
});
write("signatures.json", {
  source: "computed by conformance/vectors/generate.ts with the RFC 8032 section 7.1 TEST 1 key; cross-checked by crosscheck.py",
  spec: "descriptor.proto SIGNATURES; directory.proto HeartbeatRequest; consensus.proto SignedConsensus; link.proto IDENTITY PROOF",
  seed: RFC8032_SEED,
  public_key: hex(key.publicKey),
  cases: [
    sigCase("descriptor", DOMAIN.descriptor, patternBytes(120, "sig/descriptor")),
    sigCase("heartbeat", DOMAIN.heartbeat, patternBytes(56, "sig/heartbeat")),
    sigCase("consensus", DOMAIN.consensus, patternBytes(300, "sig/consensus")),
    sigCase("vote", DOMAIN.vote, patternBytes(40, "sig/vote")),
    sigCase("link-auth-responder", DOMAIN.linkAuth, new Uint8Array([0x01, ...exporter]), "message = role 0x01 | exporter (32 bytes of 0x11)"),
  ],
  negative: [{ name: "descriptor-as-heartbeat", domain: DOMAIN.heartbeat, message: hex(patternBytes(120, "sig/descriptor")), signature: hex(signDomain(key, DOMAIN.descriptor, patternBytes(120, "sig/descriptor"))), valid: false, note: "a descriptor signature must not verify in the heartbeat domain" }],
});

// ---------- tor1-inbound.json: hop 3 (of the Tor vector's 3 hops) originates cells; each hop adds Kb.
const kms = tor1.hop_key_material_92.map(unhex);
const relays = kms.map((k) => new HopCrypto(k));
const inbound: { index: number; plaintext: string; ciphertext: string }[] = [];
const client = new ClientCircuitCrypto();
kms.forEach((k) => client.addHop(k));
for (let i = 0; i < 12; i++) {
  const hop = i % 3 === 2 ? 1 : 2; // mostly hop 3 (index 2), sometimes hop 2 (index 1)
  const body = encodeRelayCell(RelayCommand.DATA, 1 + (i % 2), patternBytes(100 + i * 30, `inbound/${i}`), { zeroPadding: true });
  const d = relays[hop].bwdDigest.update(body);
  body.set(d.subarray(0, 4), 5);
  let c = relays[hop].bwd.update(body);
  for (let h = hop - 1; h >= 0; h--) c = relays[h].bwd.update(c);
  const back = client.decryptInbound(c);
  if (!back || back.hop !== hop || hex(back.body) !== hex(body)) throw new Error("inbound self-check failed");
  inbound.push({ index: i, plaintext: hex(body), ciphertext: hex(c), ...{ originating_hop: hop } });
}
write("tor1-inbound.json", {
  source: "computed by conformance/vectors/generate.ts with the key material of tor1-relay-crypto.json; cross-checked by crosscheck.py",
  spec: "relay.proto CRYPTOGRAPHY (inbound) and RECOGNITION",
  operation:
    "Relays of a 3-hop circuit (key material hop_key_material_92 of tor1-relay-crypto.json, hop index 0..2) originate the cells in order: the originating hop sets its backward running digest (SHA-1 seeded with Db, body with digest zeroed) into body[5..9], encrypts with its Kb, then every hop closer to the client adds its Kb layer. One continuous AES-CTR stream and digest per hop and direction. A client removing layers from hop 0 recognizes each cell at originating_hop.",
  hop_key_material_92: tor1.hop_key_material_92,
  cells: inbound,
});
console.log("vectors written");
