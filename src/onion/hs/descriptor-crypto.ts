/**
 * The two encrypted layers of an onion-service descriptor (rend-spec-v3 §2.5.3), without client
 * authorization: SECRET_DATA = A' for both.
 *
 *   secret_input = SECRET_DATA | N_hs_subcred | INT_8(revision_counter)
 *   keys = KDF(secret_input | salt | STRING_CONSTANT, 80) = SECRET_KEY 32 | SECRET_IV 16 | MAC_KEY 32
 *   encrypted = salt (16) | AES-256-CTR(SECRET_KEY, SECRET_IV, plaintext) | D_MAC (32)
 *   D_MAC = MAC(MAC_KEY, INT_8(16) | salt | ciphertext)
 *
 * Only those who know the address (A, hence A' and the subcredential) can open either layer, so
 * the HSDirs that store a descriptor never learn its introduction points.
 */
import { createCipheriv, randomBytes, timingSafeEqual } from "node:crypto";
import { OnionError } from "../errors.js";
import { ED25519_KEY_LEN } from "../signing.js";
import { SUBCREDENTIAL_LEN } from "./blinding.js";
import { HS_MAC_LEN, hsMac, int8, requireLength, shake256 } from "./hash.js";

export const DESCRIPTOR_SALT_LEN = 16;
/** What a layer adds to its plaintext: the salt and the MAC. */
export const DESCRIPTOR_LAYER_OVERHEAD = DESCRIPTOR_SALT_LEN + HS_MAC_LEN;

/**
 * Which layer: "superencrypted" is the first (the outer document's `superencrypted` blob), and
 * "encrypted" the second, inside it (the middle document's `encrypted` blob).
 */
export type DescriptorLayer = "superencrypted" | "encrypted";

const STRING_CONSTANTS: Record<DescriptorLayer, string> = {
  superencrypted: "hsdir-superencrypted-data",
  encrypted: "hsdir-encrypted-data",
};

const KEY_LEN = 32;
const IV_LEN = 16;
const MAC_KEY_LEN = 32;

/** What both ends of a descriptor know, for one time period and one revision. */
export interface DescriptorSecrets {
  /** A', the blinded key of the descriptor's time period. */
  readonly blindedKey: Uint8Array;
  /** N_hs_subcred of the same period. */
  readonly subcredential: Uint8Array;
  /** The descriptor's revision counter: part of the keys, so each revision has its own. */
  readonly revisionCounter: number | bigint;
}

/** salt | ciphertext | D_MAC. `salt` is random unless given (tests). */
export function encryptDescriptorLayer(
  layer: DescriptorLayer,
  secrets: DescriptorSecrets,
  plaintext: Uint8Array,
  salt: Uint8Array = randomBytes(DESCRIPTOR_SALT_LEN),
): Uint8Array {
  requireLength(salt, DESCRIPTOR_SALT_LEN, "a descriptor salt");
  const keys = layerKeys(layer, secrets, salt);
  const ciphertext = crypt(keys, plaintext);
  return Buffer.concat([salt, ciphertext, descriptorMac(keys, salt, ciphertext)]);
}

/** The plaintext of salt | ciphertext | D_MAC; refuses anything whose MAC does not check. */
export function decryptDescriptorLayer(layer: DescriptorLayer, secrets: DescriptorSecrets, encrypted: Uint8Array): Uint8Array {
  if (encrypted.length < DESCRIPTOR_LAYER_OVERHEAD) {
    throw new OnionError("bad-descriptor", `an encrypted descriptor layer has at least ${DESCRIPTOR_LAYER_OVERHEAD} bytes, got ${encrypted.length}`);
  }
  const salt = encrypted.subarray(0, DESCRIPTOR_SALT_LEN);
  const ciphertext = encrypted.subarray(DESCRIPTOR_SALT_LEN, encrypted.length - HS_MAC_LEN);
  const mac = encrypted.subarray(encrypted.length - HS_MAC_LEN);
  const keys = layerKeys(layer, secrets, salt);
  if (!timingSafeEqual(descriptorMac(keys, salt, ciphertext), mac)) {
    throw new OnionError("bad-descriptor", `descriptor ${layer} layer MAC mismatch (another service, period or revision, or altered)`);
  }
  return crypt(keys, ciphertext);
}

interface LayerKeys {
  secretKey: Buffer;
  secretIv: Buffer;
  macKey: Buffer;
}

function layerKeys(layer: DescriptorLayer, secrets: DescriptorSecrets, salt: Uint8Array): LayerKeys {
  requireLength(secrets.blindedKey, ED25519_KEY_LEN, "blinded key");
  requireLength(secrets.subcredential, SUBCREDENTIAL_LEN, "subcredential");
  const keys = shake256(
    KEY_LEN + IV_LEN + MAC_KEY_LEN,
    secrets.blindedKey,
    secrets.subcredential,
    int8(secrets.revisionCounter),
    salt,
    STRING_CONSTANTS[layer],
  );
  return {
    secretKey: keys.subarray(0, KEY_LEN),
    secretIv: keys.subarray(KEY_LEN, KEY_LEN + IV_LEN),
    macKey: keys.subarray(KEY_LEN + IV_LEN),
  };
}

function crypt(keys: LayerKeys, input: Uint8Array): Buffer {
  const cipher = createCipheriv("aes-256-ctr", keys.secretKey, keys.secretIv);
  return Buffer.concat([cipher.update(input), cipher.final()]);
}

function descriptorMac(keys: LayerKeys, salt: Uint8Array, ciphertext: Uint8Array): Buffer {
  return hsMac(keys.macKey, int8(salt.length), salt, ciphertext);
}
