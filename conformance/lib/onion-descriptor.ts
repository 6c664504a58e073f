/**
 * Onion-service descriptors (onion_service.proto DESCRIPTOR, SignedOnionDescriptor), the suite's
 * own: the two encrypted layers, sealing and signing with the blinded key, and opening.
 */
import { randomBytes } from "node:crypto";
import { type MessageInitShape, create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  type OnionDescriptor,
  type OnionDescriptorInner,
  OnionDescriptorInnerSchema,
  OnionDescriptorOuterSchema,
  OnionDescriptorSchema,
  type SignedOnionDescriptor,
  SignedOnionDescriptorSchema,
} from "../../gen/meowonion/v1/onion_service_pb.js";
import { concat, equal, u8 } from "./bytes.js";
import { DOMAIN, domainMessage, verifyDomain } from "./crypto.js";
import { type ExpandedKey, signExpanded } from "./ed25519-group.js";
import { aes256Ctr } from "./hs-ntor.js";
import { hsMac, int8, kdf } from "./onion-keys.js";

export const MAX_DESCRIPTOR_BYTES = 16 * 1024;
export const MAX_LIFETIME_SECONDS = 3 * 3600;
export type Layer = "hsdir-superencrypted-data" | "hsdir-encrypted-data";

export interface LayerSecrets {
  blindedKey: Uint8Array;
  subcredential: Uint8Array;
  revision: bigint;
}

function layerKeys(layer: Layer, s: LayerSecrets, salt: Uint8Array) {
  const k = kdf(80, s.blindedKey, s.subcredential, int8(s.revision), salt, layer);
  return { key: k.subarray(0, 32), iv: k.subarray(32, 48), mac: k.subarray(48, 80) };
}

/** salt | AES-256-CTR(plaintext) | MAC(MAC_KEY, INT_8(16) | salt | ciphertext). */
export function encryptLayer(layer: Layer, s: LayerSecrets, plaintext: Uint8Array, salt: Uint8Array = u8(randomBytes(16))): Uint8Array {
  const k = layerKeys(layer, s, salt);
  const ciphertext = aes256Ctr(k.key, plaintext, k.iv);
  return concat(salt, ciphertext, hsMac(k.mac, int8(16), salt, ciphertext));
}

/** The plaintext of a layer; throws if it is too short or its MAC does not check. */
export function decryptLayer(layer: Layer, s: LayerSecrets, blob: Uint8Array): Uint8Array {
  if (blob.length < 48) throw new Error(`a ${layer} layer of ${blob.length} bytes is too short`);
  const salt = blob.subarray(0, 16);
  const ciphertext = blob.subarray(16, blob.length - 32);
  const k = layerKeys(layer, s, salt);
  if (!equal(hsMac(k.mac, int8(16), salt, ciphertext), blob.subarray(blob.length - 32))) throw new Error(`the ${layer} layer's MAC does not check`);
  return aes256Ctr(k.key, ciphertext, k.iv);
}

export interface DescriptorParams {
  blindedKey: Uint8Array;
  /** Signs the descriptor bytes (given with the domain prefix). */
  sign: ExpandedKey | ((message: Uint8Array) => Uint8Array);
  subcredential: Uint8Array;
  periodNum: bigint;
  revision: bigint;
  publishedMs?: number;
  lifetimeSeconds?: number;
  inner: MessageInitShape<typeof OnionDescriptorInnerSchema>;
  /** Change the descriptor after sealing, before signing (to build invalid ones). */
  mutate?: (d: OnionDescriptor) => void;
}

export function buildOnionDescriptor(p: DescriptorParams): SignedOnionDescriptor {
  const secrets = { blindedKey: p.blindedKey, subcredential: p.subcredential, revision: p.revision };
  const encrypted = encryptLayer("hsdir-encrypted-data", secrets, toBinary(OnionDescriptorInnerSchema, create(OnionDescriptorInnerSchema, p.inner)));
  const outer = toBinary(OnionDescriptorOuterSchema, create(OnionDescriptorOuterSchema, { encrypted }));
  const d = create(OnionDescriptorSchema, {
    version: 3,
    blindedKey: p.blindedKey,
    periodNum: p.periodNum,
    revisionCounter: p.revision,
    published: timestampFromMs(Math.floor((p.publishedMs ?? Date.now()) / 1000) * 1000),
    lifetimeSeconds: p.lifetimeSeconds ?? MAX_LIFETIME_SECONDS,
    superencrypted: encryptLayer("hsdir-superencrypted-data", secrets, outer),
  });
  p.mutate?.(d);
  const bytes = toBinary(OnionDescriptorSchema, d);
  const message = domainMessage(DOMAIN.onionDescriptor, bytes);
  const signature = typeof p.sign === "function" ? p.sign(message) : signExpanded(p.sign, message);
  return create(SignedOnionDescriptorSchema, { descriptor: bytes, signature });
}

/**
 * What a client does with a fetched descriptor: the signature by the blinded key it computed
 * from the address, the blinded key field, both layers. Throws with the reason.
 */
export function openOnionDescriptor(signed: SignedOnionDescriptor, blindedKey: Uint8Array, subcredential: Uint8Array): { descriptor: OnionDescriptor; inner: OnionDescriptorInner } {
  if (!verifyDomain(blindedKey, DOMAIN.onionDescriptor, signed.descriptor, signed.signature)) throw new Error("the descriptor's signature does not verify with the blinded key of the address");
  const descriptor = fromBinary(OnionDescriptorSchema, signed.descriptor);
  if (!equal(descriptor.blindedKey, blindedKey)) throw new Error("the descriptor names another blinded key");
  const secrets = { blindedKey, subcredential, revision: descriptor.revisionCounter };
  const outer = fromBinary(OnionDescriptorOuterSchema, decryptLayer("hsdir-superencrypted-data", secrets, descriptor.superencrypted));
  const inner = fromBinary(OnionDescriptorInnerSchema, decryptLayer("hsdir-encrypted-data", secrets, outer.encrypted));
  if (inner.introPoints.length < 1 || inner.introPoints.length > 6) throw new Error(`the descriptor lists ${inner.introPoints.length} intro points (1..6 allowed)`);
  return { descriptor, inner };
}

export function signedDescriptorSize(signed: SignedOnionDescriptor): number {
  return toBinary(SignedOnionDescriptorSchema, signed).length;
}
