/**
 * Onion-service descriptors (onion_service.proto DESCRIPTOR): what an HSDir checks before it
 * stores one (size, times, the blinded key's signature), how a service seals its intro points
 * into the two encrypted layers and signs, and how a client that knows the address opens them.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import {
  type OnionDescriptor,
  OnionDescriptorInnerSchema,
  type OnionDescriptorInner,
  OnionDescriptorOuterSchema,
  OnionDescriptorSchema,
  type SignedOnionDescriptor,
  SignedOnionDescriptorSchema,
} from "../../gen/meowonion/v1/onion_service_pb.js";
import { OnionError } from "../onion/errors.js";
import { type ExpandedSecretKey, signWithExpandedKey } from "../onion/hs/blinding.js";
import { type DescriptorSecrets, decryptDescriptorLayer, encryptDescriptorLayer } from "../onion/hs/descriptor-crypto.js";
import { DOMAIN_ONION_DESCRIPTOR, ED25519_KEY_LEN, domainSeparated, verifyWithDomain } from "../onion/signing.js";

export const ONION_DESCRIPTOR_VERSION = 3;
export const MAX_ONION_DESCRIPTOR_BYTES = 16 * 1024;
export const MAX_ONION_DESCRIPTOR_LIFETIME_S = 3 * 3600;
/** A directory stream's request or response, at most (onion_service.proto HsDirRequest). */
export const MAX_HS_DIR_MESSAGE_BYTES = 20 * 1024;
/** 1..6 introduction points. */
export const MAX_INTRO_POINTS = 6;
const MAX_CLOCK_SKEW_MS = 5 * 60_000;

function invalid(message: string, cause?: unknown): OnionError {
  return new OnionError("bad-descriptor", message, { cause });
}

/**
 * What an HSDir checks (and a client, before it decrypts): size, decoding, version, the blinded
 * key's signature over the exact bytes, lifetime and times. Returns the decoded descriptor.
 */
export function checkSignedOnionDescriptor(signed: SignedOnionDescriptor, nowMs: number): OnionDescriptor {
  const size = toBinary(SignedOnionDescriptorSchema, signed).length;
  if (size > MAX_ONION_DESCRIPTOR_BYTES) throw invalid(`descriptor is ${size} bytes; at most ${MAX_ONION_DESCRIPTOR_BYTES} are allowed`);
  let descriptor: OnionDescriptor;
  try {
    descriptor = fromBinary(OnionDescriptorSchema, signed.descriptor);
  } catch (cause) {
    throw invalid("descriptor bytes do not decode", cause);
  }
  if (descriptor.version !== ONION_DESCRIPTOR_VERSION) throw invalid(`descriptor version ${descriptor.version} is not ${ONION_DESCRIPTOR_VERSION}`);
  if (descriptor.blindedKey.length !== ED25519_KEY_LEN) throw invalid(`blinded_key must be ${ED25519_KEY_LEN} bytes`);
  if (!verifyWithDomain(DOMAIN_ONION_DESCRIPTOR, signed.descriptor, signed.signature, descriptor.blindedKey)) {
    throw invalid("descriptor signature does not verify against its blinded key");
  }
  if (descriptor.published === undefined) throw invalid("published is required");
  if (descriptor.lifetimeSeconds === 0 || descriptor.lifetimeSeconds > MAX_ONION_DESCRIPTOR_LIFETIME_S) {
    throw invalid(`lifetime ${descriptor.lifetimeSeconds} s is not within 1..${MAX_ONION_DESCRIPTOR_LIFETIME_S}`);
  }
  const published = timestampMs(descriptor.published);
  if (published > nowMs + MAX_CLOCK_SKEW_MS) throw invalid("descriptor is published in the future");
  if (published + descriptor.lifetimeSeconds * 1000 <= nowMs) throw invalid("descriptor has expired");
  return descriptor;
}

/** When a checked descriptor expires (unix ms). */
export function onionDescriptorExpiresMs(descriptor: OnionDescriptor): number {
  return timestampMs(descriptor.published!) + descriptor.lifetimeSeconds * 1000;
}

/** The layers' secrets of a descriptor (both ends know them once they know the address). */
function secretsOf(descriptor: OnionDescriptor, subcredential: Uint8Array): DescriptorSecrets {
  return { blindedKey: descriptor.blindedKey, subcredential, revisionCounter: descriptor.revisionCounter };
}

/**
 * The service's: seal `inner` into the two layers of `descriptor` (whose blinded key, period,
 * revision and times are set) and sign it with the blinded secret key.
 */
export function sealOnionDescriptor(
  descriptor: Omit<OnionDescriptor, "superencrypted" | "$typeName" | "$unknown">,
  inner: OnionDescriptorInner,
  subcredential: Uint8Array,
  blindedSecret: ExpandedSecretKey,
): SignedOnionDescriptor {
  const unsealed = create(OnionDescriptorSchema, descriptor);
  const secrets = secretsOf(unsealed, subcredential);
  const encrypted = encryptDescriptorLayer("encrypted", secrets, toBinary(OnionDescriptorInnerSchema, inner));
  unsealed.superencrypted = encryptDescriptorLayer("superencrypted", secrets, toBinary(OnionDescriptorOuterSchema, create(OnionDescriptorOuterSchema, { encrypted })));
  const bytes = toBinary(OnionDescriptorSchema, unsealed);
  return create(SignedOnionDescriptorSchema, { descriptor: bytes, signature: signWithExpandedKey(blindedSecret, domainSeparated(DOMAIN_ONION_DESCRIPTOR, bytes)) });
}

/** The client's: open both layers of a checked descriptor; refuses (bad-descriptor) what does not decrypt or decode. */
export function openOnionDescriptor(descriptor: OnionDescriptor, subcredential: Uint8Array): OnionDescriptorInner {
  const secrets = secretsOf(descriptor, subcredential);
  let inner: OnionDescriptorInner;
  try {
    const outer = fromBinary(OnionDescriptorOuterSchema, decryptDescriptorLayer("superencrypted", secrets, descriptor.superencrypted));
    inner = fromBinary(OnionDescriptorInnerSchema, decryptDescriptorLayer("encrypted", secrets, outer.encrypted));
  } catch (cause) {
    if (cause instanceof OnionError) throw cause;
    throw invalid("a descriptor layer does not decode", cause);
  }
  const count = inner.introPoints.length;
  if (count === 0 || count > MAX_INTRO_POINTS) throw invalid(`a descriptor lists 1..${MAX_INTRO_POINTS} intro points, this one ${count}`);
  for (const point of inner.introPoints) {
    if (point.authKey.length !== ED25519_KEY_LEN || point.encKey.length !== 32 || point.ntorOnionKey.length !== 32) {
      throw invalid("an intro point's keys have the wrong length");
    }
  }
  return inner;
}
