/**
 * Scale (issue 27): a local network of 100 and of 1,000 relays with 3 authorities, every node
 * in one process (`meowonion network --headless --relays N --authorities 3`, each relay on its
 * own loopback address), and the directory's figures at 1,000 relays.
 * - network_ready_ms_100 / network_ready_ms_1000: from spawning the network to the first byte
 *   of a reply from the meow echo server through its SOCKS port (one cold start each: a
 *   thousand-relay start takes a minute of CPU on a busy 2-core machine).
 * - rss_mb_1000: the network process's resident memory (VmRSS) once ready; rss_peak_mb_1000 its
 *   peak (VmHWM) up to then.
 * - consensus_bytes_1000: a consensus of 1,000 relays (real signed descriptors, 1 in 10 an
 *   exit, computed from 3 authorities' votes) as GetConsensus serves it whole, with its 3
 *   signatures; consensus_relays_1000 how many relays it lists.
 * - consensus_diff_bytes_1000: a typical period's diff (ConsensusDiff bytes, signatures
 *   included): the same consensus one period later with 1 % of its relays changed (a new
 *   descriptor digest and bandwidth), made as the authorities make them.
 * - client_dir_bytes_per_hour_1000 / _whole: what a client following WatchConsensus downloads
 *   per hour, with diffs (what MeowOnion clients ask for) and without (before diffs: every
 *   update a whole consensus). Measured on the running network for WATCH_MS (its 5 s periods,
 *   the initial whole consensus left out), then scaled to the default 60 s period:
 *   bytes per period seen × 60.
 * - authority_consensus_ms_1000: one voting round's computation at 1,000 relays, for all three
 *   authorities in one place: 3 votes built and signed, and the consensus computed from them
 *   (descriptor checks from the cache, as in every round after the first; _cold: the first
 *   round, every descriptor's signature checked). Median of 5 (warm).
 */
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import {
  AuthoritySignatureSchema,
  ConsensusDiffSchema,
  ConsensusSchema,
  SharedRandomVoteSchema,
  SignedConsensusSchema,
  VoteRelaySchema,
  type AuthoritySignature,
} from "../gen/meowonion/v1/consensus_pb.js";
import { GetConsensusResponseSchema, WatchConsensusResponseSchema } from "../gen/meowonion/v1/directory_pb.js";
import { buildVote, computeConsensus, signVote, VoteDescriptorChecker } from "../src/directory/consensus.js";
import { makeConsensusDiff } from "../src/netdoc/consensus-diff.js";
import { buildSignedDescriptor, sha256 } from "../src/netdoc/descriptor.js";
import { createDirectoryClient } from "../src/netdoc/directory-client.js";
import { parseExitPolicy } from "../src/netdoc/exit-policy.js";
import { LOCAL_EXIT_POLICY } from "../src/network/launcher.js";
import { DEFAULT_TIME_PERIOD_PARAMS } from "../src/onion/hs/time-period.js";
import { DOMAIN_CONSENSUS, generateEd25519KeyPair, signWithDomain } from "../src/onion/signing.js";
import { startTimedNetwork, stopTimedNetwork, type TimedNetwork } from "./network.js";

const DEADLINE_MS = 900_000;
const WATCH_MS = 30_000;
const DEFAULT_INTERVAL_S = 60;

function startNetwork(relays: number): Promise<TimedNetwork> {
  return startTimedNetwork(["--relays", String(relays), "--exits", String(Math.max(2, Math.round(relays / 10))), "--authorities", "3"], {
    nodeOptions: ["--max-semi-space-size=8", "--initial-old-space-size=64"],
    env: { ...process.env, MEOWONION_LOG_LEVEL: "error" },
    deadlineMs: DEADLINE_MS,
  });
}

async function memoryMb(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
  return { rss: Math.round(kb("VmRSS") / 1024), peak: Math.round(kb("VmHWM") / 1024) };
}

/** Bytes a WatchConsensus client downloads per period, with and without diffs. */
async function watchBytes(url: string): Promise<{ diffs: number; whole: number }> {
  const client = createDirectoryClient(url, { readMaxBytes: 64 * 1024 * 1024 });
  const stop = AbortSignal.timeout(WATCH_MS);
  const follow = async (acceptDiffs: boolean) => {
    let bytes = 0;
    let first = true;
    const periods = new Set<number>();
    try {
      for await (const update of client.rpc.watchConsensus({ acceptDiffs }, { signal: stop })) {
        if (first) {
          first = false; // the initial whole consensus: a one-time cost, left out
          continue;
        }
        bytes += toBinary(WatchConsensusResponseSchema, update).length;
        if (update.consensus !== undefined) periods.add(timestampMs(fromBinary(ConsensusSchema, update.consensus.consensus).validAfter!));
      }
    } catch {
      // the watch window ended
    }
    return { bytes, periods };
  };
  const [withDiffs, whole] = await Promise.all([follow(true), follow(false)]);
  client.close();
  // Periods are counted on the whole stream (a diff does not say its period without applying it).
  const periods = Math.max(1, whole.periods.size);
  return { diffs: (withDiffs.bytes / periods) * (3600 / DEFAULT_INTERVAL_S), whole: (whole.bytes / periods) * (3600 / DEFAULT_INTERVAL_S) };
}

/**
 * A consensus (bytes and signatures) as served whole, and the diff to the next period with 1 %
 * of its relays changed (a new descriptor digest and bandwidth), as the authorities make it.
 */
function consensusFigures(bytes: Uint8Array, signatures: AuthoritySignature[]): { bytes: number; relays: number; diffBytes: number } {
  const consensus = fromBinary(ConsensusSchema, bytes);
  const next = create(ConsensusSchema, { ...consensus });
  const interval = timestampMs(consensus.freshUntil!) - timestampMs(consensus.validAfter!);
  next.validAfter = timestampFromMs(timestampMs(consensus.validAfter!) + interval);
  next.freshUntil = timestampFromMs(timestampMs(consensus.freshUntil!) + interval);
  next.validUntil = timestampFromMs(timestampMs(consensus.validUntil!) + interval);
  const changed = Math.max(1, Math.round(consensus.relays.length / 100));
  const step = Math.floor(consensus.relays.length / changed);
  next.relays = consensus.relays.map((r, i) =>
    i % step === 0 && i / step < changed ? { ...r, descriptorDigest: randomBytes(32), bandwidthWeight: r.bandwidthWeight + 1n } : r,
  );
  const target = toBinary(ConsensusSchema, next);
  const diff = makeConsensusDiff({ bytes, digest: sha256(bytes) }, { bytes: target, digest: sha256(target) }, signatures);
  const whole = create(GetConsensusResponseSchema, { consensus: create(SignedConsensusSchema, { consensus: bytes, signatures }) });
  return { bytes: toBinary(GetConsensusResponseSchema, whole).length, relays: consensus.relays.length, diffBytes: toBinary(ConsensusDiffSchema, diff).length };
}

/** One round's computation at `n` relays: our vote, then the consensus of 3 votes. */
function consensusRound(n: number): { warm: number; cold: number; consensus: Uint8Array; signatures: AuthoritySignature[] } {
  const policy = parseExitPolicy(LOCAL_EXIT_POLICY);
  const now = Date.now();
  const periodMs = now - (now % 60_000);
  const relays = Array.from({ length: n }, (_, i) => {
    const identity = generateEd25519KeyPair();
    return create(VoteRelaySchema, {
      descriptor: buildSignedDescriptor(
        {
          nickname: `scale${i}`,
          identityKey: identity.publicKey,
          ntorOnionKey: randomBytes(32),
          ipv4Address: `127.${1 + (i % 254)}.${Math.floor(i / 254)}.1`,
          orPort: 9001,
          exitPolicy: i % 10 === 0 ? policy : undefined,
          bandwidth: { averageBytesPerSecond: 104857600n, burstBytesPerSecond: 104857600n },
          published: timestampFromMs(now),
          expires: timestampFromMs(now + 3600_000),
          softwareVersion: "bench",
        },
        identity.privateKey,
      ),
      running: true,
      uptimeSeconds: 3600n,
    });
  });
  const authorities = [1, 2, 3].map(() => generateEd25519KeyPair());
  const params = {
    validAfterMs: periodMs,
    intervalMs: 60_000,
    stableAfterSeconds: 600,
    hsDirUptimeSeconds: 0,
    onionService: DEFAULT_TIME_PERIOD_PARAMS,
    authorityKeys: authorities.map((a) => a.publicKey),
  };
  const round = (checker: VoteDescriptorChecker) => {
    const start = performance.now();
    const votes = authorities.map((a) => {
      const vote = buildVote(periodMs, 0, a.publicKey, relays, create(SharedRandomVoteSchema, {}));
      signVote(vote, a.privateKey);
      return vote;
    });
    const computed = computeConsensus(params, votes, checker);
    if (computed.consensus.relays.length !== n) throw new Error(`consensus lists ${computed.consensus.relays.length} of ${n}`);
    return performance.now() - start;
  };
  const checker = new VoteDescriptorChecker();
  const cold = round(checker);
  const warm: number[] = [];
  for (let i = 0; i < 5; i++) warm.push(round(checker));
  warm.sort((a, b) => a - b);
  const votes = authorities.map((a) => buildVote(periodMs, 0, a.publicKey, relays, create(SharedRandomVoteSchema, {})));
  const { bytes } = computeConsensus(params, votes, checker);
  const signatures = authorities.map((a) =>
    create(AuthoritySignatureSchema, { authorityKey: a.publicKey, signature: signWithDomain(DOMAIN_CONSENSUS, bytes, a.privateKey) }),
  );
  return { cold: Math.round(cold), warm: Math.round(warm[2]), consensus: bytes, signatures };
}

export async function benchScale(): Promise<Record<string, number>> {
  const figures: Record<string, number> = {};
  const round = consensusRound(1_000);
  figures.authority_consensus_ms_1000 = round.warm;
  figures.authority_consensus_ms_1000_cold = round.cold;
  const consensus = consensusFigures(round.consensus, round.signatures);
  figures.consensus_relays_1000 = consensus.relays;
  figures.consensus_bytes_1000 = consensus.bytes;
  figures.consensus_diff_bytes_1000 = consensus.diffBytes;

  const small = await startNetwork(100);
  figures.network_ready_ms_100 = small.readyMs;
  await stopTimedNetwork(small);

  let big: TimedNetwork;
  try {
    big = await startNetwork(1_000);
  } catch (err) {
    // Measured, not asserted: say so and leave the live figures out.
    process.stderr.write(`bench scale: the 1,000-relay network did not come up: ${(err as Error).message}\n`);
    return figures;
  }
  try {
    figures.network_ready_ms_1000 = big.readyMs;
    const memory = await memoryMb(big.child.pid!);
    figures.rss_mb_1000 = memory.rss;
    figures.rss_peak_mb_1000 = memory.peak;
    const watched = await watchBytes(big.authorities[0].url);
    figures.client_dir_bytes_per_hour_1000 = Math.round(watched.diffs);
    figures.client_dir_bytes_per_hour_1000_whole = Math.round(watched.whole);
  } finally {
    await stopTimedNetwork(big);
  }
  return figures;
}
