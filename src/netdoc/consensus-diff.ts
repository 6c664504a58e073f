/**
 * Consensus diffs (consensus.proto CONSENSUS DIFFS): a newer consensus as the changes from one
 * the client holds. A serialized Consensus is a sequence of "units", its top-level fields; a
 * diff copies runs of the base's units and inserts the rest. The authority makes them, clients
 * and relays apply them and then check the result like any consensus.
 */
import { create } from "@bufbuild/protobuf";
import {
  ConsensusDiffOpSchema,
  ConsensusDiffSchema,
  type AuthoritySignature,
  type ConsensusDiff,
  type ConsensusDiffOp,
} from "../../gen/meowonion/v1/consensus_pb.js";
import { ConsensusVerificationError } from "./consensus.js";
import { sha256 } from "./descriptor.js";

/** The most ops a diff may have (consensus.proto). */
export const MAX_DIFF_OPS = 20_000;
/** The most digests a client may name in `have` (directory.proto). */
export const MAX_HAVE_DIGESTS = 8;
/** The largest consensus a MeowOnion client accepts, whole or as a diff's result. */
export const MAX_CONSENSUS_BYTES = 128 * 1024 * 1024;

/**
 * Where each unit of a serialized Consensus starts, followed by the end of the bytes: unit i
 * is bytes[offsets[i], offsets[i + 1]). Throws if the bytes do not split into whole fields.
 */
export function consensusUnits(bytes: Uint8Array): number[] {
  const offsets: number[] = [];
  let at = 0;
  while (at < bytes.length) {
    offsets.push(at);
    const tag = readVarint(bytes, at);
    at = tag.end;
    switch (tag.value % 8) {
      case 0:
        at = readVarint(bytes, at).end;
        break;
      case 1:
        at += 8;
        break;
      case 2: {
        const length = readVarint(bytes, at);
        at = length.end + length.value;
        break;
      }
      case 5:
        at += 4;
        break;
      default:
        throw malformed(`wire type ${tag.value % 8} at offset ${offsets.at(-1)}`);
    }
    if (at > bytes.length) throw malformed(`field at offset ${offsets.at(-1)} runs past the end`);
  }
  offsets.push(bytes.length);
  return offsets;
}

/**
 * The consensus bytes `diff` makes from `base` (whose SHA-256 the caller matched with
 * base_digest), checked against target_digest. Throws ConsensusVerificationError("bad-diff")
 * for a diff that does not apply; the caller then fetches the whole consensus.
 */
export function applyConsensusDiff(base: Uint8Array, diff: ConsensusDiff, maxBytes = MAX_CONSENSUS_BYTES): Uint8Array {
  if (diff.ops.length > MAX_DIFF_OPS) throw bad(`${diff.ops.length} ops; at most ${MAX_DIFF_OPS} are allowed`);
  const units = consensusUnits(base);
  const unitCount = units.length - 1;
  let size = 0;
  for (const op of diff.ops) {
    if (op.copyStart + op.copyCount > unitCount) {
      throw bad(`op copies units ${op.copyStart}..${op.copyStart + op.copyCount - 1} of a base with ${unitCount}`);
    }
    size += units[op.copyStart + op.copyCount] - units[op.copyStart] + op.insert.length;
    if (size > maxBytes) throw bad(`result would exceed ${maxBytes} bytes`);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const op of diff.ops) {
    const from = units[op.copyStart];
    const to = units[op.copyStart + op.copyCount];
    out.set(base.subarray(from, to), at);
    at += to - from;
    out.set(op.insert, at);
    at += op.insert.length;
  }
  if (!Buffer.from(sha256(out)).equals(diff.targetDigest)) throw bad("the result's SHA-256 is not target_digest");
  return out;
}

/**
 * A small diff from `base` to `target`: every target unit found in the base is copied (a run
 * of consecutive base units as one op), the others are inserted. Linear in the units.
 */
export function makeConsensusDiff(
  base: { bytes: Uint8Array; digest: Uint8Array },
  target: { bytes: Uint8Array; digest: Uint8Array },
  signatures: AuthoritySignature[],
): ConsensusDiff {
  const baseUnits = consensusUnits(base.bytes);
  const targetUnits = consensusUnits(target.bytes);
  const unitText = (bytes: Uint8Array, offsets: number[], i: number) => Buffer.from(bytes.buffer, bytes.byteOffset + offsets[i], offsets[i + 1] - offsets[i]).toString("latin1");
  // The first base index of each distinct unit (units repeat only in malformed consensuses).
  const where = new Map<string, number>();
  for (let i = 0; i < baseUnits.length - 1; i++) {
    const text = unitText(base.bytes, baseUnits, i);
    if (!where.has(text)) where.set(text, i);
  }
  const ops: ConsensusDiffOp[] = [];
  let copyStart = 0;
  let copyCount = 0;
  let inserted: [number, number] | undefined; // a run of target units to insert: [from, to)
  const flush = () => {
    if (copyCount === 0 && inserted === undefined) return;
    const insert = inserted === undefined ? new Uint8Array(0) : target.bytes.subarray(targetUnits[inserted[0]], targetUnits[inserted[1]]);
    ops.push(create(ConsensusDiffOpSchema, { copyStart, copyCount, insert }));
    copyStart = 0;
    copyCount = 0;
    inserted = undefined;
  };
  for (let i = 0; i < targetUnits.length - 1; i++) {
    const found = where.get(unitText(target.bytes, targetUnits, i));
    if (found === undefined) {
      if (inserted === undefined) inserted = [i, i + 1];
      else inserted[1] = i + 1;
      continue;
    }
    // Extends the pending copy if it is the next base unit and nothing was inserted since.
    if (inserted === undefined && copyCount > 0 && found === copyStart + copyCount) {
      copyCount++;
      continue;
    }
    flush();
    copyStart = found;
    copyCount = 1;
  }
  flush();
  return create(ConsensusDiffSchema, { baseDigest: base.digest, targetDigest: target.digest, ops, signatures });
}

function readVarint(bytes: Uint8Array, at: number): { value: number; end: number } {
  let value = 0;
  for (let i = 0; i < 10; i++) {
    if (at + i >= bytes.length) throw malformed(`varint at offset ${at} runs past the end`);
    const b = bytes[at + i];
    // Lengths and tags beyond 2^53 cannot be within a real consensus; they fail the bounds check.
    value += (b & 0x7f) * 2 ** (7 * i);
    if ((b & 0x80) === 0) return { value, end: at + i + 1 };
  }
  throw malformed(`varint at offset ${at} is longer than 10 bytes`);
}

function malformed(what: string): ConsensusVerificationError {
  return new ConsensusVerificationError("bad-diff", `base consensus does not split into fields: ${what}`);
}

function bad(what: string): ConsensusVerificationError {
  return new ConsensusVerificationError("bad-diff", `consensus diff does not apply: ${what}`);
}
