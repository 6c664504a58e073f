/**
 * ESTABLISH_INTRO's proofs (onion_service.proto EstablishIntro): a MAC under the circuit's ntor
 * nonce at the intro point, so the message is bound to that circuit, and the auth key's
 * signature, so only the key's holder registers it.
 */
import { timingSafeEqual } from "node:crypto";
import { create, toBinary } from "@bufbuild/protobuf";
import { type EstablishIntro, EstablishIntroSchema } from "../../gen/meowonion/v1/onion_service_pb.js";
import { HS_MAC_LEN, hsMac } from "../onion/hs/hash.js";
import { DOMAIN_ESTABLISH_INTRO, ED25519_KEY_LEN, type Ed25519KeyPair, signWithDomain, verifyWithDomain } from "../onion/signing.js";

/** The bytes the MAC and the signature cover: the message with both fields empty. */
function signedBytes(message: EstablishIntro): Uint8Array {
  return toBinary(EstablishIntroSchema, create(EstablishIntroSchema, { ...message, handshakeAuth: new Uint8Array(0), signature: new Uint8Array(0) }));
}

/** The service's ESTABLISH_INTRO for `authKey` on the circuit whose last hop's nonce is `nonce`. */
export function signEstablishIntro(authKey: Ed25519KeyPair, nonce: Uint8Array, dos: { rate: number; burst: number } = { rate: 0, burst: 0 }): EstablishIntro {
  const message = create(EstablishIntroSchema, { authKey: authKey.publicKey, introduceRate: dos.rate, introduceBurst: dos.burst });
  const bytes = signedBytes(message);
  message.handshakeAuth = hsMac(nonce, bytes);
  message.signature = signWithDomain(DOMAIN_ESTABLISH_INTRO, bytes, authKey.privateKey);
  return message;
}

/** The intro point's check: both proofs hold for this circuit's `nonce`. */
export function establishIntroAuthentic(message: EstablishIntro, nonce: Uint8Array): boolean {
  if (message.authKey.length !== ED25519_KEY_LEN || message.handshakeAuth.length !== HS_MAC_LEN) return false;
  const bytes = signedBytes(message);
  return timingSafeEqual(hsMac(nonce, bytes), message.handshakeAuth) && verifyWithDomain(DOMAIN_ESTABLISH_INTRO, bytes, message.signature, message.authKey);
}
