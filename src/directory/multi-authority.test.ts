/**
 * Three authorities peered with --peer semantics: each computes and signs the same consensus
 * bytes; with one down the other two still produce a consensus clients accept; a consensus
 * signed by only one of three is refused.
 */
import { join } from "node:path";
import { create, fromBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { afterEach, describe, expect, it } from "vitest";
import { SignedConsensusSchema, VoteSchema, type SignedConsensus, type SignedVote, type Vote } from "../../gen/meowonion/v1/consensus_pb.js";
import { RelayDescriptorSchema } from "../../gen/meowonion/v1/descriptor_pb.js";
import { loadOrCreateKey } from "../common/key-store.js";
import { DOMAIN_VOTE, ed25519PublicFromPrivate, generateEd25519KeyPair, verifyWithDomain } from "../onion/signing.js";
import { createDirectoryClient, fetchConsensus, type DirectoryClient } from "../netdoc/directory-client.js";
import { hex } from "../netdoc/descriptor.js";
import { AUTHORITY_KEY_FILE, DEFAULT_HSDIR_UPTIME_MS, DEFAULT_STABLE_AFTER_MS, startDirectory, type DirectoryServer } from "./server.js";
import { computeConsensus, VoteDescriptorChecker } from "./consensus.js";
import { DEFAULT_TIME_PERIOD_PARAMS } from "../onion/hs/time-period.js";
import { freePort, listed, makeRelay, waitForConsensus, type TestRelay } from "../../test/helpers/directory.js";
import { ConsensusVerificationError, verifySignedConsensus } from "../netdoc/consensus.js";
import { Cleanups, tempDir } from "../../test/helpers/cleanups.js";

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

interface Authority {
  server: DirectoryServer;
  client: DirectoryClient;
}

/** n authorities on known ports with pre-created keys, each listing the others as peers. */
async function startAuthorities(n: number, intervalMs = 1_000): Promise<{ authorities: Authority[]; keys: Uint8Array[] }> {
  const specs: { dataDir: string; port: number; key: Uint8Array }[] = [];
  for (let i = 0; i < n; i++) {
    const dataDir = await tempDir(cleanups);
    const { secret } = await loadOrCreateKey(join(dataDir, AUTHORITY_KEY_FILE), "ed25519-identity-secret", () => generateEd25519KeyPair().privateKey);
    specs.push({ dataDir, port: await freePort(), key: ed25519PublicFromPrivate(secret) });
  }
  const authorities = await Promise.all(
    specs.map(async (spec) => {
      const server = await startDirectory({
        host: "127.0.0.1",
        port: spec.port,
        dataDir: spec.dataDir,
        intervalMs,
        heartbeatTimeoutMs: 3_000,
        peers: specs.filter((s) => s !== spec).map((s) => ({ url: `http://127.0.0.1:${s.port}`, key: s.key })),
      });
      cleanups.add(() => server.close());
      const client = createDirectoryClient(server.url);
      cleanups.add(() => client.close());
      return { server, client };
    }),
  );
  return { authorities, keys: specs.map((s) => s.key) };
}

async function publishEverywhere(authorities: Authority[], relay: TestRelay): Promise<() => void> {
  const signed = relay.descriptor();
  for (const a of authorities) await a.client.rpc.publishDescriptor({ descriptor: signed });
  let stopped = false;
  void (async () => {
    while (!stopped) {
      for (const a of authorities) await a.client.rpc.heartbeat(relay.heartbeat()).catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  })();
  const stop = () => {
    stopped = true;
  };
  cleanups.add(stop);
  return stop;
}

async function signedConsensusOf(a: Authority): Promise<SignedConsensus> {
  return (await a.client.rpc.getConsensus({})).consensus!;
}

describe("three authorities", () => {
  it("all sign the same consensus; one down still yields one a client accepts; one signature of three is refused", async () => {
    const { authorities, keys } = await startAuthorities(3);
    const relay = await makeRelay(cleanups);
    await publishEverywhere(authorities, relay);

    // Each authority publishes a consensus listing the relay, signed by all three.
    const fullySigned = async (a: Authority) => {
      let found: SignedConsensus | undefined;
      await waitForConsensus(a.client, keys, (c, signed) => {
        found = signed;
        return listed(c, relay) && signed.signatures.length === 3;
      });
      return found!;
    };
    const all = await Promise.all(authorities.map(fullySigned));
    for (const signed of all) expect(signed.signatures).toHaveLength(3);
    // Same period → byte-identical consensus from each (compare those of one period).
    const byPeriod = new Map<string, Set<string>>();
    for (const signed of all) {
      const c = verifySignedConsensus(signed, keys);
      const period = String(c.validAfter!.seconds);
      byPeriod.set(period, (byPeriod.get(period) ?? new Set()).add(hex(signed.consensus)));
    }
    for (const digests of byPeriod.values()) expect(digests.size).toBe(1);
    const consensus = verifySignedConsensus(all[0], keys);
    expect(consensus.authorityKeys.map(hex)).toEqual(keys.map(hex).sort());

    // One signature of three is not a majority.
    const lonely = create(SignedConsensusSchema, { consensus: all[0].consensus, signatures: [all[0].signatures[0]] });
    let refusal: unknown;
    try {
      verifySignedConsensus(lonely, keys);
    } catch (err) {
      refusal = err;
    }
    expect(refusal).toBeInstanceOf(ConsensusVerificationError);
    expect((refusal as ConsensusVerificationError).reason).toBe("not-enough-signatures");
    // Two of three is.
    verifySignedConsensus(create(SignedConsensusSchema, { consensus: all[0].consensus, signatures: all[0].signatures.slice(1) }), keys);

    // Take the first authority down: the other two keep making consensuses for new periods.
    const downUrl = authorities[0].server.url;
    const before = verifySignedConsensus(await signedConsensusOf(authorities[1]), keys).validAfter!.seconds;
    await authorities[0].server.close();
    const later = await waitForConsensus(authorities[1].client, keys, (c) => c.validAfter!.seconds > before + 1n && listed(c, relay));
    expect(listed(later, relay)).toBe(true);
    const fetched = await fetchConsensus([downUrl, authorities[1].server.url, authorities[2].server.url], keys, { timeoutMs: 2_000 });
    expect(fetched.url).toBe(authorities[1].server.url);
    expect(fetched.signed.signatures.length).toBe(2);
    expect(listed(fetched.consensus, relay)).toBe(true);
  });

  it("a consensus computed from every authority's vote for one revision is signed by each, also by those that had not computed it", async () => {
    // 10-minute periods: revisions of a minute, so that the test runs within one or two.
    const intervalMs = 600_000;
    const { authorities, keys } = await startAuthorities(3, intervalMs);
    for (const relay of [await makeRelay(cleanups), await makeRelay(cleanups)]) await publishEverywhere(authorities, relay);
    const now = Date.now();
    const period = Math.floor(now / intervalMs) * intervalMs;
    // The next revision (GetVote allows one ahead), which no authority's own round has reached.
    const revision = Math.min(9, Math.floor((now - period) / (intervalMs / 10)) + 1);
    const votes = await Promise.all(
      authorities.map(async (a) => fromBinary(VoteSchema, (await a.client.rpc.getVote({ validAfter: timestampFromMs(period), revision })).vote!.vote)),
    );
    expect(votes.map((v) => v.revision)).toEqual([revision, revision, revision]);
    const computed = computeConsensus(
      {
        validAfterMs: period,
        intervalMs,
        stableAfterSeconds: DEFAULT_STABLE_AFTER_MS / 1000,
        hsDirUptimeSeconds: DEFAULT_HSDIR_UPTIME_MS / 1000,
        onionService: DEFAULT_TIME_PERIOD_PARAMS,
        authorityKeys: keys,
      },
      votes,
      new VoteDescriptorChecker(),
    );
    const signatures = await Promise.all(
      authorities.map(async (a) => (await a.client.rpc.getConsensusSignature({ validAfter: timestampFromMs(period), revision, consensusDigest: computed.digest })).signature!),
    );
    const signed = create(SignedConsensusSchema, { consensus: computed.bytes, signatures });
    expect(verifySignedConsensus(signed, keys).relays).toHaveLength(computed.consensus.relays.length);
    // Another digest for that revision is not signed.
    const other = Buffer.from(computed.digest);
    other[0] ^= 1;
    await expect(authorities[0].client.rpc.getConsensusSignature({ validAfter: timestampFromMs(period), revision, consensusDigest: other })).rejects.toThrow(/no consensus with that digest/);
  });

  it("GetVote serves frozen votes per revision; a relay published meanwhile is in a later one; NOT_FOUND for a far period", async () => {
    // 10 s periods: revisions of 1 s.
    const intervalMs = 10_000;
    const { authorities, keys } = await startAuthorities(1, intervalMs);
    const [a] = authorities;
    const relay = await makeRelay(cleanups, { listen: false });
    const decode = (signed: SignedVote) => {
      expect(verifyWithDomain(DOMAIN_VOTE, signed.vote, signed.signature, keys[0])).toBe(true);
      return fromBinary(VoteSchema, signed.vote);
    };
    const listedIn = (vote: Vote) => vote.relays.map((r) => hex(fromBinary(RelayDescriptorSchema, r.descriptor!.descriptor).identityKey));

    const period = Math.floor(Date.now() / intervalMs) * intervalMs;
    const before = (await a.client.rpc.getVote({ validAfter: timestampFromMs(period) })).vote!;
    const revision = decode(before).revision;
    expect(listedIn(decode(before))).toEqual([]);
    await a.client.rpc.publishDescriptor({ descriptor: relay.descriptor() });
    // That revision's vote never changes...
    const again = (await a.client.rpc.getVote({ validAfter: timestampFromMs(period), revision })).vote!;
    expect(Buffer.from(again.vote).equals(Buffer.from(before.vote))).toBe(true);
    // ...and a later one (the current one, once the clock reaches it) lists the relay.
    let later: Vote;
    for (;;) {
      const now = Date.now();
      later = decode((await a.client.rpc.getVote({ validAfter: timestampFromMs(Math.floor(now / intervalMs) * intervalMs) })).vote!);
      if (listedIn(later).length > 0) break;
      await new Promise((resolve) => setTimeout(resolve, intervalMs / 10 - (now % (intervalMs / 10)) + 5));
    }
    expect(listedIn(later)).toEqual([relay.keyHex]);
    expect(later.relays[0].running).toBe(false);
    await expect(a.client.rpc.getVote({ validAfter: timestampFromMs(period), revision: 10 })).rejects.toThrow(/revision must be 0\.\.9/);
    await expect(a.client.rpc.getVote({ validAfter: timestampFromMs(period + 3_600_000) })).rejects.toThrow(/no vote/);
    await expect(a.client.rpc.getConsensusSignature({ validAfter: timestampFromMs(period), consensusDigest: new Uint8Array(32) })).rejects.toThrow(
      /no consensus with that digest/,
    );
  });
});
