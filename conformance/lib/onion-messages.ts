/**
 * The onion-service relay messages as the suite builds and reads them (onion_service.proto
 * EstablishIntro, Introduce1, IntroducePlaintext): ESTABLISH_INTRO bound to its circuit, and
 * INTRODUCE1 with hs-ntor.
 */
import { randomBytes } from "node:crypto";
import { create, toBinary } from "@bufbuild/protobuf";
import { EstablishIntroSchema, Introduce1Schema, IntroducePlaintextSchema } from "../../gen/meowonion/v1/onion_service_pb.js";
import { u8 } from "./bytes.js";
import type { RelayInfo } from "./circuit.js";
import { DOMAIN, type Ed25519Key, type X25519Key, signDomain } from "./crypto.js";
import { type ClientIntroState, type IntroTarget, clientIntroduce } from "./hs-ntor.js";
import { linkSpecifiersOf } from "./link-pool.js";
import { hsMac } from "./onion-keys.js";

/** The circuit's nonce at a hop: the last 20 bytes of its ntor key material (Tor's KH). */
export function circuitNonce(keyMaterial: Uint8Array): Uint8Array {
  return keyMaterial.subarray(72, 92);
}

/**
 * ESTABLISH_INTRO's body: handshake_auth = MAC(KH, bytes) and the auth key's signature over
 * "meowonion-establish-intro-v1" | 0x00 | bytes, bytes = the message with both fields empty.
 */
export function establishIntroBody(authKey: Ed25519Key, nonce: Uint8Array, dos: { rate?: number; burst?: number } = {}, opts: { corruptSignature?: boolean } = {}): Uint8Array {
  const m = create(EstablishIntroSchema, { authKey: authKey.publicKey, introduceRate: dos.rate ?? 0, introduceBurst: dos.burst ?? 0 });
  const bytes = toBinary(EstablishIntroSchema, m);
  m.handshakeAuth = hsMac(nonce, bytes);
  m.signature = signDomain(authKey, DOMAIN.establishIntro, bytes);
  if (opts.corruptSignature) m.signature[7] ^= 0x04;
  return toBinary(EstablishIntroSchema, m);
}

/** The header the INTRODUCE1 MAC covers: the message with only auth_key set. */
export function introduceHeader(authKey: Uint8Array): Uint8Array {
  return toBinary(Introduce1Schema, create(Introduce1Schema, { authKey }));
}

/** IntroducePlaintext's padding brings every plaintext to this length. */
const PLAINTEXT_LEN = 300;

/** INTRODUCE1 for the service behind `target`, asking it to meet at `rendezvous` with `cookie`. */
export function buildIntroduce1(target: IntroTarget, cookie: Uint8Array, rendezvous: RelayInfo, x?: X25519Key): { body: Uint8Array; state: ClientIntroState } {
  const plain = create(IntroducePlaintextSchema, { cookie, linkSpecifiers: linkSpecifiersOf(rendezvous), ntorOnionKey: rendezvous.onionKey });
  const unpadded = toBinary(IntroducePlaintextSchema, plain).length;
  // Field 4 costs a tag and a length byte (two above 127 bytes).
  plain.padding = u8(randomBytes(Math.max(0, PLAINTEXT_LEN - unpadded - 3)));
  const { state, X, encrypted, mac } = clientIntroduce(target, introduceHeader(target.authKey), toBinary(IntroducePlaintextSchema, plain), x);
  return { body: toBinary(Introduce1Schema, create(Introduce1Schema, { authKey: target.authKey, clientPublicKey: X, encrypted, mac })), state };
}
