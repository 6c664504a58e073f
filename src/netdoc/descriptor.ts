/**
 * Relay descriptors (descriptor.proto): building and signing one (relays, tests), and the
 * authority's validation, split by cost so that callers can do the cheap checks first:
 *   checkDescriptorShape      sizes, decoding, every field            RESOURCE_EXHAUSTED / INVALID_ARGUMENT
 *   checkDescriptorTimes      published/expires against the clock     OUT_OF_RANGE
 *   checkDescriptorSignature  Ed25519 by the identity key inside      UNAUTHENTICATED
 * Every refusal is a ConnectError whose message says what was wrong.
 */
import { createHash } from "node:crypto";
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  RelayDescriptorSchema,
  RelayFeature,
  SignedDescriptorSchema,
  type RelayDescriptor,
  type SignedDescriptor,
} from "../../gen/meowonion/v1/descriptor_pb.js";
import {
  DOMAIN_DESCRIPTOR,
  ED25519_KEY_LEN,
  ED25519_SIGNATURE_LEN,
  signWithDomain,
  verifyWithDomain,
} from "../onion/signing.js";
import { ExitPolicyError, validateExitPolicy } from "./exit-policy.js";
import { ipv4AddressProblem, ipv6AddressProblem } from "./ip.js";
import type { SignatureVerifier } from "./signature-verifier.js";

export const MAX_SIGNED_DESCRIPTOR_BYTES = 8 * 1024;
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;
export const MAX_DESCRIPTOR_LIFETIME_MS = 48 * 3600_000;
export const MAX_FAMILY = 64;
export const MAX_FEATURES = 16;
export const MAX_SOFTWARE_VERSION_BYTES = 64;
const NICKNAME = /^[A-Za-z0-9]{1,19}$/;
// Timestamp range protobuf allows (0001-01-01 .. 9999-12-31); beyond it Date math breaks.
const MIN_SECONDS = -62135596800n;
const MAX_SECONDS = 253402300799n;

/** A descriptor that passed checkDescriptorShape, with what the authority derives from it. */
export interface ValidDescriptor {
  /** The envelope as stored and served: exactly the received descriptor bytes and signature. */
  signed: SignedDescriptor;
  descriptor: RelayDescriptor;
  /** Hex of the identity key: the relay's entry key everywhere in the authority. */
  keyHex: string;
  /** SHA-256 of signed.descriptor (ConsensusRelay.descriptor_digest). */
  digest: Uint8Array;
  publishedMs: number;
  expiresMs: number;
}

/** Serializes and signs a descriptor with the relay's identity key (32-byte Ed25519 seed). */
export function buildSignedDescriptor(
  descriptor: MessageInitShape<typeof RelayDescriptorSchema>,
  identityPrivateKey: Uint8Array,
): SignedDescriptor {
  const bytes = toBinary(RelayDescriptorSchema, create(RelayDescriptorSchema, descriptor));
  return create(SignedDescriptorSchema, {
    descriptor: bytes,
    signature: signWithDomain(DOMAIN_DESCRIPTOR, bytes, identityPrivateKey),
  });
}

export function sha256(bytes: Uint8Array): Uint8Array {
  return createHash("sha256").update(bytes).digest();
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

/** Exact serialized size of a SignedDescriptor with these two fields (no unknown fields). */
function envelopeSize(signed: SignedDescriptor): number {
  const field = (n: number) => (n === 0 ? 0 : 1 + varintSize(n) + n);
  return field(signed.descriptor.length) + field(signed.signature.length);
}

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    size++;
  }
  return size;
}

function invalid(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

/** Sizes, decoding and every field rule of descriptor.proto. No clock, no signature. */
export function checkDescriptorShape(signed: SignedDescriptor | undefined): ValidDescriptor {
  if (signed === undefined) throw invalid("descriptor is required");
  const size = envelopeSize(signed);
  if (size > MAX_SIGNED_DESCRIPTOR_BYTES) {
    throw new ConnectError(`signed descriptor is ${size} bytes; at most ${MAX_SIGNED_DESCRIPTOR_BYTES} are allowed`, Code.ResourceExhausted);
  }
  if (signed.signature.length !== ED25519_SIGNATURE_LEN) {
    throw invalid(`signature must be ${ED25519_SIGNATURE_LEN} bytes, got ${signed.signature.length}`);
  }
  let descriptor: RelayDescriptor;
  try {
    descriptor = fromBinary(RelayDescriptorSchema, signed.descriptor);
  } catch (err) {
    throw invalid(`descriptor bytes do not decode as a RelayDescriptor: ${(err as Error).message}`);
  }
  const d = descriptor;
  if (d.identityKey.length !== ED25519_KEY_LEN) throw invalid(`identity_key must be ${ED25519_KEY_LEN} bytes, got ${d.identityKey.length}`);
  if (d.ntorOnionKey.length !== 32) throw invalid(`ntor_onion_key must be 32 bytes, got ${d.ntorOnionKey.length}`);
  if (!NICKNAME.test(d.nickname)) throw invalid(`nickname ${JSON.stringify(d.nickname.slice(0, 40))} must be 1-19 characters of [A-Za-z0-9]`);
  if (d.ipv4Address === "" && d.ipv6Address === "") throw invalid("at least one of ipv4_address and ipv6_address is required");
  const addressProblem = (d.ipv4Address !== "" ? ipv4AddressProblem(d.ipv4Address) : undefined) ?? (d.ipv6Address !== "" ? ipv6AddressProblem(d.ipv6Address) : undefined);
  if (addressProblem !== undefined) throw invalid(addressProblem);
  if (d.orPort < 1 || d.orPort > 65535) throw invalid(`or_port ${d.orPort} must be 1..65535`);
  if (d.exitPolicy !== undefined) {
    try {
      validateExitPolicy(d.exitPolicy);
    } catch (err) {
      if (err instanceof ExitPolicyError) throw invalid(err.message);
      throw err;
    }
  }
  if (d.family.length > MAX_FAMILY) throw invalid(`family lists ${d.family.length} relays; at most ${MAX_FAMILY} are allowed`);
  const badMember = d.family.findIndex((k) => k.length !== ED25519_KEY_LEN);
  if (badMember >= 0) throw invalid(`family entry ${badMember + 1} must be a ${ED25519_KEY_LEN}-byte identity key`);
  if (d.features.length > MAX_FEATURES) throw invalid(`features lists ${d.features.length} entries; at most ${MAX_FEATURES} are allowed`);
  if (d.features.some((f, i) => f === RelayFeature.UNSPECIFIED || (i > 0 && f <= d.features[i - 1]))) {
    throw invalid("features must be ascending, without duplicates or RELAY_FEATURE_UNSPECIFIED");
  }
  const versionBytes = Buffer.byteLength(d.softwareVersion, "utf8");
  if (versionBytes > MAX_SOFTWARE_VERSION_BYTES) {
    throw invalid(`software_version is ${versionBytes} bytes; at most ${MAX_SOFTWARE_VERSION_BYTES} are allowed`);
  }
  const publishedMs = timeField(d.published, "published");
  const expiresMs = timeField(d.expires, "expires");
  if (expiresMs <= publishedMs) throw invalid("expires must be after published");
  if (expiresMs - publishedMs > MAX_DESCRIPTOR_LIFETIME_MS) throw invalid("expires must be at most 48 hours after published");
  return {
    // A fresh envelope: unknown fields a client may have added are not stored or served.
    signed: create(SignedDescriptorSchema, { descriptor: signed.descriptor, signature: signed.signature }),
    descriptor,
    keyHex: hex(d.identityKey),
    digest: sha256(signed.descriptor),
    publishedMs,
    expiresMs,
  };
}

function timeField(ts: Timestamp | undefined, name: string): number {
  if (ts === undefined) throw invalid(`${name} is required`);
  if (ts.seconds < MIN_SECONDS || ts.seconds > MAX_SECONDS || ts.nanos < 0 || ts.nanos > 999_999_999) {
    throw invalid(`${name} is not a valid timestamp`);
  }
  return timestampMs(ts);
}

/** `published` at most 5 minutes ahead of the authority's clock, `expires` in the future. */
export function checkDescriptorTimes(v: ValidDescriptor, nowMs: number): void {
  if (v.publishedMs > nowMs + MAX_CLOCK_SKEW_MS) {
    throw new ConnectError(
      `published ${new Date(v.publishedMs).toISOString()} is more than 5 minutes ahead of the authority's clock (${new Date(nowMs).toISOString()})`,
      Code.OutOfRange,
    );
  }
  if (v.expiresMs <= nowMs) {
    throw new ConnectError(`descriptor expired at ${new Date(v.expiresMs).toISOString()}`, Code.OutOfRange);
  }
}

/** The signature over the exact descriptor bytes, by the identity key they contain. */
export function checkDescriptorSignature(v: ValidDescriptor): void {
  if (!verifyWithDomain(DOMAIN_DESCRIPTOR, v.signed.descriptor, v.signed.signature, v.descriptor.identityKey)) {
    throw badDescriptorSignature();
  }
}

/** The same check on a SignatureVerifier (worker threads), for the authority's hot path. */
export async function checkDescriptorSignatureWith(v: ValidDescriptor, verifier: SignatureVerifier): Promise<void> {
  if (!(await verifier.verify(DOMAIN_DESCRIPTOR, v.signed.descriptor, v.signed.signature, v.descriptor.identityKey))) {
    throw badDescriptorSignature();
  }
}

function badDescriptorSignature(): ConnectError {
  return new ConnectError("descriptor signature does not verify against its identity_key", Code.Unauthenticated);
}

/** All of the above, cheap checks first. */
export function validateSignedDescriptor(signed: SignedDescriptor | undefined, nowMs = Date.now()): ValidDescriptor {
  const v = checkDescriptorShape(signed);
  checkDescriptorTimes(v, nowMs);
  checkDescriptorSignature(v);
  return v;
}
