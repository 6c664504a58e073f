/**
 * vectors/*: encoding and crypto vectors. vectors/suite/* check the suite's own client against
 * Tor's published vectors and the suite's cross-checked files (a self-check: if these fail, the
 * suite itself is wrong). vectors/impl/* ask the implementation through the vector-check protocol.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createHash } from "node:crypto";
import { fromJson, toJson } from "@bufbuild/protobuf";
import { FrameSchema } from "../../gen/meowonion/v1/link_pb.js";
import { hex, unhex, utf8 } from "../lib/bytes.js";
import { ed25519FromSeed, ed25519Sign, ed25519Verify, hkdfSha256, signDomain, verifyDomain, x25519FromSecret } from "../lib/crypto.js";
import { FrameError, FrameReader, encodeFrame } from "../lib/frame.js";
import { ntorClientFinish, ntorClientStart, ntorServer } from "../lib/ntor.js";
import { decodeRelayCell, encodeRelayCell } from "../lib/relay-cell.js";
import { ClientCircuitCrypto, HopCrypto } from "../lib/tor1.js";
import { Unsupported, VectorChecker } from "../lib/vector-check.js";
import { bytesToNumberLE, expandSeed, signExpanded } from "../lib/ed25519-group.js";
import { clientFinish, clientIntroduce, endToEndKeys, serviceOpen, serviceRespond } from "../lib/hs-ntor.js";
import { decryptLayer, encryptLayer } from "../lib/onion-descriptor.js";
import { blindPublicKey, blindSecretKey, expandedKeyBytes, hsMac, onionAddress, parseOnionAddress, periodAt, subcredential } from "../lib/onion-keys.js";
import { type TestCase, type TestContext, check, fail, skip } from "../framework.js";

const VDIR = join(dirname(fileURLToPath(import.meta.url)), "..", "vectors");
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const load = (name: string): any => JSON.parse(readFileSync(join(VDIR, name), "utf8"));

const ntor = load("ntor-v1.json");
const tor1 = load("tor1-relay-crypto.json");
const tor1In = load("tor1-inbound.json");
const frames = load("frames.json");
const cells = load("relay-cells.json");
const hkdf = load("hkdf-sha256.json");
const sigs = load("signatures.json");
const hs = load("hs-v3.json");
const hsDesc = load("hs-v3-descriptor.json");

/** The 51 plaintext bodies of the Tor tor1 vector (tor1-relay-crypto.json "plaintext"). */
function tor1Plaintexts(): Uint8Array[] {
  const stream = createHash("shake256", { outputLength: 51 * 498 }).update(tor1.shake256_seed_ascii).digest();
  const out: Uint8Array[] = [];
  for (let n = 0; n < 51; n++) {
    const body = new Uint8Array(509);
    body[0] = 2;
    body[4] = 1;
    body[9] = 1;
    body[10] = 242;
    body.set(stream.subarray(n * 498, (n + 1) * 498), 11);
    out.push(body);
  }
  return out;
}

const suite = (id: string, clause: string, title: string, run: (ctx: TestContext) => Promise<void> | void): TestCase => ({
  id: `vectors/suite/${id}`,
  clause,
  level: "MUST",
  requires: [],
  title,
  run: async (ctx) => run(ctx),
});

async function checker(ctx: TestContext): Promise<VectorChecker> {
  const cmd = ctx.target.features.vectorCheck;
  if (!cmd) skip("no vectorCheck command declared");
  return ctx.resource("vector-check", async () => new VectorChecker(cmd), (v) => v.close());
}

const impl = (id: string, clause: string, title: string, run: (v: VectorChecker, ctx: TestContext) => Promise<void>): TestCase => ({
  id: `vectors/impl/${id}`,
  clause,
  level: "MUST",
  requires: ["vectorCheck"],
  title,
  run: async (ctx) => {
    const v = await checker(ctx);
    try {
      await run(v, ctx);
    } catch (e) {
      if (e instanceof Unsupported) skip(e.message);
      throw e;
    }
  },
});

function firstDiff(a: string, b: string): string {
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return `first difference at byte ${Math.floor(i / 2)}`;
}

export const vectorTests: TestCase[] = [
  suite("ntor", "link.proto HandshakeType.HANDSHAKE_TYPE_NTOR (tor-spec 5.1.4); vectors/ntor-v1.json", "the suite's ntor reproduces Tor's vector (both sides, key material)", () => {
    const b = x25519FromSecret(unhex(ntor.relay_onion_secret_b));
    check(hex(b.publicKey) === ntor.relay_onion_public_B, "suite X25519 public key differs from the vector's B");
    const st = ntorClientStart(unhex(ntor.relay_identity_id_20), b.publicKey, x25519FromSecret(unhex(ntor.client_ephemeral_secret_x)));
    check(hex(st.onionskin) === ntor.client_handshake_ID_B_X, "suite client handshake differs from Tor's");
    const srv = ntorServer(st.onionskin, unhex(ntor.relay_identity_id_20), [b], x25519FromSecret(unhex(ntor.server_ephemeral_secret_y)));
    check(hex(srv.reply) === ntor.server_handshake_Y_AUTH, "suite server reply (Y|AUTH) differs from Tor's", ntor.server_handshake_Y_AUTH, hex(srv.reply));
    const keys = ntorClientFinish(st, srv.reply);
    check(hex(keys).startsWith(ntor.keys_72), "suite key material differs from Tor's", ntor.keys_72, hex(keys).slice(0, 144));
    check(hex(srv.keys) === hex(keys), "suite client and server derive different keys");
    const bad = Uint8Array.from(srv.reply);
    bad[40] ^= 1;
    let threw = false;
    try {
      ntorClientFinish(st, bad);
    } catch {
      threw = true;
    }
    check(threw, "suite client accepted a reply with a corrupted AUTH");
  }),
  suite("tor1-outbound", "relay.proto CRYPTOGRAPHY (outbound); vectors/tor1-relay-crypto.json", "the suite's tor1 reproduces the cells C tor produced", () => {
    const c = new ClientCircuitCrypto();
    for (const km of tor1.hop_key_material_92) c.addHop(unhex(km));
    const want = new Map<number, string>(tor1.expected.map((e: { cell_index: number; ciphertext_509: string }) => [e.cell_index, e.ciphertext_509]));
    tor1Plaintexts().forEach((p, n) => {
      const got = hex(c.encryptOutbound(p, 2).cell);
      if (want.has(n) && want.get(n) !== got) fail(`suite tor1 cell ${n} differs from C tor's (${firstDiff(want.get(n)!, got)})`);
    });
  }),
  suite("tor1-inbound", "relay.proto CRYPTOGRAPHY (inbound), RECOGNITION; vectors/tor1-inbound.json", "the suite's client recognizes inbound cells at the right hop", () => {
    const c = new ClientCircuitCrypto();
    for (const km of tor1In.hop_key_material_92) c.addHop(unhex(km));
    for (const cell of tor1In.cells) {
      const r = c.decryptInbound(unhex(cell.ciphertext));
      check(r && r.hop === cell.originating_hop && hex(r.body) === cell.plaintext, `inbound cell ${cell.index} not recognized at hop ${cell.originating_hop}`);
    }
  }),
  suite("frames", "link.proto FRAMING, Frame, CONSTANT SIZE; vectors/frames.json", "the suite's frame codec matches the frame vectors, rejects the invalid ones", () => {
    for (const v of frames.valid) {
      const got = new FrameReader().push(unhex(v.bytes));
      check(got.length === 1 && got[0].wireLen === v.wire_len, `frame ${v.name}: not decoded as one frame of ${v.wire_len} bytes`);
      check(hex(encodeFrame(got[0].frame)) === v.bytes, `frame ${v.name}: re-encoding differs`);
    }
    for (const v of frames.invalid) {
      let err: unknown;
      try {
        new FrameReader().push(unhex(v.bytes));
      } catch (e) {
        err = e;
      }
      check(err instanceof FrameError, `invalid frame ${v.name} was accepted by the suite's reader`);
    }
  }),
  suite("relay-cells", "relay.proto RELAY CELL BODY, PADDING; vectors/relay-cells.json", "the suite's relay cell codec matches the layout vectors", () => {
    for (const c of cells.cells) {
      const body = encodeRelayCell(c.command, c.stream_id, unhex(c.data), { zeroPadding: true });
      check(hex(body).startsWith(c.body_prefix), `relay cell ${c.name}: layout differs`);
      const d = decodeRelayCell(body);
      check(d.command === c.command && d.streamId === c.stream_id && hex(d.data) === c.data, `relay cell ${c.name}: decode differs`);
    }
    for (const c of cells.invalid) {
      let threw = false;
      try {
        decodeRelayCell(unhex(c.body));
      } catch {
        threw = true;
      }
      check(threw, `relay cell ${c.name} accepted`);
    }
  }),
  suite("hkdf", "link.proto HANDSHAKE_TYPE_NTOR (HKDF-SHA256, RFC 5869); vectors/hkdf-sha256.json", "the suite's HKDF matches RFC 5869 and the ntor case", () => {
    for (const c of hkdf.cases) {
      const got = hex(hkdfSha256(unhex(c.ikm), unhex(c.salt), unhex(c.info), c.length));
      check(got === c.okm, `HKDF case ${c.name} differs`, c.okm, got);
    }
  }),
  suite("signatures", "descriptor.proto SIGNATURES; link.proto IDENTITY PROOF; vectors/signatures.json", "the suite's domain-separated Ed25519 matches the signature vectors", () => {
    const key = ed25519FromSeed(unhex(sigs.seed));
    check(hex(key.publicKey) === sigs.public_key, "suite Ed25519 public key differs from RFC 8032 TEST 1");
    for (const c of sigs.cases) {
      check(hex(signDomain(key, c.domain, unhex(c.message))) === c.signature, `signature ${c.name} differs`);
      check(ed25519Verify(key.publicKey, unhex(c.signed_bytes), unhex(c.signature)), `signature ${c.name} does not verify over signed_bytes`);
    }
    for (const c of sigs.negative) check(verifyDomain(key.publicKey, c.domain, unhex(c.message), unhex(c.signature)) === c.valid, `negative case ${c.name}`);
  }),
  suite("hs-mac-and-address", "onion_service.proto NOTATION (MAC), KEYS AND ADDRESS; vectors/hs-v3.json", "the suite's SHA3 MAC and onion address match C tor's", () => {
    for (const c of hs.hs_mac) check(hex(hsMac(utf8(c.key), c.msg)) === c.mac, `MAC(${c.key}, ${c.msg}) differs`, c.mac);
    const A = unhex(hs.onion_address.public_key);
    const want = hs.onion_address.address.replace(/\.onion$/, ".meow");
    check(onionAddress(A) === want, "the suite's address differs from C tor's (suffix aside)", want, onionAddress(A));
    check(hex(parseOnionAddress(want)) === hex(A), "the suite does not parse the address back to its key");
    const bad = `${want[0] === "a" ? "b" : "a"}${want.slice(1)}`;
    let refused = false;
    try {
      parseOnionAddress(bad);
    } catch {
      refused = true;
    }
    check(refused, "the suite accepted an address with a wrong checksum");
  }),
  suite("hs-blinding", "onion_service.proto TIME PERIODS, BLINDED KEY AND SUBCREDENTIAL; vectors/hs-v3.json", "the suite's key blinding, blinded secret key and subcredential match C tor's", () => {
    const v = hs.key_blinding;
    const raw = unhex(v.identity_expanded_secret_key);
    const key = { scalar: bytesToNumberLE(raw.subarray(0, 32)), prefix: raw.slice(32) };
    const A = unhex(v.identity_public_key.toLowerCase());
    const period = periodAt(Date.parse(v.time), v.period_length_minutes, v.rotation_offset_minutes);
    check(period.num === BigInt(v.period_num), `period ${period.num} at ${v.time}, expected ${v.period_num}`);
    const blinded = blindPublicKey(A, period);
    check(hex(blinded) === v.blinded_public_key.toLowerCase(), "the suite's blinded key differs", v.blinded_public_key, hex(blinded));
    check(hex(subcredential(A, blinded)) === v.subcredential.toLowerCase(), "the suite's subcredential differs", v.subcredential);
    const secret = blindSecretKey(key, period);
    check(hex(expandedKeyBytes(secret)) === v.blinded_expanded_secret_key.toLowerCase(), "the suite's blinded secret key differs", v.blinded_expanded_secret_key, hex(expandedKeyBytes(secret)));
    const msg = utf8("meow");
    check(ed25519Verify(blinded, msg, signExpanded(secret, msg)), "a signature by the blinded secret key does not verify with the blinded key");
    const seed = unhex(sigs.seed);
    check(hex(signExpanded(expandSeed(seed), msg)) === hex(ed25519Sign(ed25519FromSeed(seed), msg)), "the suite's expanded-key signature differs from node's Ed25519 for the same seed");
  }),
  suite("hs-ntor", "onion_service.proto HS-NTOR; vectors/hs-v3.json", "the suite's hs-ntor reproduces C tor's INTRODUCE1, RENDEZVOUS1 and NTOR_KEY_SEED", () => {
    const v = hs.hs_ntor;
    const b = x25519FromSecret(unhex(v.ks_hss_ntor.toLowerCase()));
    check(hex(b.publicKey) === v.kp_hss_ntor.toLowerCase(), "the suite's X25519 public key differs from the vector's B");
    const target = { encKey: b.publicKey, authKey: unhex(v.kp_hs_ipt_sid.toLowerCase()), subcredential: unhex(v.subcredential.toLowerCase()) };
    const header = unhex(v.intro_header.toLowerCase());
    const intro = clientIntroduce(target, header, unhex(v.intro_body.toLowerCase()), x25519FromSecret(unhex(v.x.toLowerCase())));
    const message = hex(header) + hex(intro.X) + hex(intro.encrypted) + hex(intro.mac);
    check(message === v.introduce1_expected.toLowerCase(), `the suite's INTRODUCE1 differs from C tor's (${firstDiff(v.introduce1_expected.toLowerCase(), message)})`);
    const keys = { encKey: b, authKey: target.authKey, subcredential: target.subcredential };
    const opened = serviceOpen(keys, header, intro.X, intro.encrypted, intro.mac);
    check(opened && hex(opened.plaintext) === v.intro_body.toLowerCase(), "the suite's service does not open C tor's INTRODUCE1");
    const bad = Uint8Array.from(intro.mac);
    bad[0] ^= 1;
    check(!serviceOpen(keys, header, intro.X, intro.encrypted, bad), "the suite's service opened an INTRODUCE1 with a wrong MAC");
    const answer = serviceRespond(keys, intro.X, opened!.xb, x25519FromSecret(unhex(v.y.toLowerCase())));
    check(hex(answer.handshakeInfo) === v.rendezvous1_handshake_info.toLowerCase(), "the suite's RENDEZVOUS1 handshake info differs", v.rendezvous1_handshake_info, hex(answer.handshakeInfo));
    check(hex(answer.seed) === v.ntor_key_seed.toLowerCase(), "the suite's NTOR_KEY_SEED differs (service)");
    check(hex(clientFinish(intro.state, answer.handshakeInfo)) === v.ntor_key_seed.toLowerCase(), "the suite's NTOR_KEY_SEED differs (client)");
    const wrong = Uint8Array.from(answer.handshakeInfo);
    wrong[40] ^= 1;
    let refused = false;
    try {
      clientFinish(intro.state, wrong);
    } catch {
      refused = true;
    }
    check(refused, "the suite's client accepted a wrong AUTH_INPUT_MAC");
    check(endToEndKeys(answer.seed).length === 128, "end-to-end keys are not 128 bytes");
  }),
  suite("hs-descriptor-layers", "onion_service.proto DESCRIPTOR (the two layers); vectors/hs-v3-descriptor.json", "the suite opens C tor's descriptor layers and re-seals them to the same bytes", () => {
    const secrets = { blindedKey: unhex(hsDesc.blinded_public_key), subcredential: unhex(hsDesc.subcredential.toLowerCase()), revision: BigInt(hsDesc.revision_counter) };
    const outer = new Uint8Array(Buffer.from(hsDesc.superencrypted_base64, "base64"));
    const middle = decryptLayer("hsdir-superencrypted-data", secrets, outer);
    const middleText = Buffer.from(middle).toString("latin1");
    check(middleText.startsWith(hsDesc.middle_plaintext_starts_with), "the outer layer's plaintext does not begin as C tor's");
    check(hex(encryptLayer("hsdir-superencrypted-data", secrets, middle, outer.subarray(0, 16))) === hex(outer), "re-sealing the outer layer with its salt gives other bytes");
    const m = /^encrypted\n-----BEGIN MESSAGE-----\n([A-Za-z0-9+/=\n]+)-----END MESSAGE-----/m.exec(middleText);
    check(m, "no encrypted MESSAGE block in the outer plaintext");
    const inner = decryptLayer("hsdir-encrypted-data", secrets, new Uint8Array(Buffer.from(m[1].replace(/\n/g, ""), "base64")));
    check(Buffer.from(inner).toString("latin1").startsWith(hsDesc.inner_plaintext_starts_with), "the inner layer's plaintext does not begin as C tor's");
    let refused = false;
    try {
      decryptLayer("hsdir-superencrypted-data", { ...secrets, revision: secrets.revision + 1n }, outer);
    } catch {
      refused = true;
    }
    check(refused, "the suite opened a layer with the wrong revision counter");
  }),

  impl("ntor-server", "link.proto HANDSHAKE_TYPE_NTOR; vectors/ntor-v1.json", "the implementation's ntor server answers Tor's vector byte for byte", async (v) => {
    const r = await v.require({
      op: "ntor-server",
      relay_id: ntor.relay_identity_id_20,
      onion_secret: ntor.relay_onion_secret_b,
      onion_public: ntor.relay_onion_public_B,
      client_handshake: ntor.client_handshake_ID_B_X,
      server_ephemeral_secret: ntor.server_ephemeral_secret_y,
    });
    check(r.server_handshake === ntor.server_handshake_Y_AUTH, "ntor server handshake (Y|AUTH) differs from Tor's vector", ntor.server_handshake_Y_AUTH, String(r.server_handshake ?? r.error));
    check(String(r.key_material ?? "").startsWith(ntor.keys_72) && String(r.key_material).length === 184, "ntor key material (92 bytes) does not start with Tor's 72", ntor.keys_72, String(r.key_material));
  }),
  impl("ntor-client", "link.proto HANDSHAKE_TYPE_NTOR, Created2 (client checks AUTH)", "the implementation's ntor client derives Tor's keys and rejects a bad AUTH", async (v) => {
    const base = { op: "ntor-client", relay_id: ntor.relay_identity_id_20, onion_public: ntor.relay_onion_public_B, client_ephemeral_secret: ntor.client_ephemeral_secret_x };
    const r = await v.require({ ...base, server_handshake: ntor.server_handshake_Y_AUTH });
    check(String(r.key_material ?? "").startsWith(ntor.keys_72), "ntor client key material differs from Tor's", ntor.keys_72, String(r.key_material ?? r.error));
    const bad = unhex(ntor.server_handshake_Y_AUTH);
    bad[63] ^= 0x80;
    const r2 = await v.require({ ...base, server_handshake: hex(bad) });
    check(r2.error !== undefined && r2.key_material === undefined, "ntor client accepted a CREATED2 whose AUTH does not verify", "error", JSON.stringify(r2));
  }),
  impl("tor1-outbound", "relay.proto CRYPTOGRAPHY (outbound); vectors/tor1-relay-crypto.json", "the implementation's client reproduces C tor's onion-encrypted cells", async (v) => {
    const r = await v.require({ op: "tor1-client-outbound", key_materials: tor1.hop_key_material_92, target_hop: 2, bodies: tor1Plaintexts().map(hex) });
    const got = (r.cells as string[] | undefined) ?? [];
    check(got.length === 51, `expected 51 cells, got ${got.length}`, "51", String(r.error ?? got.length));
    for (const e of tor1.expected) check(got[e.cell_index] === e.ciphertext_509, `cell ${e.cell_index} differs from C tor's (${firstDiff(e.ciphertext_509, got[e.cell_index] ?? "")})`);
  }),
  impl("tor1-inbound", "relay.proto CRYPTOGRAPHY (inbound), RECOGNITION; vectors/tor1-inbound.json", "the implementation's client recognizes inbound cells at the right hop", async (v) => {
    const r = await v.require({ op: "tor1-client-inbound", key_materials: tor1In.hop_key_material_92, cells: tor1In.cells.map((c: { ciphertext: string }) => c.ciphertext) });
    const res = (r.results as { hop: number | null; body?: string }[] | undefined) ?? [];
    tor1In.cells.forEach((c: { index: number; originating_hop: number; plaintext: string }, i: number) => {
      check(res[i]?.hop === c.originating_hop && res[i]?.body === c.plaintext, `inbound cell ${c.index}: expected recognized at hop ${c.originating_hop}`, `hop ${c.originating_hop}`, JSON.stringify(res[i] ?? r.error).slice(0, 60));
    });
  }),
  impl("tor1-relay-originate", "relay.proto CRYPTOGRAPHY (inbound: the originating hop sets its backward digest, encrypts with Kb)", "the implementation as a relay originates inbound cells like the vector", async (v) => {
    const hop = 2;
    const km = tor1In.hop_key_material_92[hop];
    const bodies = [0, 1, 2, 3].map((i) => encodeRelayCell(2, 1, utf8(`meow ${i}`), { zeroPadding: true }));
    const r = await v.require({ op: "tor1-relay-originate", key_material: km, bodies: bodies.map(hex) });
    const h = new HopCrypto(unhex(km));
    const want = bodies.map((b) => {
      const x = Uint8Array.from(b);
      const d = h.bwdDigest.update(x);
      x.set(d.subarray(0, 4), 5);
      return hex(h.bwd.update(x));
    });
    const got = (r.cells as string[] | undefined) ?? [];
    want.forEach((w, i) => check(got[i] === w, `originated cell ${i} differs (${firstDiff(w, got[i] ?? "")})`));
  }),
  impl("relay-cell-encode", "relay.proto RELAY CELL BODY, PADDING; vectors/relay-cells.json", "the implementation lays out relay cells as the vectors (header, data, 4 zero bytes)", async (v) => {
    for (const c of cells.cells) {
      const r = await v.require({ op: "relay-cell-encode", command: c.command, stream_id: c.stream_id, data: c.data });
      const body = String(r.body ?? "");
      check(body.length === 1018, `relay cell ${c.name}: body is ${body.length / 2} bytes, not 509`);
      check(body.startsWith(c.body_prefix), `relay cell ${c.name}: layout differs (${firstDiff(c.body_prefix, body)})`, c.body_prefix.slice(0, 60), body.slice(0, 60));
    }
  }),
  impl("relay-cell-decode", "relay.proto RELAY CELL BODY (length above 498 is a protocol violation)", "the implementation decodes relay cells and refuses length > 498", async (v) => {
    for (const c of cells.cells) {
      const body = hex(encodeRelayCell(c.command, c.stream_id, unhex(c.data)));
      const r = await v.require({ op: "relay-cell-decode", body });
      check(r.command === c.command && r.stream_id === c.stream_id && r.data === c.data && r.recognized === 0, `relay cell ${c.name}: decoded fields differ`, JSON.stringify({ command: c.command, stream_id: c.stream_id }), JSON.stringify(r).slice(0, 120));
    }
    for (const c of cells.invalid) {
      const r = await v.require({ op: "relay-cell-decode", body: c.body });
      check(r.error !== undefined, `relay cell ${c.name} (${c.error}) was accepted`, "error", JSON.stringify(r).slice(0, 100));
    }
  }),
  impl("frame-decode", "link.proto FRAMING, Frame; vectors/frames.json", "the implementation decodes every valid frame vector", async (v) => {
    for (const f of frames.valid) {
      const r = await v.require({ op: "frame-decode", bytes: f.bytes });
      check(r.frame !== undefined, `frame ${f.name} was refused: ${r.error}`);
      const ours = new FrameReader().push(unhex(f.bytes))[0].frame;
      const theirs = fromJson(FrameSchema, r.frame as never);
      check(hex(encodeFrame(theirs)) === hex(encodeFrame(ours)), `frame ${f.name} decoded to different fields`, JSON.stringify(toJson(FrameSchema, ours)).slice(0, 80), JSON.stringify(r.frame).slice(0, 80));
      check(r.consumed === f.wire_len, `frame ${f.name}: consumed ${r.consumed} bytes, not ${f.wire_len}`);
    }
  }),
  impl("frame-decode-invalid", "link.proto FRAMING (above MAX_FRAME_SIZE, undecodable, command unset)", "the implementation refuses every invalid frame vector", async (v) => {
    for (const f of frames.invalid) {
      const r = await v.require({ op: "frame-decode", bytes: f.bytes });
      check(r.error !== undefined, `invalid frame ${f.name} (${f.note}) was accepted`, `error ${f.error}`, JSON.stringify(r).slice(0, 100));
      if (f.error === "oversized") check(r.error === "oversized", `frame ${f.name}: error ${r.error}, expected oversized`);
    }
  }),
  impl("frame-encode", "link.proto FRAMING, CONSTANT SIZE; vectors/frames.json", "the implementation encodes frames to the exact vector bytes (relay frames 519 bytes)", async (v) => {
    for (const f of frames.valid) {
      const frame = toJson(FrameSchema, new FrameReader().push(unhex(f.bytes))[0].frame);
      const r = await v.require({ op: "frame-encode", frame });
      check(r.bytes === f.bytes, `frame ${f.name} encodes differently (${firstDiff(f.bytes, String(r.bytes ?? ""))})`, `${f.wire_len} bytes`, `${String(r.bytes ?? "").length / 2} bytes`);
    }
  }),
  impl("hkdf", "link.proto HANDSHAKE_TYPE_NTOR (HKDF-SHA256); vectors/hkdf-sha256.json", "the implementation's HKDF-SHA256 matches RFC 5869", async (v) => {
    for (const c of hkdf.cases) {
      const r = await v.require({ op: "hkdf-sha256", ikm: c.ikm, salt: c.salt, info: c.info, length: c.length });
      check(r.okm === c.okm, `HKDF case ${c.name} differs`, c.okm, String(r.okm ?? r.error));
    }
  }),
  impl("signatures", "descriptor.proto SIGNATURES; vectors/signatures.json", "the implementation signs and verifies with domain separation", async (v) => {
    for (const c of sigs.cases) {
      const r = await v.require({ op: "sign", domain: c.domain, seed: sigs.seed, message: c.message });
      check(r.signature === c.signature, `signature ${c.name} differs (domain separation: utf8(domain) | 0x00 | bytes)`, c.signature.slice(0, 32), String(r.signature ?? r.error).slice(0, 32));
      const ok = await v.require({ op: "verify", domain: c.domain, public_key: sigs.public_key, message: c.message, signature: c.signature });
      check(ok.valid === true, `valid signature ${c.name} not accepted`);
    }
    for (const c of sigs.negative) {
      const r = await v.require({ op: "verify", domain: c.domain, public_key: sigs.public_key, message: c.message, signature: c.signature });
      check(r.valid === false, `${c.name}: ${c.note}`);
    }
  }),
];
