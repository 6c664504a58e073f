/**
 * Shared randomness (consensus.proto SHARED RANDOMNESS): the value is the spec's formula over
 * the counted reveals, a reveal is counted only against the commit a majority saw, a period
 * with none falls back to the disaster value, and what an authority saw survives a restart.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { AuthorityCommitSchema, SharedRandomVoteSchema, VoteSchema, type Vote } from "../../gen/meowonion/v1/consensus_pb.js";
import { int8, sha3 } from "../onion/hs/hash.js";
import { generateEd25519KeyPair } from "../onion/signing.js";
import { commitFor, computeSharedRandom, revealFor, SharedRandomMemory } from "./shared-random.js";

const PERIOD = 20_000;
const authorities = [generateEd25519KeyPair(), generateEd25519KeyPair(), generateEd25519KeyPair()].sort((a, b) =>
  Buffer.compare(a.publicKey, b.publicKey),
);
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const commitsFor = (period: number) =>
  authorities.map((a) => create(AuthorityCommitSchema, { authorityKey: a.publicKey, commit: commitFor(revealFor(a.privateKey, period)) }));
const voteOf = (i: number, part: MessageInitShape<typeof SharedRandomVoteSchema>): Vote =>
  create(VoteSchema, { authorityKey: authorities[i].publicKey, sharedRandom: create(SharedRandomVoteSchema, part) });
const honestPart = (i: number, previousValue: Uint8Array) => ({
  period: BigInt(PERIOD),
  commit: commitFor(revealFor(authorities[i].privateKey, PERIOD + 1)),
  reveal: revealFor(authorities[i].privateKey, PERIOD),
  seenCommits: commitsFor(PERIOD),
  previousValue,
});
const honestVote = (i: number, previousValue: Uint8Array) => voteOf(i, honestPart(i, previousValue));

describe("computeSharedRandom", () => {
  const previous = new Uint8Array(32).fill(7);

  it("hashes the counted reveals by authority key with the previous value, and lists the next commits", () => {
    const shared = computeSharedRandom(PERIOD, [2, 0, 1].map((i) => honestVote(i, previous)), 3);
    const expected = sha3(
      "meowonion-shared-random",
      int8(PERIOD),
      Uint8Array.of(3),
      ...authorities.flatMap((a) => [a.publicKey, revealFor(a.privateKey, PERIOD)]),
      previous,
    );
    expect(hex(shared.current)).toBe(hex(expected));
    expect(hex(shared.previous)).toBe(hex(previous));
    expect(shared.nextCommits.map((c) => hex(c.commit))).toEqual(commitsFor(PERIOD + 1).map((c) => hex(c.commit)));
  });

  it("does not count a reveal that does not match the commit a majority saw", () => {
    const votes = [honestVote(0, previous), honestVote(1, previous), voteOf(2, { ...honestPart(2, previous), reveal: new Uint8Array(32).fill(1) })];
    const shared = computeSharedRandom(PERIOD, votes, 3);
    const twoCounted = sha3(
      "meowonion-shared-random",
      int8(PERIOD),
      Uint8Array.of(2),
      ...authorities.slice(0, 2).flatMap((a) => [a.publicKey, revealFor(a.privateKey, PERIOD)]),
      previous,
    );
    expect(hex(shared.current)).toBe(hex(twoCounted));
  });

  it("does not count a commit only a minority reports, so a liar cannot swap its own reveal", () => {
    const forged = new Uint8Array(32).fill(3);
    const lyingCommits = commitsFor(PERIOD).map((c, i) => (i === 2 ? create(AuthorityCommitSchema, { authorityKey: c.authorityKey, commit: commitFor(forged) }) : c));
    const votes = [honestVote(0, previous), honestVote(1, previous), voteOf(2, { ...honestPart(2, previous), reveal: forged, seenCommits: lyingCommits })];
    const shared = computeSharedRandom(PERIOD, votes, 3);
    expect(hex(shared.current)).toBe(hex(computeSharedRandom(PERIOD, votes.slice(0, 2), 3).current));
  });

  it("falls back to the disaster value when nothing can be counted (a new network)", () => {
    const fresh = authorities.map((a, i) => voteOf(i, { period: BigInt(PERIOD), commit: commitFor(revealFor(a.privateKey, PERIOD + 1)), reveal: revealFor(a.privateKey, PERIOD) }));
    const shared = computeSharedRandom(PERIOD, fresh, 3);
    expect(hex(shared.current)).toBe(hex(sha3("meowonion-shared-random-disaster", int8(PERIOD), new Uint8Array(32))));
    expect(shared.nextCommits).toHaveLength(3);
  });

  it("ignores votes for another period", () => {
    const stale = computeSharedRandom(PERIOD + 1, [0, 1, 2].map((i) => honestVote(i, previous)), 3);
    expect(stale.nextCommits).toEqual([]);
    expect(hex(stale.current)).toBe(hex(sha3("meowonion-shared-random-disaster", int8(PERIOD + 1), new Uint8Array(32))));
  });
});

describe("SharedRandomMemory", () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it("votes what the last consensus of the previous period said, also after a restart", async () => {
    dir = await mkdtemp(join(tmpdir(), "meowonion-srv-"));
    const memory = await SharedRandomMemory.open(dir);
    const empty = memory.voteFor(PERIOD, authorities[0].privateKey);
    expect(empty.seenCommits).toEqual([]);
    expect(empty.previousValue).toHaveLength(0);
    expect(hex(empty.reveal)).toBe(hex(revealFor(authorities[0].privateKey, PERIOD)));
    expect(hex(empty.commit)).toBe(hex(commitFor(revealFor(authorities[0].privateKey, PERIOD + 1))));

    const last = computeSharedRandom(PERIOD - 1, authorities.map((a, i) => voteOf(i, { period: BigInt(PERIOD - 1), commit: commitFor(revealFor(a.privateKey, PERIOD)) })), 3);
    await memory.remember(last);
    const restarted = await SharedRandomMemory.open(dir);
    const part = restarted.voteFor(PERIOD, authorities[0].privateKey);
    expect(part.seenCommits.map((c) => hex(c.commit))).toEqual(commitsFor(PERIOD).map((c) => hex(c.commit)));
    expect(hex(part.previousValue)).toBe(hex(last.current));
  });
});
