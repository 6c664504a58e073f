/**
 * Client-side consensus validity (majority of pinned keys, validity time, malformed input),
 * and fetchConsensus / watchConsensus moving past an authority that is down.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { afterEach, describe, expect, it } from "vitest";
import { ConsensusSchema, SignedConsensusSchema, type SignedConsensus } from "../../gen/meowonion/v1/consensus_pb.js";
import { DOMAIN_CONSENSUS, DOMAIN_VOTE, generateEd25519KeyPair, signWithDomain, type Ed25519KeyPair } from "../onion/signing.js";
import { DirectoryUnavailableError, fetchConsensus, watchConsensus } from "./directory-client.js";
import { freePort } from "../../test/helpers/directory.js";
import { ConsensusVerificationError, majority, verifySignedConsensus, type ConsensusErrorReason } from "./consensus.js";
import { Cleanups } from "../../test/helpers/cleanups.js";
import { startTestDirectory } from "../../test/helpers/in-process-network.js";

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

const keys = Array.from({ length: 5 }, () => generateEd25519KeyPair());
const NOW = new Date(Date.UTC(2026, 5, 1, 12));

function consensusBytes(validAfterMs = NOW.getTime() - 60_000, intervalMs = 60_000): Uint8Array {
  return toBinary(
    ConsensusSchema,
    create(ConsensusSchema, {
      validAfter: timestampFromMs(validAfterMs),
      freshUntil: timestampFromMs(validAfterMs + intervalMs),
      validUntil: timestampFromMs(validAfterMs + 3 * intervalMs),
    }),
  );
}

function signedBy(signers: Ed25519KeyPair[], bytes = consensusBytes(), domain = DOMAIN_CONSENSUS): SignedConsensus {
  return create(SignedConsensusSchema, {
    consensus: bytes,
    signatures: signers.map((k) => ({ authorityKey: k.publicKey, signature: signWithDomain(domain, bytes, k.privateKey) })),
  });
}

function reasonOf(fn: () => unknown): ConsensusErrorReason | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConsensusVerificationError);
    return (err as ConsensusVerificationError).reason;
  }
  return undefined;
}

const pinned = (n: number) => keys.slice(0, n).map((k) => k.publicKey);

describe("verifySignedConsensus", () => {
  it("needs floor(n/2)+1 valid signatures of the n pinned keys", () => {
    expect([1, 2, 3, 4, 5].map(majority)).toEqual([1, 2, 2, 3, 3]);
    expect(reasonOf(() => verifySignedConsensus(signedBy(keys.slice(0, 1)), pinned(1), NOW))).toBeUndefined();
    expect(reasonOf(() => verifySignedConsensus(signedBy(keys.slice(0, 1)), pinned(2), NOW))).toBe("not-enough-signatures");
    expect(reasonOf(() => verifySignedConsensus(signedBy(keys.slice(0, 2)), pinned(3), NOW))).toBeUndefined();
    expect(reasonOf(() => verifySignedConsensus(signedBy(keys.slice(0, 1)), pinned(3), NOW))).toBe("not-enough-signatures");
    expect(reasonOf(() => verifySignedConsensus(signedBy(keys.slice(0, 2)), pinned(4), NOW))).toBe("not-enough-signatures");
    expect(reasonOf(() => verifySignedConsensus(signedBy(keys.slice(1, 4)), pinned(5), NOW))).toBeUndefined();
  });

  it("does not count unknown keys, duplicates, bad signatures or other domains", () => {
    const stranger = generateEd25519KeyPair();
    expect(reasonOf(() => verifySignedConsensus(signedBy([keys[0], stranger]), pinned(3), NOW))).toBe("not-enough-signatures");
    expect(reasonOf(() => verifySignedConsensus(signedBy([keys[0], keys[0]]), pinned(3), NOW))).toBe("not-enough-signatures");
    const bad = signedBy(keys.slice(0, 2));
    bad.signatures[1].signature[0] ^= 1;
    expect(reasonOf(() => verifySignedConsensus(bad, pinned(3), NOW))).toBe("not-enough-signatures");
    expect(reasonOf(() => verifySignedConsensus(signedBy(keys.slice(0, 3), consensusBytes(), DOMAIN_VOTE), pinned(3), NOW))).toBe(
      "not-enough-signatures",
    );
  });

  it("refuses an expired consensus, garbage bytes, too many signatures and an empty pin set", () => {
    const old = consensusBytes(NOW.getTime() - 10 * 60_000);
    expect(reasonOf(() => verifySignedConsensus(signedBy(keys.slice(0, 1), old), pinned(1), NOW))).toBe("expired");
    expect(reasonOf(() => verifySignedConsensus(signedBy(keys.slice(0, 1), new Uint8Array([0xff, 0xff])), pinned(1), NOW))).toBe("malformed");
    const many = signedBy(Array.from({ length: 17 }, () => keys[0]));
    expect(reasonOf(() => verifySignedConsensus(many, pinned(1), NOW))).toBe("malformed");
    expect(reasonOf(() => verifySignedConsensus(signedBy(keys.slice(0, 1)), [], NOW))).toBe("no-pinned-keys");
  });
});

describe("fetchConsensus and watchConsensus", () => {
  it("skip an authority that is down and verify what the next one serves", async () => {
    const { server } = await startTestDirectory(cleanups, { intervalMs: 300 });
    const down = `http://127.0.0.1:${await freePort()}`;
    const keys = [server.publicKey];

    await expect(fetchConsensus([down], keys, { timeoutMs: 1_000 })).rejects.toBeInstanceOf(DirectoryUnavailableError);
    // Retried until the authority made its first consensus (it answers UNAVAILABLE before).
    let fetched;
    for (let i = 0; i < 50 && fetched === undefined; i++) {
      fetched = await fetchConsensus([down, server.url], keys, { timeoutMs: 1_000 }).catch(() => undefined);
      if (fetched === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(fetched?.url).toBe(server.url);

    const abort = new AbortController();
    cleanups.add(() => abort.abort());
    const errors: string[] = [];
    const seen: bigint[] = [];
    for await (const update of watchConsensus([down, server.url], keys, { signal: abort.signal, retryDelayMs: 20, onError: (url) => errors.push(url) })) {
      expect(update.url).toBe(server.url);
      seen.push(update.consensus.validAfter!.seconds * 1000n + BigInt(update.consensus.validAfter!.nanos / 1e6));
      if (seen.length === 2) break;
    }
    expect(errors[0]).toBe(down);
    expect(seen[1]).toBeGreaterThan(seen[0]);
  });
});
