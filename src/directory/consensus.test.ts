/**
 * The deterministic consensus rules (consensus.ts), on hand-made votes: majority listing,
 * descriptor choice, flags, weights, totals, and identical bytes whatever the vote order.
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RelayFlag, SharedRandomVoteSchema, VoteRelaySchema, type Vote } from "../../gen/meowonion/v1/consensus_pb.js";
import { RelayFeature, type SignedDescriptor } from "../../gen/meowonion/v1/descriptor_pb.js";
import { generateEd25519KeyPair, type Ed25519KeyPair } from "../onion/signing.js";
import { buildVote, computeConsensus, VoteDescriptorChecker, type ConsensusParameters } from "./consensus.js";
import { DEFAULT_TIME_PERIOD_PARAMS } from "../onion/hs/time-period.js";
import { buildSignedDescriptor, hex, sha256 } from "../netdoc/descriptor.js";
import { parseExitPolicy } from "../netdoc/exit-policy.js";

const T0 = Date.UTC(2026, 0, 1);
const authorities = [generateEd25519KeyPair(), generateEd25519KeyPair(), generateEd25519KeyPair()];
const params: ConsensusParameters = {
  validAfterMs: T0,
  intervalMs: 60_000,
  stableAfterSeconds: 600,
  hsDirUptimeSeconds: 96 * 3600,
  onionService: DEFAULT_TIME_PERIOD_PARAMS,
  authorityKeys: authorities.map((a) => a.publicKey),
};

interface Relay {
  identity: Ed25519KeyPair;
  descriptor(options?: { publishedMs?: number; average?: bigint; observed?: bigint; policy?: string; nickname?: string; features?: RelayFeature[] }): SignedDescriptor;
}

function relay(): Relay {
  const identity = generateEd25519KeyPair();
  return {
    identity,
    descriptor: (o = {}) =>
      buildSignedDescriptor(
        {
          nickname: o.nickname ?? "R",
          identityKey: identity.publicKey,
          ntorOnionKey: new Uint8Array(32).fill(9),
          ipv4Address: "10.0.0.1",
          orPort: 9001,
          exitPolicy: parseExitPolicy(o.policy ?? "reject *:*"),
          bandwidth: { averageBytesPerSecond: o.average ?? 200_000n, observedBytesPerSecond: o.observed ?? 0n },
          published: timestampFromMs(o.publishedMs ?? T0 - 1000),
          expires: timestampFromMs(T0 + 3600_000),
          features: o.features ?? [],
        },
        identity.privateKey,
      ),
  };
}

type Entry = [SignedDescriptor, boolean, number?, number?];

function vote(authority: Ed25519KeyPair, entries: Entry[]): Vote {
  return buildVote(
    T0,
    0,
    authority.publicKey,
    entries.map(([descriptor, running, uptime, wfu]) => create(VoteRelaySchema, { descriptor, running, uptimeSeconds: BigInt(uptime ?? 0), weightedFractionalUptimePpm: wfu ?? 1_000_000 })),
    create(SharedRandomVoteSchema, {}),
  );
}

const compute = (votes: Vote[], p = params) => computeConsensus(p, votes, new VoteDescriptorChecker());

describe("computeConsensus", () => {
  it("lists a relay only when a majority of known authorities voted it Running", () => {
    const ra = relay();
    const a = ra.descriptor();
    const b = relay().descriptor();
    const c = compute([
      vote(authorities[0], [[a, true], [b, true]]),
      vote(authorities[1], [[a, true], [b, false]]),
      // authorities[2]'s vote is missing: counts as "not Running".
    ]);
    expect(c.consensus.relays.map((r) => hex(r.identityKey))).toEqual([hex(ra.identity.publicKey)]);
    expect(hex(c.consensus.relays[0].descriptorDigest)).toBe(hex(sha256(a.descriptor)));
  });

  it("copies each relay's features from its descriptor", () => {
    const ra = relay();
    const rb = relay();
    const c = compute([vote(authorities[0], [[ra.descriptor({ features: [RelayFeature.CONGESTION_CONTROL] }), true], [rb.descriptor(), true]]), vote(authorities[1], [])], { ...params, authorityKeys: [authorities[0].publicKey] });
    const features = (r: Relay) => c.consensus.relays.find((e) => hex(e.identityKey) === hex(r.identity.publicKey))?.features;
    expect(features(ra)).toEqual([RelayFeature.CONGESTION_CONTROL]);
    expect(features(rb)).toEqual([]);
  });

  it("ignores votes from unknown authorities and a second vote from the same authority", () => {
    const a = relay().descriptor();
    const stranger = generateEd25519KeyPair();
    const c = compute([vote(authorities[0], [[a, true]]), vote(authorities[0], [[a, true]]), vote(stranger, [[a, true]])]);
    expect(c.consensus.relays).toHaveLength(0);
  });

  it("ignores descriptors whose signature does not verify", () => {
    const a = relay().descriptor();
    a.signature[0] ^= 1;
    const c = compute([vote(authorities[0], [[a, true]]), vote(authorities[1], [[a, true]])]);
    expect(c.consensus.relays).toHaveLength(0);
  });

  it("takes the most recently published descriptor among the Running votes", () => {
    const r = relay();
    const older = r.descriptor({ publishedMs: T0 - 5000, nickname: "Old" });
    const newer = r.descriptor({ publishedMs: T0 - 1000, nickname: "New" });
    const c = compute([vote(authorities[0], [[older, true]]), vote(authorities[1], [[newer, true]]), vote(authorities[2], [[older, true]])]);
    expect(c.consensus.relays.map((x) => x.nickname)).toEqual(["New"]);
  });

  it("produces identical bytes whatever the order of votes and of relays inside them", () => {
    const ds = [relay(), relay(), relay(), relay()].map((r, i) => r.descriptor({ average: BigInt(50_000 * (i + 1)) }));
    fc.assert(
      fc.property(fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }), fc.nat(), (running, seed) => {
        const votes = authorities.map((a, i) => vote(a, ds.map((d, j) => [d, running[i * 4 + j], 700] as Entry)));
        const shuffled = [...votes].sort(() => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % 2 ? 1 : -1));
        const reversed = votes.map((v) => ({ ...v, relays: [...v.relays].reverse() }) as Vote);
        const x = compute(votes);
        expect(hex(compute(shuffled).bytes)).toBe(hex(x.bytes));
        expect(hex(compute(reversed).bytes)).toBe(hex(x.bytes));
      }),
      { numRuns: 30 },
    );
  });

  it("sorts relays by identity key and sets validity times from the period", () => {
    const ds = Array.from({ length: 5 }, () => relay().descriptor());
    const c = compute(authorities.map((a) => vote(a, ds.map((d) => [d, true] as Entry))));
    const keys = c.consensus.relays.map((r) => hex(r.identityKey));
    expect(keys).toEqual([...keys].sort());
    expect(Number(c.consensus.freshUntil!.seconds) * 1000).toBe(T0 + 60_000);
    expect(Number(c.consensus.validUntil!.seconds) * 1000).toBe(T0 + 180_000);
    expect(c.consensus.authorityKeys.map(hex)).toEqual(authorities.map((a) => hex(a.publicKey)).sort());
  });

  it("assigns Fast, Stable, Guard and Exit by the documented rules and sums totals per role", () => {
    // Weights: 8 relays of 10, 20, …, 80 KB/s (all below the 100 KB/s absolute Fast bar), one at 5 MB/s.
    const light = Array.from({ length: 8 }, (_, i) => relay().descriptor({ average: BigInt((i + 1) * 10_000), nickname: `L${i + 1}` }));
    const heavy = relay().descriptor({ average: 10_000_000n, observed: 5_000_000n, nickname: "Heavy", policy: "accept *:443" });
    const entries: Entry[] = [...light.map((d) => [d, true, 0] as Entry), [heavy, true, 900]];
    const c = compute(authorities.map((a) => vote(a, entries)));
    const byName = new Map(c.consensus.relays.map((r) => [r.nickname, r]));
    // ceil(7·9/8) = 8 heaviest are Fast: everyone but L1.
    expect(byName.get("L1")!.flags).not.toContain(RelayFlag.FAST);
    expect(byName.get("L2")!.flags).toContain(RelayFlag.FAST);
    const h = byName.get("Heavy")!;
    expect(h.bandwidthWeight).toBe(5_000_000n); // min(average, observed)
    expect(h.flags).toEqual([RelayFlag.RUNNING, RelayFlag.VALID, RelayFlag.FAST, RelayFlag.STABLE, RelayFlag.GUARD, RelayFlag.EXIT]);
    // Not Stable (uptime 0 < 600 s): never Guard; reject-all policy: never Exit.
    expect(byName.get("L8")!.flags).toEqual([RelayFlag.RUNNING, RelayFlag.VALID, RelayFlag.FAST]);
    // Unobserved relays count as 20 KB/s: L1 10 KB/s, L2…L8 20 KB/s each.
    expect(byName.get("L8")!.bandwidthWeight).toBe(20_000n);
    expect(c.consensus.totals?.total).toBe(5_000_000n + 10_000n + 7n * 20_000n);
    expect(c.consensus.totals?.guard).toBe(5_000_000n);
    expect(c.consensus.totals?.exit).toBe(5_000_000n);
  });

  it("gives Guard only with a weighted fractional uptime of 98 % (lower median of the votes)", () => {
    const d = relay().descriptor({ average: 10_000_000n });
    const guardWith = (wfus: number[]) =>
      compute(wfus.map((w, i) => vote(authorities[i], [[d, true, 900, w]]))).consensus.relays[0].flags.includes(RelayFlag.GUARD);
    expect(guardWith([1_000_000, 990_000, 980_000])).toBe(true);
    expect(guardWith([1_000_000, 979_999, 500_000])).toBe(false);
    expect(guardWith([1_000_000, 1_000_000, 0])).toBe(true);
  });

  it("uses the lower median of the Running votes' uptimes for Stable", () => {
    const d = relay().descriptor();
    const stableWith = (uptimes: number[]) =>
      compute(uptimes.map((u, i) => vote(authorities[i], [[d, true, u]]))).consensus.relays[0].flags.includes(RelayFlag.STABLE);
    expect(stableWith([600, 600, 0])).toBe(true);
    expect(stableWith([600, 0, 0])).toBe(false);
    expect(stableWith([0, 600])).toBe(false); // lower median of two
  });

  it("flags HSDIR only relays that offer it, once Stable and up for the HSDir uptime (or always when that is 0)", () => {
    const offeringRelay = relay();
    const offering = offeringRelay.descriptor({ features: [RelayFeature.HSDIR] });
    const silent = relay().descriptor();
    const hsDirs = (uptime: number, p = params) =>
      compute(authorities.map((a) => vote(a, [[offering, true, uptime], [silent, true, uptime]])), p)
        .consensus.relays.filter((r) => r.flags.includes(RelayFlag.HSDIR))
        .map((r) => hex(r.identityKey));
    expect(hsDirs(96 * 3600 - 1)).toEqual([]);
    expect(hsDirs(96 * 3600)).toEqual([hex(offeringRelay.identity.publicKey)]);
    expect(hsDirs(0, { ...params, hsDirUptimeSeconds: 0 })).toEqual([hex(offeringRelay.identity.publicKey)]);
  });

  it("weights with min(advertised, observed) and caps relays that observed no traffic at 20 KB/s", () => {
    const weightOf = (average: bigint, observed: bigint) => {
      const d = relay().descriptor({ average, observed });
      return compute(authorities.map((a) => vote(a, [[d, true]]))).consensus.relays[0].bandwidthWeight;
    };
    expect(weightOf(1_000_000n, 0n)).toBe(20_000n);
    expect(weightOf(10_000n, 0n)).toBe(10_000n);
    expect(weightOf(1_000_000n, 300_000n)).toBe(300_000n);
    expect(weightOf(1_000_000n, 3_000_000n)).toBe(1_000_000n);
  });

  it("caps the weight at 10 GB/s", () => {
    const d = relay().descriptor({ average: 50_000_000_000n, observed: 60_000_000_000n });
    const c = compute(authorities.map((a) => vote(a, [[d, true]])));
    expect(c.consensus.relays[0].bandwidthWeight).toBe(10_000_000_000n);
  });
});
