/** Signed documents (descriptor.proto SIGNATURES, directory.proto HeartbeatRequest, consensus.proto). */
import { randomBytes } from "node:crypto";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { type Consensus, ConsensusSchema, type SignedConsensus } from "../../gen/meowonion/v1/consensus_pb.js";
import { type RelayDescriptor, RelayDescriptorSchema, type SignedDescriptor, SignedDescriptorSchema } from "../../gen/meowonion/v1/descriptor_pb.js";
import { HeartbeatBodySchema, type HeartbeatRequest, HeartbeatRequestSchema } from "../../gen/meowonion/v1/directory_pb.js";
import { u8 } from "./bytes.js";
import { DOMAIN, type Ed25519Key, type X25519Key, signDomain, verifyDomain } from "./crypto.js";
import { parseExitPolicy } from "./exit-policy.js";

export interface DescriptorParams {
  identity: Ed25519Key;
  onionKey: X25519Key | Uint8Array;
  host: string;
  port: number;
  nickname?: string;
  exitPolicy?: string;
  publishedMs?: number;
  expiresMs?: number;
  averageBw?: number;
  observedBw?: number;
  /** Mutate the descriptor before serialisation (to build invalid ones). */
  mutate?: (d: RelayDescriptor) => void;
  /** Append raw bytes to the serialised descriptor (unknown fields), before signing. */
  appendBytes?: Uint8Array;
  /** Sign with this key instead of the identity key. */
  signWith?: Ed25519Key;
  /** Flip a bit of the signature. */
  corruptSignature?: boolean;
}

export function buildDescriptor(p: DescriptorParams): { signed: SignedDescriptor; descriptor: RelayDescriptor; bytes: Uint8Array } {
  const now = p.publishedMs ?? Date.now();
  const d = create(RelayDescriptorSchema, {
    nickname: p.nickname ?? "conformance",
    identityKey: p.identity.publicKey,
    ntorOnionKey: p.onionKey instanceof Uint8Array ? p.onionKey : p.onionKey.publicKey,
    ipv4Address: p.host,
    orPort: p.port,
    exitPolicy: p.exitPolicy ? parseExitPolicy(p.exitPolicy) : undefined,
    bandwidth: { averageBytesPerSecond: BigInt(p.averageBw ?? 1_000_000), burstBytesPerSecond: BigInt(p.averageBw ?? 1_000_000) * 2n, observedBytesPerSecond: BigInt(p.observedBw ?? 0) },
    published: timestampFromMs(Math.floor(now / 1000) * 1000),
    expires: timestampFromMs(Math.floor((p.expiresMs ?? now + 24 * 3600_000) / 1000) * 1000),
    softwareVersion: "meowonion-conformance 1",
  });
  p.mutate?.(d);
  let bytes = toBinary(RelayDescriptorSchema, d);
  if (p.appendBytes) bytes = Buffer.concat([bytes, p.appendBytes]);
  const signature = signDomain(p.signWith ?? p.identity, DOMAIN.descriptor, bytes);
  if (p.corruptSignature) signature[10] ^= 0x20;
  return { signed: create(SignedDescriptorSchema, { descriptor: bytes, signature }), descriptor: d, bytes };
}

export function buildHeartbeat(
  identity: Ed25519Key,
  opts: { sentAtMs?: number; nonce?: Uint8Array; signWith?: Ed25519Key; corruptSignature?: boolean } = {},
): HeartbeatRequest {
  const body = toBinary(
    HeartbeatBodySchema,
    create(HeartbeatBodySchema, { identityKey: identity.publicKey, sentAt: timestampFromMs(opts.sentAtMs ?? Date.now()), nonce: opts.nonce ?? u8(randomBytes(16)) }),
  );
  const signature = signDomain(opts.signWith ?? identity, DOMAIN.heartbeat, body);
  if (opts.corruptSignature) signature[3] ^= 0x01;
  return create(HeartbeatRequestSchema, { heartbeat: body, signature });
}

/** Verify a SignedConsensus against one authority key, then decode. */
export function verifyConsensus(sc: SignedConsensus, authorityKey: Uint8Array): { ok: boolean; consensus?: Consensus; why?: string } {
  const sig = sc.signatures.find((s) => Buffer.from(s.authorityKey).equals(Buffer.from(authorityKey)));
  if (!sig) return { ok: false, why: `no signature by the authority key (signatures by ${sc.signatures.map((s) => Buffer.from(s.authorityKey).toString("hex").slice(0, 16)).join(", ") || "nobody"})` };
  if (!verifyDomain(authorityKey, DOMAIN.consensus, sc.consensus, sig.signature)) return { ok: false, why: "signature by the authority key does not verify over meowonion-consensus-v1|0x00|consensus" };
  try {
    return { ok: true, consensus: fromBinary(ConsensusSchema, sc.consensus) };
  } catch (e) {
    return { ok: false, why: `consensus bytes do not decode: ${(e as Error).message}` };
  }
}

export function decodeDescriptor(sd: SignedDescriptor): RelayDescriptor {
  return fromBinary(RelayDescriptorSchema, sd.descriptor);
}

export { timestampFromMs, timestampMs };
