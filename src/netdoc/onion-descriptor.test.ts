import { randomBytes } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { IntroPointSchema, OnionDescriptorInnerSchema, SignedOnionDescriptorSchema } from "../../gen/meowonion/v1/onion_service_pb.js";
import { blindPublicKey, blindSecretKey, expandEd25519Seed, publicKeyOfExpanded, subcredential } from "../onion/hs/blinding.js";
import { timePeriodAt } from "../onion/hs/time-period.js";
import { checkSignedOnionDescriptor, MAX_ONION_DESCRIPTOR_BYTES, onionDescriptorExpiresMs, openOnionDescriptor, sealOnionDescriptor } from "./onion-descriptor.js";

const now = Date.parse("2026-12-07T12:00:00Z");
const identity = expandEd25519Seed(randomBytes(32));
const A = publicKeyOfExpanded(identity);
const period = timePeriodAt(now);
const blindedKey = blindPublicKey(A, period);
const blindedSecret = blindSecretKey(identity, period);
const subcred = subcredential(A, blindedKey);
const introPoint = create(IntroPointSchema, {
  linkSpecifiers: [{ specifier: { case: "address", value: "127.0.0.1:9001" } }, { specifier: { case: "identityKey", value: randomBytes(32) } }],
  ntorOnionKey: randomBytes(32),
  authKey: randomBytes(32),
  encKey: randomBytes(32),
});
const inner = create(OnionDescriptorInnerSchema, { introPoints: [introPoint] });

function seal(overrides: { lifetimeSeconds?: number; publishedMs?: number; revision?: bigint } = {}) {
  return sealOnionDescriptor(
    {
      version: 3,
      blindedKey,
      periodNum: BigInt(period.number),
      revisionCounter: overrides.revision ?? 7n,
      published: timestampFromMs(overrides.publishedMs ?? now),
      lifetimeSeconds: overrides.lifetimeSeconds ?? 3 * 3600,
    },
    inner,
    subcred,
    blindedSecret,
  );
}

describe("onion-service descriptors", () => {
  it("are signed by the blinded key, and open only with the subcredential", () => {
    const signed = seal();
    const descriptor = checkSignedOnionDescriptor(signed, now);
    expect(descriptor.revisionCounter).toBe(7n);
    expect(onionDescriptorExpiresMs(descriptor)).toBe(now + 3 * 3600_000);
    const opened = openOnionDescriptor(descriptor, subcred);
    expect(opened.introPoints).toHaveLength(1);
    expect(Buffer.from(opened.introPoints[0].encKey)).toEqual(Buffer.from(introPoint.encKey));
    // Another service's subcredential (an HSDir that does not know the address) reads nothing.
    expect(() => openOnionDescriptor(descriptor, randomBytes(32))).toThrow(expect.objectContaining({ reason: "bad-descriptor" }));
  });

  it("are refused when altered, expired, from the future, too long-lived or too large", () => {
    const refused = expect.objectContaining({ reason: "bad-descriptor" });
    const signed = seal();
    const altered = create(SignedOnionDescriptorSchema, { descriptor: Uint8Array.from(signed.descriptor), signature: signed.signature });
    altered.descriptor[altered.descriptor.length - 1] ^= 1;
    expect(() => checkSignedOnionDescriptor(altered, now)).toThrow(refused);
    expect(() => checkSignedOnionDescriptor(signed, now + 3 * 3600_000)).toThrow(refused);
    expect(() => checkSignedOnionDescriptor(seal({ publishedMs: now + 10 * 60_000 }), now)).toThrow(refused);
    expect(() => checkSignedOnionDescriptor(seal({ lifetimeSeconds: 3 * 3600 + 1 }), now)).toThrow(refused);
    const huge = create(SignedOnionDescriptorSchema, { descriptor: new Uint8Array(MAX_ONION_DESCRIPTOR_BYTES), signature: signed.signature });
    expect(() => checkSignedOnionDescriptor(huge, now)).toThrow(refused);
    // Signed by the unblinded identity key instead: the blinded key in it does not verify.
    const byIdentity = sealOnionDescriptor({ version: 3, blindedKey, periodNum: 1n, revisionCounter: 1n, published: timestampFromMs(now), lifetimeSeconds: 60 }, inner, subcred, identity);
    expect(() => checkSignedOnionDescriptor(byIdentity, now)).toThrow(refused);
  });
});
