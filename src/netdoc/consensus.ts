/**
 * The consensus validity rule of consensus.proto, as every client applies it: signatures by a
 * majority of the pinned authority keys over the exact bytes, and now < valid_until.
 */
import { createHash } from "node:crypto";
import { fromBinary } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { ConsensusSchema, type AuthoritySignature, type Consensus, type SignedConsensus } from "../../gen/meowonion/v1/consensus_pb.js";
import { MeowOnionError } from "../onion/errors.js";
import { DOMAIN_CONSENSUS, verifyWithDomain } from "../onion/signing.js";

export const MAX_CONSENSUS_SIGNATURES = 16;
export type ConsensusErrorReason = "no-pinned-keys" | "malformed" | "not-enough-signatures" | "expired" | "bad-diff";

/** A consensus the client must not use; `reason` says why. */
export class ConsensusVerificationError extends MeowOnionError {
  override readonly name = "ConsensusVerificationError";

  constructor(
    readonly reason: ConsensusErrorReason,
    message: string,
  ) {
    super("directory-failure", message);
  }

  override get code(): string {
    return this.reason;
  }
}

/** floor(n/2) + 1: the majority of n authorities. */
export function majority(n: number): number {
  return Math.floor(n / 2) + 1;
}

/** True if `ms` lies within JavaScript's Date range: a timestamp beyond it is no real time. */
export function isRepresentableMs(ms: number): boolean {
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15;
}

/**
 * Returns the consensus if valid signatures by a majority of the distinct pinned keys cover
 * its exact bytes and `now` is before valid_until. Signatures by unknown keys, duplicates and
 * bad signatures do not count.
 */
export function verifySignedConsensus(signed: SignedConsensus, pinnedAuthorityKeys: Uint8Array[], now: Date = new Date()): Consensus {
  const pinned = new Map(pinnedAuthorityKeys.map((k) => [Buffer.from(k).toString("hex"), k]));
  if (pinned.size === 0) throw new ConsensusVerificationError("no-pinned-keys", "no authority keys are pinned");
  if (signed.signatures.length > MAX_CONSENSUS_SIGNATURES) {
    throw new ConsensusVerificationError("malformed", `consensus carries ${signed.signatures.length} signatures; at most ${MAX_CONSENSUS_SIGNATURES} are allowed`);
  }
  const checked = remembered(createHash("sha256").update(signed.consensus).digest("hex"));
  const signers = new Set<string>();
  for (const s of signed.signatures) {
    const keyHex = Buffer.from(s.authorityKey).toString("hex");
    if (signers.has(keyHex) || !pinned.has(keyHex)) continue;
    if (signatureValid(checked, signed.consensus, keyHex, s)) signers.add(keyHex);
  }
  const needed = majority(pinned.size);
  if (signers.size < needed) {
    throw new ConsensusVerificationError(
      "not-enough-signatures",
      `consensus has valid signatures from ${signers.size} of ${pinned.size} pinned authorities; ${needed} are needed`,
    );
  }
  const consensus = decoded(checked, signed.consensus);
  if (consensus.validAfter === undefined || consensus.freshUntil === undefined || consensus.validUntil === undefined) {
    throw new ConsensusVerificationError("malformed", "consensus lacks valid_after, fresh_until or valid_until");
  }
  const validUntil = timestampMs(consensus.validUntil);
  if (!isRepresentableMs(validUntil)) {
    throw new ConsensusVerificationError("malformed", "consensus valid_until is outside the representable time range");
  }
  if (now.getTime() >= validUntil) {
    throw new ConsensusVerificationError("expired", `consensus expired at ${new Date(validUntil).toISOString()}`);
  }
  return consensus;
}


/**
 * The last consensuses checked in this process, by SHA-256 of their bytes: the decoded
 * consensus (read-only: its relay list is frozen) and which signatures verified. Every relay
 * of a local network, and every client of one process, checks the same consensus: decoding
 * 1,000 relays' worth costs milliseconds, and a thousand relays in one process each did it.
 */
interface Checked {
  consensus?: Consensus | ConsensusVerificationError;
  /** "key hex:signature hex" → it verifies. */
  signatures: Map<string, boolean>;
}
const recent = new Map<string, Checked>();
const RECENT_MAX = 4;
/** Signature results kept per consensus (a peer sending garbage signatures cannot grow it). */
const SIGNATURES_MAX = 4 * MAX_CONSENSUS_SIGNATURES;

function remembered(digest: string): Checked {
  let held = recent.get(digest);
  if (held === undefined) {
    held = { signatures: new Map() };
    recent.set(digest, held);
    if (recent.size > RECENT_MAX) recent.delete(recent.keys().next().value!);
  }
  return held;
}

function signatureValid({ signatures }: Checked, bytes: Uint8Array, keyHex: string, s: AuthoritySignature): boolean {
  const key = `${keyHex}:${Buffer.from(s.signature).toString("hex")}`;
  let valid = signatures.get(key);
  if (valid === undefined) {
    valid = verifyWithDomain(DOMAIN_CONSENSUS, bytes, s.signature, s.authorityKey);
    if (signatures.size >= SIGNATURES_MAX) signatures.clear();
    signatures.set(key, valid);
  }
  return valid;
}

function decoded(held: Checked, bytes: Uint8Array): Consensus {
  if (held.consensus === undefined) {
    try {
      const consensus = fromBinary(ConsensusSchema, bytes);
      Object.freeze(consensus.relays);
      held.consensus = consensus;
    } catch (err) {
      held.consensus = new ConsensusVerificationError("malformed", `consensus bytes do not decode: ${(err as Error).message}`);
    }
  }
  if (held.consensus instanceof ConsensusVerificationError) throw held.consensus;
  return held.consensus;
}
