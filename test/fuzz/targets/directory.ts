/**
 * Fuzz targets for what the directory side decodes: signed descriptors (the authority's
 * validation), heartbeats, exit policies (text and rules), and signed consensuses (the
 * client's verification, then path selection over whatever relays a consensus lists).
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import fc from "fast-check";
import { ConsensusSchema, RelayFlag, SignedConsensusSchema } from "../../../gen/meowonion/v1/consensus_pb.js";
import { ExitAction, ExitPolicySchema, RelayDescriptorSchema, SignedDescriptorSchema } from "../../../gen/meowonion/v1/descriptor_pb.js";
import { HeartbeatBodySchema, HeartbeatRequestSchema } from "../../../gen/meowonion/v1/directory_pb.js";
import { validateSignedDescriptor } from "../../../src/netdoc/descriptor.js";
import { ExitPolicyError, exitPolicyAcceptsAny, exitPolicyAllows, formatExitPolicy, parseExitPolicy, validateExitPolicy } from "../../../src/netdoc/exit-policy.js";
import { checkHeartbeatTime, decodeHeartbeat, verifyHeartbeatSignature } from "../../../src/netdoc/heartbeat.js";
import { DOMAIN_CONSENSUS, DOMAIN_DESCRIPTOR, DOMAIN_HEARTBEAT, generateEd25519KeyPair, signWithDomain } from "../../../src/onion/signing.js";
import { MeowOnionError } from "../../../src/onion/errors.js";
import { PathError, exitCandidates, selectPath } from "../../../src/proxy/path.js";
import type { FuzzTarget } from "../harness.js";
import { mutated } from "../mutate.js";
import { protoWire } from "../protowire.js";
import { ConsensusVerificationError, verifySignedConsensus } from "../../../src/netdoc/consensus.js";

/** Codes a refusal may carry: anything else (Internal, Unknown) means an unhandled failure. */
export const REFUSAL_CODES = new Set([
  Code.InvalidArgument,
  Code.ResourceExhausted,
  Code.Unauthenticated,
  Code.OutOfRange,
  Code.AlreadyExists,
  Code.FailedPrecondition,
  Code.NotFound,
  Code.Unavailable,
]);

const isRefusal = (error: unknown): boolean => error instanceof ConnectError && REFUSAL_CODES.has(error.code);

class InvariantError extends Error {
  override readonly name = "InvariantError";
}

const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });
const relayKey = generateEd25519KeyPair();
const now = Date.now();

const addressText = fc.oneof(
  fc.constantFrom("127.0.0.1", "10.77.0.5", "0.0.0.0", "255.255.255.255", "224.0.0.1", "::1", "2001:db8::1", "::", "1.2.3", "01.2.3.4", "1.2.3.4 ", "ff02::1", "::ffff:1.2.3.4", ""),
  fc.ipV4(),
  fc.ipV6(),
  fc.string({ maxLength: 50 }),
);

const timeMs = fc.oneof(
  fc.integer({ min: now - 3_600_000, max: now + 3_600_000 }),
  fc.constantFrom(now, now + 48 * 3600_000, now + 48 * 3600_000 + 1, 0, -1, 8.64e15, -8.64e15),
  fc.integer({ min: -1e15, max: 1e15 }),
);

/** Mostly a valid value, sometimes an invalid one: every check gets reached with invalid input. */
function usually<T>(valid: fc.Arbitrary<T>, invalid: fc.Arbitrary<T>): fc.Arbitrary<T> {
  return fc.oneof({ weight: 12, arbitrary: valid }, { weight: 1, arbitrary: invalid });
}

const validRule = fc.record({
  action: fc.constantFrom(ExitAction.ACCEPT, ExitAction.REJECT),
  addressPrefix: fc.constantFrom("*", "127.0.0.0/8", "10.77.0.0/24", "::/0", "2001:db8::/32", "127.0.0.1"),
  portMin: fc.integer({ min: 1, max: 80 }),
  portMax: fc.integer({ min: 443, max: 65535 }),
});

const ruleInit = usually(validRule, fc.record({
  action: fc.constantFrom(0, 1, 2, 3) as fc.Arbitrary<ExitAction>,
  addressPrefix: fc.oneof(fc.constantFrom("*", "127.0.0.0/8", "10.0.0.0/33", "::/0", "[::1]", "1.2.3.4/-1", "0.0.0.0/0"), addressText, addressText.map((a) => `${a}/${a.length}`)),
  portMin: fc.oneof(fc.integer({ min: 0, max: 70000 }), fc.constantFrom(0, 1, 80, 65535, 65536)),
  portMax: fc.oneof(fc.integer({ min: 0, max: 70000 }), fc.constantFrom(0, 1, 443, 65535, 65536)),
}));

const validTimes = fc.integer({ min: now - 3_600_000, max: now + 60_000 }).map((p) => ({ published: timestampFromMs(p), expires: timestampFromMs(p + 24 * 3600_000) }));
const anyTimes = fc.record({
  published: fc.option(timeMs.map((ms) => timestampFromMs(ms)), { nil: undefined }),
  expires: fc.option(timeMs.map((ms) => timestampFromMs(ms + 3_600_000)), { nil: undefined }),
});

const descriptorInit = fc.tuple(
  fc.record({
    nickname: usually(fc.stringMatching(/^[A-Za-z0-9]{1,19}$/), fc.oneof(fc.constantFrom("x".repeat(20), "", "bad name", "ünï"), fc.string({ maxLength: 24 }))),
    identityKey: usually(fc.constant(relayKey.publicKey), bytes(0, 40)),
    ntorOnionKey: usually(bytes(32, 32), bytes(0, 40)),
    ipv4Address: usually(fc.constantFrom("127.0.0.1", "127.0.0.2", "10.77.0.3"), addressText),
    ipv6Address: usually(fc.constant(""), addressText),
    orPort: usually(fc.integer({ min: 1, max: 65535 }), fc.constantFrom(0, 65536, 4294967295)),
    exitPolicy: fc.option(fc.array(ruleInit, { maxLength: 5 }).map((rules) => ({ rules })), { nil: undefined }),
    bandwidth: fc.option(fc.record({ averageBytesPerSecond: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), burstBytesPerSecond: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), observedBytesPerSecond: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) }), { nil: undefined }),
    family: usually(fc.array(bytes(32, 32), { maxLength: 3 }), fc.array(bytes(0, 40), { maxLength: 70 })),
    softwareVersion: usually(fc.string({ maxLength: 30 }), fc.string({ minLength: 60, maxLength: 80 })),
  }),
  usually(validTimes, anyTimes),
).map(([d, t]) => ({ ...d, ...t }));

const descriptorBytes = descriptorInit.map((d) => toBinary(RelayDescriptorSchema, create(RelayDescriptorSchema, d)));

/** Mostly-valid serialized RelayDescriptors naming `identityKey` (for the RPC target). */
export function descriptorArbitrary(identityKey: Uint8Array): fc.Arbitrary<Uint8Array> {
  return descriptorInit.map((d) => toBinary(RelayDescriptorSchema, create(RelayDescriptorSchema, { ...d, identityKey: d.identityKey === relayKey.publicKey ? identityKey : d.identityKey })));
}

export const descriptorTarget: FuzzTarget<{ descriptor: Uint8Array; signature: Uint8Array }> = {
  name: "descriptors",
  description: "validateSignedDescriptor (authority): random/mutated RelayDescriptor bytes, signed correctly or not",
  arbitrary: fc.oneof(
    // Correctly signed (by the key most of them name), so the field checks behind the signature are reached.
    fc.oneof({ weight: 3, arbitrary: descriptorBytes }, { weight: 3, arbitrary: mutated(descriptorBytes, 2) }, { weight: 1, arbitrary: protoWire }).map((descriptor) => ({ descriptor, signature: signWithDomain(DOMAIN_DESCRIPTOR, descriptor, relayKey.privateKey) })),
    // Bad signatures.
    fc.record({ descriptor: fc.oneof(mutated(descriptorBytes), protoWire, bytes(0, 9000)), signature: fc.oneof(bytes(64, 64), bytes(0, 70)) }),
  ),
  run({ descriptor, signature }) {
    const valid = validateSignedDescriptor(create(SignedDescriptorSchema, { descriptor, signature }), now);
    if (valid.expiresMs <= now || valid.descriptor.identityKey.length !== 32) throw new InvariantError("accepted an expired or keyless descriptor");
  },
  typed: isRefusal,
};

const heartbeatBody = fc
  .record({
    identityKey: usually(fc.constant(relayKey.publicKey), bytes(0, 40)),
    sentAt: usually(
      fc.integer({ min: now - 70_000, max: now + 70_000 }).map((ms) => timestampFromMs(ms)),
      fc.option(fc.oneof(timeMs.map((ms) => timestampFromMs(ms)), fc.record({ seconds: fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }), nanos: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }) })), { nil: undefined }),
    ),
    nonce: usually(bytes(16, 16), bytes(0, 20)),
  })
  .map((b) => toBinary(HeartbeatBodySchema, create(HeartbeatBodySchema, b)));

export const heartbeatTarget: FuzzTarget<{ heartbeat: Uint8Array; signature: Uint8Array }> = {
  name: "heartbeats",
  description: "decodeHeartbeat + signature + clock checks (authority) on random/mutated HeartbeatBody bytes",
  arbitrary: fc.oneof(
    fc.oneof({ weight: 3, arbitrary: heartbeatBody }, { weight: 3, arbitrary: mutated(heartbeatBody, 2) }, { weight: 1, arbitrary: protoWire }).map((heartbeat) => ({ heartbeat, signature: signWithDomain(DOMAIN_HEARTBEAT, heartbeat, relayKey.privateKey) })),
    fc.record({ heartbeat: fc.oneof(mutated(heartbeatBody), bytes(0, 300)), signature: fc.oneof(bytes(64, 64), bytes(0, 70)) }),
  ),
  run(input) {
    const decoded = decodeHeartbeat(create(HeartbeatRequestSchema, input));
    verifyHeartbeatSignature(decoded);
    checkHeartbeatTime(decoded, now);
  },
  typed: isRefusal,
};

const policyText = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.array(
    fc.tuple(
      fc.constantFrom("accept", "reject", "ACCEPT", "allow", ""),
      fc.oneof(fc.constantFrom("*", "127.0.0.0/8", "[::1]", "[2001:db8::]/32", "1.2.3.4/33", "::1"), addressText),
      fc.oneof(fc.constantFrom("*", "80", "1-65535", "0", "65536", "443-80", "-", "99999", "1-2-3"), fc.string({ maxLength: 8 })),
    ).map(([a, addr, ports]) => `${a} ${addr}:${ports}`),
    { maxLength: 6 },
  ).map((rules) => rules.join(",")),
);

export const exitPolicyTarget: FuzzTarget<{ text: string; rules: unknown[]; address: string; port: number }> = {
  name: "exit-policies",
  description: "parseExitPolicy (text), validateExitPolicy (rules), exitPolicyAllows / AcceptsAny / format on what parses",
  arbitrary: fc.record({
    text: policyText,
    rules: fc.array(ruleInit, { maxLength: 8 }),
    address: addressText,
    port: fc.oneof(fc.integer({ min: -1, max: 70000 }), fc.constantFrom(80, 443, 0, 65535)),
  }),
  run({ text, rules, address, port }) {
    const policy = create(ExitPolicySchema, { rules: rules as never });
    // Evaluating an unvalidated policy (a proxy reads them from the consensus) must not throw.
    exitPolicyAllows(policy, address, port);
    exitPolicyAllows(policy, undefined, port);
    exitPolicyAcceptsAny(policy);
    let failure: unknown;
    try {
      validateExitPolicy(policy);
    } catch (error) {
      failure = error;
      if (!(error instanceof ExitPolicyError)) throw error;
    }
    const parsed = parseExitPolicy(text);
    const again = parseExitPolicy(formatExitPolicy(parsed));
    if (parsed.rules.length > 0 && again.rules.length !== parsed.rules.length) throw new InvariantError(`format/parse lost rules: ${text}`);
    if (failure !== undefined) throw failure;
  },
  typed: (error) => error instanceof ExitPolicyError,
};

// ---------------------------------------------------------------------------------------------
// Consensus: signed by the pinned authority (so decoding and use are reached) or not.

const authority = generateEd25519KeyPair();
const otherAuthority = generateEd25519KeyPair();

const consensusRelay = fc.record({
  nickname: fc.string({ maxLength: 20 }),
  identityKey: fc.oneof(bytes(32, 32), bytes(0, 40)),
  ntorOnionKey: fc.oneof(bytes(32, 32), bytes(0, 40)),
  ipv4Address: addressText,
  ipv6Address: fc.oneof(fc.constant(""), addressText),
  orPort: fc.oneof(fc.integer({ min: 1, max: 65535 }), fc.constantFrom(0, 70000)),
  flags: fc.array(fc.integer({ min: 0, max: 9 }), { maxLength: 8 }) as fc.Arbitrary<RelayFlag[]>,
  bandwidthWeight: fc.oneof(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.constantFrom(0n, 1n, 10_000_000_000n, (1n << 64n) - 1n)),
  exitPolicy: fc.option(fc.array(ruleInit, { maxLength: 4 }).map((rules) => ({ rules })), { nil: undefined }),
  family: fc.array(fc.oneof(bytes(32, 32), bytes(0, 8)), { maxLength: 3 }),
  descriptorDigest: bytes(0, 32),
});

const usableFlags = [RelayFlag.RUNNING, RelayFlag.VALID, RelayFlag.FAST, RelayFlag.GUARD, RelayFlag.EXIT];

const consensusBytes = fc
  .record({
    validAfter: usually(fc.constant(timestampFromMs(now - 60_000)), fc.option(timeMs.map((ms) => timestampFromMs(ms)), { nil: undefined })),
    freshUntil: usually(fc.constant(timestampFromMs(now)), fc.option(timeMs.map((ms) => timestampFromMs(ms)), { nil: undefined })),
    validUntil: usually(fc.constant(timestampFromMs(now + 120_000)), fc.option(timeMs.map((ms) => timestampFromMs(ms)), { nil: undefined })),
    relays: fc.array(
      fc.oneof(
        consensusRelay,
        consensusRelay.map((r) => ({ ...r, flags: usableFlags })),
        consensusRelay.map((r) => ({ ...r, flags: usableFlags, exitPolicy: { rules: [{ action: ExitAction.ACCEPT, addressPrefix: "*", portMin: 1, portMax: 65535 }] } })),
      ),
      { maxLength: 8 },
    ),
    authorityKeys: fc.array(bytes(32, 32), { maxLength: 3 }),
  })
  .map((c) => toBinary(ConsensusSchema, create(ConsensusSchema, c)));

export const consensusTarget: FuzzTarget<{ consensus: Uint8Array; signatures: { authorityKey: Uint8Array; signature: Uint8Array }[]; port: number; hops: number; address: string }> = {
  name: "consensus",
  description: "verifySignedConsensus (client, 1 pinned key) on random/mutated consensus bytes and signature sets, then selectPath/exitCandidates over what verifies",
  arbitrary: fc.record({
    consensus: fc.oneof({ weight: 4, arbitrary: consensusBytes }, { weight: 3, arbitrary: mutated(consensusBytes, 2) }, { weight: 1, arbitrary: protoWire }, { weight: 1, arbitrary: bytes(0, 2000) }),
    how: fc.oneof({ weight: 6, arbitrary: fc.constant("pinned") }, { weight: 1, arbitrary: fc.constantFrom("pinned-twice", "other", "random", "none", "many") }),
    sig: bytes(64, 64),
    port: fc.integer({ min: 0, max: 65536 }),
    hops: usually(fc.integer({ min: 1, max: 3 }), fc.integer({ min: -1, max: 9 })),
    address: addressText,
  }).map(({ consensus, how, sig, port, hops, address }) => {
    const good = { authorityKey: authority.publicKey, signature: signWithDomain(DOMAIN_CONSENSUS, consensus, authority.privateKey) };
    const signatures =
      how === "pinned" ? [good]
      : how === "pinned-twice" ? [{ authorityKey: authority.publicKey, signature: sig }, good, good]
      : how === "other" ? [{ authorityKey: otherAuthority.publicKey, signature: signWithDomain(DOMAIN_CONSENSUS, consensus, otherAuthority.privateKey) }]
      : how === "random" ? [{ authorityKey: authority.publicKey, signature: sig }]
      : how === "many" ? Array.from({ length: 17 }, () => good)
      : [];
    return { consensus, signatures, port, hops, address };
  }),
  run({ consensus, signatures, port, hops, address }) {
    const signed = create(SignedConsensusSchema, { consensus, signatures });
    // Round trip through bytes, as it arrives over the wire.
    const verified = verifySignedConsensus(signed, [authority.publicKey], new Date(now));
    exitCandidates(verified.relays, { port, address });
    exitCandidates(verified.relays, undefined);
    const path = selectPath(verified.relays, { hops, exitTo: { port, address: port % 3 === 0 ? address : undefined }, guards: verified.relays.slice(0, 1).map((r) => r.identityKey), enforceDistinctSubnets: port % 2 === 0 });
    if (path.relays.length !== hops) throw new InvariantError(`path of ${path.relays.length} relays for ${hops} hops`);
  },
  // A refused consensus, no path, or a hop count no circuit can have.
  typed: (error) => error instanceof ConsensusVerificationError || error instanceof PathError || (error instanceof MeowOnionError && error.kind === "invalid-argument"),
};

export const directoryTargets: FuzzTarget<any>[] = [descriptorTarget, heartbeatTarget, exitPolicyTarget, consensusTarget];
