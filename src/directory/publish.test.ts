/**
 * PublishDescriptor and GetDescriptor over real HTTP/2: every refusal with its Code, and the
 * rule that only a relay's own key can replace its entry.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  ExitAction,
  RelayFeature,
  RelayDescriptorSchema,
  SignedDescriptorSchema,
} from "../../gen/meowonion/v1/descriptor_pb.js";
import { DOMAIN_DESCRIPTOR, generateEd25519KeyPair, signWithDomain } from "../onion/signing.js";
import type { DirectoryClient } from "../netdoc/directory-client.js";
import { buildSignedDescriptor, hex, sha256 } from "../netdoc/descriptor.js";
import { codeOf, makeRelay, type DescriptorOverrides, type TestRelay } from "../../test/helpers/directory.js";
import { Cleanups } from "../../test/helpers/cleanups.js";
import { startTestDirectory } from "../../test/helpers/in-process-network.js";

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

let client: DirectoryClient;
let relay: TestRelay;

beforeEach(async () => {
  ({ client } = await startTestDirectory(cleanups, { maxRelays: 3 }));
  relay = await makeRelay(cleanups, { listen: false });
});

const publish = (descriptor: ReturnType<TestRelay["descriptor"]> | undefined) => client.rpc.publishDescriptor({ descriptor });
const publishWith = (overrides: DescriptorOverrides) => publish(relay.descriptor(overrides));

describe("PublishDescriptor", () => {
  it("stores a valid descriptor, answers its digest and serves it back byte for byte", async () => {
    const signed = relay.descriptor();
    const res = await publish(signed);
    expect(res.descriptorDigest).toBe(hex(sha256(signed.descriptor)));
    const got = await client.rpc.getDescriptor({ identityKey: relay.identity.publicKey });
    expect(Buffer.from(got.descriptor!.descriptor)).toEqual(Buffer.from(signed.descriptor));
    expect(Buffer.from(got.descriptor!.signature)).toEqual(Buffer.from(signed.signature));
  });

  it("refuses a bad signature with UNAUTHENTICATED", async () => {
    const signed = relay.descriptor();
    signed.signature[0] ^= 1;
    expect(await codeOf(publish(signed))).toBe(Code.Unauthenticated);
  });

  it("lets only the identity key replace its entry", async () => {
    const genuine = relay.descriptor();
    await publish(genuine);
    // Same identity_key inside, but signed by someone else's key.
    const impostor = generateEd25519KeyPair();
    const bytes = toBinary(
      RelayDescriptorSchema,
      create(RelayDescriptorSchema, {
        nickname: "Impostor",
        identityKey: relay.identity.publicKey,
        ntorOnionKey: new Uint8Array(32).fill(1),
        ipv4Address: "192.0.2.66",
        orPort: 443,
        published: timestampFromMs(Date.now() + 1000),
        expires: timestampFromMs(Date.now() + 3600_000),
      }),
    );
    const forged = create(SignedDescriptorSchema, { descriptor: bytes, signature: signWithDomain(DOMAIN_DESCRIPTOR, bytes, impostor.privateKey) });
    expect(await codeOf(publish(forged))).toBe(Code.Unauthenticated);
    const held = await client.rpc.getDescriptor({ identityKey: relay.identity.publicKey });
    expect(Buffer.from(held.descriptor!.descriptor)).toEqual(Buffer.from(genuine.descriptor));
  });

  it("refuses published times beyond the clock skew and expired descriptors with OUT_OF_RANGE", async () => {
    const now = Date.now();
    const future = publishWith({ published: timestampFromMs(now + 6 * 60_000), expires: timestampFromMs(now + 3600_000) });
    expect(await codeOf(future)).toBe(Code.OutOfRange);
    const expired = publishWith({ published: timestampFromMs(now - 7200_000), expires: timestampFromMs(now - 60_000) });
    expect(await codeOf(expired)).toBe(Code.OutOfRange);
    // Within the skew is fine.
    await publishWith({ published: timestampFromMs(now + 4 * 60_000), expires: timestampFromMs(now + 3600_000) });
  });

  it("refuses identical bytes with ALREADY_EXISTS and older or same-time ones with FAILED_PRECONDITION", async () => {
    const now = Date.now();
    const current = relay.descriptor({ published: timestampFromMs(now), expires: timestampFromMs(now + 3600_000) });
    await publish(current);
    expect(await codeOf(publish(current))).toBe(Code.AlreadyExists);
    const older = relay.descriptor({ published: timestampFromMs(now - 1000), expires: timestampFromMs(now + 3600_000) });
    expect(await codeOf(publish(older))).toBe(Code.FailedPrecondition);
    const sameTime = relay.descriptor({ published: timestampFromMs(now), expires: timestampFromMs(now + 3600_000), nickname: "Other" });
    expect(await codeOf(publish(sameTime))).toBe(Code.FailedPrecondition);
    const newer = relay.descriptor({ published: timestampFromMs(now + 1000), expires: timestampFromMs(now + 3600_000) });
    await publish(newer);
  });

  it("refuses a signed descriptor above 8 KiB and a request above 64 KiB with RESOURCE_EXHAUSTED", async () => {
    const big = relay.descriptor({ softwareVersion: "x".repeat(60) });
    big.descriptor = new Uint8Array(9 * 1024);
    expect(await codeOf(publish(big))).toBe(Code.ResourceExhausted);
    big.descriptor = new Uint8Array(70 * 1024);
    expect(await codeOf(publish(big))).toBe(Code.ResourceExhausted);
  });

  it("refuses new identities beyond the relay limit with RESOURCE_EXHAUSTED", async () => {
    for (let i = 0; i < 3; i++) await publish((await makeRelay(cleanups, { listen: false })).descriptor());
    expect(await codeOf(publish(relay.descriptor()))).toBe(Code.ResourceExhausted);
  });

  it.each<[string, DescriptorOverrides]>([
    ["unspecified IPv4 address", { ipv4Address: "0.0.0.0" }],
    ["multicast IPv4 address", { ipv4Address: "224.0.0.1" }],
    ["broadcast IPv4 address", { ipv4Address: "255.255.255.255" }],
    ["hostname as address", { ipv4Address: "localhost" }],
    ["no address at all", { ipv4Address: "" }],
    ["non-RFC 5952 IPv6 text", { ipv6Address: "2001:DB8:0:0::1" }],
    ["port 0", { orPort: 0 }],
    ["port above 65535", { orPort: 70_000 }],
    ["empty nickname", { nickname: "" }],
    ["nickname with a space", { nickname: "meow cat" }],
    ["nickname of 20 characters", { nickname: "a".repeat(20) }],
    ["short identity key", { identityKey: new Uint8Array(31) }],
    ["short onion key", { ntorOnionKey: new Uint8Array(16) }],
    ["exit rule without action", { exitPolicy: { $typeName: "meowonion.v1.ExitPolicy", rules: [{ $typeName: "meowonion.v1.ExitRule", action: ExitAction.UNSPECIFIED, addressPrefix: "*", portMin: 1, portMax: 2 }] } }],
    ["exit rule with bad ports", { exitPolicy: { $typeName: "meowonion.v1.ExitPolicy", rules: [{ $typeName: "meowonion.v1.ExitRule", action: ExitAction.ACCEPT, addressPrefix: "*", portMin: 80, portMax: 79 }] } }],
    ["family member of 5 bytes", { family: [new Uint8Array(5)] }],
    ["65 family members", { family: Array.from({ length: 65 }, () => new Uint8Array(32)) }],
    ["software version of 65 bytes", { softwareVersion: "v".repeat(65) }],
    ["features out of order", { features: [2 as RelayFeature, RelayFeature.CONGESTION_CONTROL] }],
    ["a feature listed twice", { features: [RelayFeature.CONGESTION_CONTROL, RelayFeature.CONGESTION_CONTROL] }],
    ["RELAY_FEATURE_UNSPECIFIED", { features: [RelayFeature.UNSPECIFIED] }],
    ["17 features", { features: Array.from({ length: 17 }, (_, i) => (i + 1) as RelayFeature) }],
    ["missing published", { published: undefined }],
    ["expires before published", { published: timestampFromMs(Date.now()), expires: timestampFromMs(Date.now() - 1) }],
    ["lifetime above 48 hours", { published: timestampFromMs(Date.now()), expires: timestampFromMs(Date.now() + 49 * 3600_000) }],
  ])("refuses %s with INVALID_ARGUMENT", async (_what, overrides) => {
    // A relay key must sign whatever identity_key is inside for the refusal to be about the field.
    const err = await publishWith(overrides).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect(await codeOf(Promise.reject(err))).toBe(Code.InvalidArgument);
    expect((err as Error).message.length).toBeGreaterThan(20); // says what was wrong
  });

  it("refuses a missing descriptor, bytes that do not decode and a short signature with INVALID_ARGUMENT", async () => {
    expect(await codeOf(publish(undefined))).toBe(Code.InvalidArgument);
    const garbage = create(SignedDescriptorSchema, { descriptor: new Uint8Array([0xff, 0xff, 0xff]), signature: new Uint8Array(64) });
    expect(await codeOf(publish(garbage))).toBe(Code.InvalidArgument);
    const short = relay.descriptor();
    short.signature = short.signature.subarray(0, 10);
    expect(await codeOf(publish(short))).toBe(Code.InvalidArgument);
  });

  it("accepts an IPv6-only relay with RFC 5952 text, and refuses the same address in other text", async () => {
    const signed = relay.descriptor({ ipv4Address: "", ipv6Address: "2001:db8::1" });
    expect((await publish(signed)).descriptorDigest).toBe(hex(sha256(signed.descriptor)));
    const got = await client.rpc.getDescriptor({ identityKey: relay.identity.publicKey });
    expect(fromBinary(RelayDescriptorSchema, got.descriptor!.descriptor)).toMatchObject({ ipv4Address: "", ipv6Address: "2001:db8::1" });
    expect(await codeOf(publishWith({ ipv4Address: "", ipv6Address: "2001:DB8:0::1" }))).toBe(Code.InvalidArgument);
  });
});

describe("GetDescriptor", () => {
  it("answers NOT_FOUND for an unknown key and INVALID_ARGUMENT for a key that is not 32 bytes", async () => {
    expect(await codeOf(client.rpc.getDescriptor({ identityKey: generateEd25519KeyPair().publicKey }))).toBe(Code.NotFound);
    expect(await codeOf(client.rpc.getDescriptor({ identityKey: new Uint8Array(31) }))).toBe(Code.InvalidArgument);
  });

  it("is served to a relay that signed with buildSignedDescriptor from plain init values", async () => {
    const identity = generateEd25519KeyPair();
    const signed = buildSignedDescriptor(
      {
        nickname: "Plain",
        identityKey: identity.publicKey,
        ntorOnionKey: new Uint8Array(32).fill(3),
        ipv4Address: "10.1.2.3",
        orPort: 9001,
        published: timestampFromMs(Date.now()),
        expires: timestampFromMs(Date.now() + 60_000),
      },
      identity.privateKey,
    );
    await publish(signed);
    const got = await client.rpc.getDescriptor({ identityKey: identity.publicKey });
    expect(Buffer.from(got.descriptor!.signature)).toEqual(Buffer.from(signed.signature));
  });
});
