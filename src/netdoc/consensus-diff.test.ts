/**
 * Consensus diffs (consensus.proto CONSENSUS DIFFS): a client applies a diff to the consensus
 * it holds, checks the result's digest and then its signatures like any consensus; a forged
 * or mismatched diff is refused ("bad-diff", or the signatures fail) and never trusted. Then
 * against a real authority: GetConsensus with `have` answers with a diff, fetchConsensus and
 * WatchConsensus (accept_diffs) apply it, and an unknown base gets the whole consensus.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { afterEach, describe, expect, it } from "vitest";
import {
  ConsensusDiffOpSchema,
  ConsensusDiffSchema,
  ConsensusSchema,
  type ConsensusDiff,
  type ConsensusRelay,
  type SignedConsensus,
  SignedConsensusSchema,
} from "../../gen/meowonion/v1/consensus_pb.js";
import { relay } from "../../test/helpers/consensus-fixtures.js";
import { Cleanups } from "../../test/helpers/cleanups.js";
import { startTestDirectory } from "../../test/helpers/in-process-network.js";
import { DOMAIN_CONSENSUS, generateEd25519KeyPair, signWithDomain } from "../onion/signing.js";
import { ConsensusVerificationError, verifySignedConsensus } from "./consensus.js";
import { applyConsensusDiff, consensusUnits, makeConsensusDiff, MAX_DIFF_OPS } from "./consensus-diff.js";
import { sha256 } from "./descriptor.js";
import { createDirectoryClient, fetchConsensus, resolveUpdate, watchStream } from "./directory-client.js";

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

const keys = Array.from({ length: 3 }, () => generateEd25519KeyPair());
const pinned = keys.map((k) => k.publicKey);
const NOW = Date.UTC(2026, 5, 1, 12);
const INTERVAL = 60_000;

function consensusBytes(validAfterMs: number, relays: ConsensusRelay[]): Uint8Array {
  return toBinary(
    ConsensusSchema,
    create(ConsensusSchema, {
      validAfter: timestampFromMs(validAfterMs),
      freshUntil: timestampFromMs(validAfterMs + INTERVAL),
      validUntil: timestampFromMs(validAfterMs + 3 * INTERVAL),
      authorityKeys: pinned,
      relays,
    }),
  );
}

function signed(bytes: Uint8Array, signers = keys): SignedConsensus {
  return create(SignedConsensusSchema, {
    consensus: bytes,
    signatures: signers.map((k) => ({ authorityKey: k.publicKey, signature: signWithDomain(DOMAIN_CONSENSUS, bytes, k.privateKey) })),
  });
}

const body = (bytes: Uint8Array) => ({ bytes, digest: sha256(bytes) });

/** A base of `n` relays and a target one period later in which `changed` of them changed. */
function pair(n: number, changed: number) {
  const relays = Array.from({ length: n }, (_, i) => relay({ id: i + 1 }));
  const base = consensusBytes(NOW - INTERVAL, relays);
  const next = relays.map((r, i) => (i % Math.floor(n / changed) === 0 && i / Math.floor(n / changed) < changed ? relay({ id: i + 1, bandwidth: 2000 }) : r));
  const target = consensusBytes(NOW, next);
  return { base, target };
}

function reasonOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConsensusVerificationError);
    return (err as ConsensusVerificationError).reason;
  }
  return undefined;
}

describe("consensus diffs", () => {
  it("split a consensus into its top-level fields and refuse bytes that do not split", () => {
    const { base } = pair(10, 1);
    const units = consensusUnits(base);
    // 3 timestamps, 3 authority keys, 10 relays.
    expect(units.length - 1).toBe(16);
    expect(units[0]).toBe(0);
    expect(units.at(-1)).toBe(base.length);
    expect(reasonOf(() => consensusUnits(base.subarray(0, base.length - 1)))).toBe("bad-diff");
    expect(reasonOf(() => consensusUnits(new Uint8Array([0x0b])))).toBe("bad-diff"); // wire type 3
  });

  it("a client applies a diff, gets the target's exact bytes and verifies them as a consensus", () => {
    const { base, target } = pair(1000, 10);
    const diff = makeConsensusDiff(body(base), body(target), signed(target).signatures);
    const diffBytes = toBinary(ConsensusDiffSchema, diff).length;
    // 1 % of the relays changed: far under a tenth of the whole consensus.
    expect(diffBytes).toBeLessThan(target.length / 10);
    const { signed: rebuilt, digest } = resolveUpdate({ diff }, body(base));
    expect(Buffer.from(rebuilt.consensus).equals(target)).toBe(true);
    expect(Buffer.from(digest).equals(sha256(target))).toBe(true);
    const consensus = verifySignedConsensus(rebuilt, pinned, new Date(NOW));
    expect(consensus.relays).toHaveLength(1000);
    expect(consensus.relays.filter((r) => r.bandwidthWeight === 2000n)).toHaveLength(10);
  });

  it("between identical consensuses a diff is one op copying every unit", () => {
    const { base } = pair(50, 1);
    const diff = makeConsensusDiff(body(base), body(base), []);
    expect(diff.ops).toHaveLength(1);
    expect(diff.ops[0]).toMatchObject({ copyStart: 0, copyCount: consensusUnits(base).length - 1 });
    expect(Buffer.from(applyConsensusDiff(base, diff)).equals(base)).toBe(true);
  });

  it("refuses forged and mismatched diffs before trusting anything in them", () => {
    const { base, target } = pair(100, 5);
    const good = makeConsensusDiff(body(base), body(target), signed(target).signatures);
    const forge = (change: (d: ConsensusDiff) => void) => {
      const d = create(ConsensusDiffSchema, {
        baseDigest: Uint8Array.from(good.baseDigest),
        targetDigest: Uint8Array.from(good.targetDigest),
        ops: good.ops.map((op) => create(ConsensusDiffOpSchema, { copyStart: op.copyStart, copyCount: op.copyCount, insert: Uint8Array.from(op.insert) })),
        signatures: good.signatures,
      });
      change(d);
      return d;
    };
    expect(reasonOf(() => resolveUpdate({ diff: good }, body(base)))).toBeUndefined();

    // A changed inserted byte: the result's digest is not target_digest.
    const tampered = forge((d) => {
      const op = d.ops.find((o) => o.insert.length > 0)!;
      op.insert[op.insert.length - 1] ^= 1;
    });
    expect(reasonOf(() => resolveUpdate({ diff: tampered }, body(base)))).toBe("bad-diff");

    // The same forgery with target_digest made to match: the digest passes, the signatures
    // (over the real target) do not.
    const relabelled = forge((d) => {
      const op = d.ops.find((o) => o.insert.length > 0)!;
      op.insert[op.insert.length - 1] ^= 1;
    });
    relabelled.targetDigest = sha256(applyConsensusDiffUnchecked(base, relabelled));
    const { signed: forged } = resolveUpdate({ diff: relabelled }, body(base));
    expect(reasonOf(() => verifySignedConsensus(forged, pinned, new Date(NOW)))).toBe("not-enough-signatures");

    // A diff from a consensus the client does not hold, or with no base at all.
    const otherBase = forge((d) => (d.baseDigest = sha256(target)));
    expect(reasonOf(() => resolveUpdate({ diff: otherBase }, body(base)))).toBe("bad-diff");
    expect(reasonOf(() => resolveUpdate({ diff: good }, undefined))).toBe("bad-diff");

    // A copy past the base's last unit; too many ops; a result over the size limit.
    const past = forge((d) => (d.ops[0].copyCount = consensusUnits(base).length));
    expect(reasonOf(() => applyConsensusDiff(base, past))).toBe("bad-diff");
    const many = forge((d) => (d.ops = Array.from({ length: MAX_DIFF_OPS + 1 }, () => create(ConsensusDiffOpSchema, { copyStart: 0, copyCount: 1 }))));
    expect(reasonOf(() => applyConsensusDiff(base, many))).toBe("bad-diff");
    expect(reasonOf(() => applyConsensusDiff(base, good, target.length - 1))).toBe("bad-diff");

    // The good diff still applies to the untouched base.
    expect(Buffer.from(applyConsensusDiff(base, good)).equals(target)).toBe(true);
  });
});

/** What a diff makes without the digest check (to forge a matching target_digest). */
function applyConsensusDiffUnchecked(base: Uint8Array, diff: ConsensusDiff): Uint8Array {
  const units = consensusUnits(base);
  const parts: Uint8Array[] = [];
  for (const op of diff.ops) parts.push(base.subarray(units[op.copyStart], units[op.copyStart + op.copyCount]), op.insert);
  return Buffer.concat(parts);
}

describe("consensus diffs from an authority", () => {
  it("GetConsensus with have answers with a diff that fetchConsensus applies; an unknown base gets the whole consensus", async () => {
    const { server, client } = await startTestDirectory(cleanups, { intervalMs: 300 });
    const key = [server.publicKey];
    let first;
    for (let i = 0; i < 100 && first === undefined; i++) {
      first = await fetchConsensus([server.url], key, { timeoutMs: 2_000 }).catch(() => undefined);
      if (first === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(first).toBeDefined();
    const held = { bytes: first!.signed.consensus, digest: first!.digest };

    // The next period's consensus, asked as a diff from the first.
    let res = await client.rpc.getConsensus({ have: [held.digest] });
    for (let i = 0; i < 100 && res.diff === undefined; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      res = await client.rpc.getConsensus({ have: [held.digest] });
    }
    // The current consensus may still be the one held: a diff copying everything.
    expect(res.consensus).toBeUndefined();
    expect(Buffer.from(res.diff!.baseDigest).equals(held.digest)).toBe(true);

    const fetched = await fetchConsensus([server.url], key, { held });
    expect(verifySignedConsensus(fetched.signed, key).validAfter).toBeDefined();
    expect(Buffer.from(fetched.digest).equals(sha256(fetched.signed.consensus))).toBe(true);

    // A base the authority never published, and a malformed have: whole, or refused.
    const unknown = await client.rpc.getConsensus({ have: [new Uint8Array(32).fill(7)] });
    expect(unknown.diff).toBeUndefined();
    expect(unknown.consensus).toBeDefined();
    await expect(client.rpc.getConsensus({ have: [new Uint8Array(31)] })).rejects.toThrow(/32 bytes/);
    await expect(client.rpc.getConsensus({ have: Array.from({ length: 9 }, () => new Uint8Array(32)) })).rejects.toThrow(/at most 8/);
  });

  it("WatchConsensus with accept_diffs sends diffs from the previous update, each verifying", async () => {
    const { server } = await startTestDirectory(cleanups, { intervalMs: 300 });
    const key = [server.publicKey];
    const watcher = createDirectoryClient(server.url);
    cleanups.add(() => watcher.close());
    const abort = new AbortController();
    cleanups.add(() => abort.abort());
    // Raw stream: the first update is whole (nothing held), later ones are diffs.
    const kinds: string[] = [];
    for await (const update of watcher.rpc.watchConsensus({ acceptDiffs: true }, { signal: abort.signal })) {
      kinds.push(update.diff !== undefined ? "diff" : "whole");
      if (kinds.length === 3) break;
    }
    expect(kinds).toEqual(["whole", "diff", "diff"]);

    const abort2 = new AbortController();
    cleanups.add(() => abort2.abort());
    const valid: { validAfterMs: number; digest: string }[] = [];
    for await (const update of watchStream(watcher, key, { signal: abort2.signal })) {
      if (update.status === "refused") throw update.error;
      if (update.status === "valid") valid.push({ validAfterMs: timestampMs(update.consensus.validAfter!), digest: Buffer.from(update.digest).toString("hex") });
      if (valid.length === 2) break;
    }
    // Two different consensuses, rebuilt from diffs and verified, the second not older.
    expect(valid[1].digest).not.toBe(valid[0].digest);
    expect(valid[1].validAfterMs).toBeGreaterThanOrEqual(valid[0].validAfterMs);
  });
});
