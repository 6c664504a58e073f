/**
 * Voting and consensus publication (consensus.proto, HOW AUTHORITIES AGREE).
 *
 * A round computes the consensus of the current revision (a tenth of the period, see
 * REVISIONS there): (1) this authority's vote for the revision, made once and then frozen;
 * (2) the peers' votes for the same revision (GetVote; a peer makes its vote on demand, so no
 * phase schedule is needed); (3) the deterministic consensus of all votes held, signed by us;
 * (4) the peers' signatures over the same bytes (GetConsensusSignature naming the revision: a
 * peer that has not computed it does so then; retried with backoff until the period ends).
 * A consensus is published (GetConsensus, WatchConsensus) once it carries signatures from a
 * majority of the known authorities: newer periods replace older ones, and within a period
 * the highest revision wins, so a change in the network is reflected within a revision or two
 * instead of one interval, even while relays keep joining.
 * Rounds run at every new period, after every change of this authority's view that can change
 * the consensus (RelayRegistry.viewVersion; at the next revision if this one's vote is already
 * made), and when a peer asks for a signature over a consensus we did not compute without
 * naming its revision. They never overlap, and the
 * starts of two rounds are at least `minRoundGapMs` and ROUND_GAP_FACTOR times the previous
 * round's duration apart (at most half an interval): a round over a thousand relays costs tens
 * of milliseconds on each authority, and while relays join one after the other every view
 * change asks for one, so voting would otherwise take all of the authority's time.
 */
import { create } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  AuthoritySignatureSchema,
  SignedConsensusSchema,
  type AuthoritySignature,
  type SignedConsensus,
  type SignedVote,
  type Vote,
} from "../../gen/meowonion/v1/consensus_pb.js";
import {
  GetConsensusResponseSchema,
  WatchConsensusResponseSchema,
  type GetConsensusResponse,
  type WatchConsensusResponse,
} from "../../gen/meowonion/v1/directory_pb.js";
import type { Logger } from "../common/log.js";
import { DOMAIN_CONSENSUS, signWithDomain, type Ed25519KeyPair } from "../onion/signing.js";
import {
  buildVote,
  computeConsensus,
  periodStart,
  signVote,
  type ComputedConsensus,
  type VoteDescriptorChecker,
} from "./consensus.js";
import { hex } from "../netdoc/descriptor.js";
import { ConsensusDiffs } from "./diffs.js";
import { PeerAuthority, type PeerConfig } from "./peers.js";
import type { RelayRegistry } from "./registry.js";
import { sleep } from "../common/sleep.js";
import { majority } from "../netdoc/consensus.js";
import { type TimePeriodParams, timePeriodAt } from "../onion/hs/time-period.js";
import type { SharedRandomMemory } from "./shared-random.js";

export const MAX_AUTHORITIES = 16;
const MAX_WATCHERS = 10_000;
// Periods kept for GetVote / GetConsensusSignature: the current one and two before it.
const PERIODS_KEPT = 3;
// A peer whose clock runs slightly ahead may ask for the next period's vote this early.
const NEXT_PERIOD_GRACE_MS = 2_000;
// Distinct consensuses remembered per period (each view change in a period makes one).
const ENTRIES_PER_PERIOD = 16;
// Rounds take at most a third of the time (see the header).
const ROUND_GAP_FACTOR = 3;
/** consensus.proto HOW AUTHORITIES AGREE, REVISIONS. */
export const REVISIONS_PER_PERIOD = 10;
// A peer whose clock runs slightly ahead may ask for the next revision's vote.
const REVISIONS_AHEAD = 1;

export interface VotingOptions {
  identity: Ed25519KeyPair;
  peers: PeerConfig[];
  intervalMs: number;
  stableAfterSeconds: number;
  hsDirUptimeSeconds: number;
  onionService: TimePeriodParams;
  /** What this authority saw of the shared random values (consensus.proto SHARED RANDOMNESS). */
  sharedRandom: SharedRandomMemory;
  registry: RelayRegistry;
  checker: VoteDescriptorChecker;
  log: Logger;
  now?: () => number;
}

interface OwnVote {
  vote: Vote;
  signed: SignedVote;
}

interface Entry {
  periodMs: number;
  revision: number;
  /** Order in which rounds computed it: between two of one revision, the later wins. */
  seq: number;
  computed: ComputedConsensus;
  signatures: Map<string, AuthoritySignature>;
  /** Peers whose signature a collectSignature loop is fetching (one loop per peer). */
  collecting: Set<string>;
}

interface Published {
  entry: Entry;
  signatureCount: number;
  signed: SignedConsensus;
  /** Built once per publication: GetConsensus never rebuilds or re-signs anything. */
  response: GetConsensusResponse;
}

interface Watcher {
  pending: Published | undefined;
  wake: (() => void) | undefined;
}

export class Voting {
  private readonly peers: PeerAuthority[];
  private readonly authorityKeys: Uint8Array[];
  private readonly ownKeyHex: string;
  private readonly now: () => number;
  private readonly minRoundGapMs: number;
  private readonly revisionMs: number;
  /** Frozen votes by period, then revision. */
  private readonly ownVotes = new Map<number, Map<number, OwnVote>>();
  /** Computations of a revision's consensus under way (a round's, or GetConsensusSignature's), by period:revision. */
  private readonly computing = new Map<string, Promise<Entry | undefined>>();
  /** Revisions whose consensus was computed from every authority's vote: computing again would give the same. */
  private readonly complete = new Map<string, Entry>();
  private readonly entries = new Map<number, Entry[]>();
  private readonly watchers = new Set<Watcher>();
  private readonly diffs: ConsensusDiffs;
  private readonly stopping = new AbortController();
  private published: Published | undefined;
  private seq = 0;
  private lastRoundPeriod = -1;
  private lastRoundAtMs = -Infinity;
  private lastRoundDurationMs = 0;
  private roundWanted = false;
  private roundRunning = false;
  private roundTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: VotingOptions) {
    if (options.peers.length + 1 > MAX_AUTHORITIES) throw new Error(`at most ${MAX_AUTHORITIES} authorities are supported`);
    this.now = options.now ?? Date.now;
    this.ownKeyHex = hex(options.identity.publicKey);
    const peerTimeoutMs = Math.min(5_000, Math.max(500, options.intervalMs / 2));
    this.peers = options.peers.map((p) => new PeerAuthority(p, peerTimeoutMs, options.log));
    this.authorityKeys = [options.identity.publicKey, ...options.peers.map((p) => p.key)];
    this.minRoundGapMs = Math.min(1_000, Math.max(20, options.intervalMs / 20));
    this.revisionMs = options.intervalMs / REVISIONS_PER_PERIOD;
    this.diffs = new ConsensusDiffs({ keepMs: 3 * options.intervalMs, now: this.now });
  }

  /** Called periodically: starts a round when a new period began. */
  tick(): void {
    if (periodStart(this.now(), this.options.intervalMs) !== this.lastRoundPeriod) this.requestRound();
  }

  /** Asks for a round soon (coalesced with any pending one). */
  requestRound(): void {
    this.roundWanted = true;
    this.schedule();
  }

  /**
   * The GetConsensus response: a diff from the first of `have` kept as a base, else the
   * cached whole consensus; undefined before the first consensus.
   */
  current(have: Uint8Array[] = []): GetConsensusResponse | undefined {
    const published = this.published;
    if (published === undefined) return undefined;
    const base = this.diffs.firstHeld(have);
    const diff = base === undefined ? undefined : this.diffs.diff(base, published.entry.computed, published.signed.signatures);
    return diff === undefined ? published.response : create(GetConsensusResponseSchema, { diff });
  }

  /**
   * GetVote: our vote for a revision of the current period (made now if needed; `revision`
   * absent: the current one), or a kept one of a past period (absent: the last made).
   */
  voteFor(periodMs: number, revision?: number): SignedVote | undefined {
    const now = this.now();
    const current = periodStart(now, this.options.intervalMs);
    const upcoming = periodMs === current + this.options.intervalMs && periodMs - now <= NEXT_PERIOD_GRACE_MS;
    if (periodMs === current || upcoming) {
      const latest = this.revisionAt(periodMs, now);
      if (revision !== undefined && revision > latest + REVISIONS_AHEAD) return undefined;
      return this.ownVote(periodMs, revision ?? latest).signed;
    }
    if (periodMs > current) return undefined;
    const held = this.ownVotes.get(periodMs);
    if (revision !== undefined) return held?.get(revision)?.signed;
    return held === undefined ? undefined : held.get(Math.max(...held.keys()))?.signed;
  }

  /**
   * GetConsensusSignature: our signature if we computed that consensus for that period; with
   * `revision`, that revision's consensus is computed first if it was not yet (REVISIONS).
   */
  async signatureFor(periodMs: number, digest: Uint8Array, revision?: number): Promise<AuthoritySignature | undefined> {
    const held = this.entryWithDigest(periodMs, digest);
    if (held !== undefined) return held.signatures.get(this.ownKeyHex);
    const current = periodStart(this.now(), this.options.intervalMs);
    if (revision === undefined) {
      // A peer that does not name the revision: recompute soon, so its next attempt may match.
      if (periodMs === current) this.requestRound();
      return undefined;
    }
    if (periodMs !== current || revision > this.revisionAt(periodMs, this.now()) + REVISIONS_AHEAD) return undefined;
    const entry = await this.computeRevision(periodMs, revision);
    return entry !== undefined && Buffer.from(entry.computed.digest).equals(digest) ? entry.signatures.get(this.ownKeyHex) : undefined;
  }

  private entryWithDigest(periodMs: number, digest: Uint8Array): Entry | undefined {
    return this.entries.get(periodMs)?.find((e) => Buffer.from(e.computed.digest).equals(digest));
  }

  /**
   * A revision's consensus: the one computed from every authority's vote if there is one, else
   * computed now, one computation at a time (a later request recomputes: a vote was missing).
   */
  private computeRevision(periodMs: number, revision: number): Promise<Entry | undefined> {
    const key = `${periodMs}:${revision}`;
    const done = this.complete.get(key);
    if (done !== undefined) return Promise.resolve(done);
    let running = this.computing.get(key);
    if (running === undefined) {
      running = this.computeEntry(periodMs, revision)
        .catch((err: unknown) => {
          this.options.log.error({ err }, "computing a revision's consensus failed");
          return undefined;
        })
        .finally(() => this.computing.delete(key));
      this.computing.set(key, running);
    }
    return running;
  }

  /**
   * WatchConsensus: the current consensus at once, then every new publication; with
   * `acceptDiffs`, each as a diff from what the client holds (the first from `have`, if kept).
   */
  async *watch(signal: AbortSignal, request: { acceptDiffs: boolean; have: Uint8Array[] }): AsyncGenerator<WatchConsensusResponse> {
    if (this.watchers.size >= MAX_WATCHERS) {
      throw new ConnectError(`the authority serves at most ${MAX_WATCHERS} watchers`, Code.ResourceExhausted);
    }
    // What the client holds: the base of the next diff.
    let base = request.acceptDiffs ? this.diffs.firstHeld(request.have) : undefined;
    // Only the newest consensus matters: a slow reader skips intermediate ones instead of
    // making us queue them.
    const w: Watcher = { pending: this.published, wake: undefined };
    this.watchers.add(w);
    const wake = () => w.wake?.();
    signal.addEventListener("abort", wake);
    this.stopping.signal.addEventListener("abort", wake);
    try {
      while (!signal.aborted && !this.stopping.signal.aborted) {
        const next = w.pending;
        if (next !== undefined) {
          w.pending = undefined;
          const diff = base === undefined ? undefined : this.diffs.diff(base, next.entry.computed, next.signed.signatures);
          if (request.acceptDiffs) base = hex(next.entry.computed.digest);
          yield diff === undefined ? create(WatchConsensusResponseSchema, { consensus: next.signed }) : create(WatchConsensusResponseSchema, { diff });
          continue;
        }
        await new Promise<void>((resolve) => (w.wake = resolve));
        w.wake = undefined;
      }
    } finally {
      this.watchers.delete(w);
      signal.removeEventListener("abort", wake);
      this.stopping.signal.removeEventListener("abort", wake);
    }
  }

  close(): void {
    this.stopping.abort();
    clearTimeout(this.roundTimer);
    for (const peer of this.peers) peer.close();
  }

  /** How long the last voting round took, ms (vote, peers' votes, consensus, our signature). */
  get lastRoundMs(): number {
    return this.lastRoundDurationMs;
  }

  private schedule(): void {
    if (this.stopping.signal.aborted || this.roundRunning || this.roundTimer !== undefined || !this.roundWanted) return;
    const now = this.now();
    const gap = Math.max(this.minRoundGapMs, Math.min(this.options.intervalMs / 2, ROUND_GAP_FACTOR * this.lastRoundDurationMs));
    // This revision's votes are frozen: a round before the next one would compute the same.
    const periodMs = periodStart(now, this.options.intervalMs);
    const revision = this.revisionAt(periodMs, now);
    const nextRevisionMs = this.complete.has(`${periodMs}:${revision}`) ? periodMs + (revision + 1) * this.revisionMs : 0;
    const wait = Math.max(0, this.lastRoundAtMs + gap - now, nextRevisionMs - now);
    this.roundTimer = setTimeout(() => void this.runRound(), wait);
  }

  private async runRound(): Promise<void> {
    this.roundTimer = undefined;
    this.roundWanted = false;
    this.roundRunning = true;
    this.lastRoundAtMs = this.now();
    try {
      await this.round();
    } catch (err) {
      this.options.log.error({ err }, "voting round failed");
    } finally {
      this.lastRoundDurationMs = this.now() - this.lastRoundAtMs;
      this.roundRunning = false;
      this.schedule();
    }
  }

  private async round(): Promise<void> {
    const now = this.now();
    const periodMs = periodStart(now, this.options.intervalMs);
    this.lastRoundPeriod = periodMs;
    const entry = await this.computeRevision(periodMs, this.revisionAt(periodMs, now));
    if (entry === undefined) return;
    for (const peer of this.peers) {
      if (!entry.signatures.has(peer.keyHex) && !entry.collecting.has(peer.keyHex)) void this.collectSignature(peer, entry);
    }
  }

  /** The consensus of one revision from every vote for it we can get, signed by us and considered for publication. */
  private async computeEntry(periodMs: number, revision: number): Promise<Entry | undefined> {
    const votes = [this.ownVote(periodMs, revision).vote];
    for (const vote of await Promise.all(this.peers.map((p) => p.fetchVote(periodMs, revision)))) {
      if (vote !== undefined) votes.push(vote);
    }
    if (this.stopping.signal.aborted) return undefined;
    const computed = computeConsensus(
      {
        validAfterMs: periodMs,
        intervalMs: this.options.intervalMs,
        stableAfterSeconds: this.options.stableAfterSeconds,
        hsDirUptimeSeconds: this.options.hsDirUptimeSeconds,
        onionService: this.options.onionService,
        authorityKeys: this.authorityKeys,
      },
      votes,
      this.options.checker,
    );
    const entry = this.entryFor(periodMs, revision, computed);
    entry.seq = ++this.seq;
    this.prune(periodMs);
    if (votes.length === this.peers.length + 1) this.complete.set(`${periodMs}:${revision}`, entry);
    this.considerPublishing(entry);
    return entry;
  }

  /** The revision of `periodMs` that `now` falls in (the last one once the period is over). */
  private revisionAt(periodMs: number, now: number): number {
    return Math.min(REVISIONS_PER_PERIOD - 1, Math.max(0, Math.floor((now - periodMs) / this.revisionMs)));
  }

  /** Our vote for a revision: made the first time it is needed, never changed afterwards. */
  private ownVote(periodMs: number, revision: number): OwnVote {
    let period = this.ownVotes.get(periodMs);
    if (period === undefined) this.ownVotes.set(periodMs, (period = new Map()));
    const held = period.get(revision);
    if (held !== undefined) return held;
    const sharedRandom = this.options.sharedRandom.voteFor(timePeriodAt(periodMs, this.options.onionService).number, this.options.identity.privateKey);
    const vote = buildVote(periodMs, revision, this.options.identity.publicKey, this.options.registry.voteRelays(periodMs), sharedRandom);
    const own = { vote, signed: signVote(vote, this.options.identity.privateKey) };
    period.set(revision, own);
    return own;
  }

  private entryFor(periodMs: number, revision: number, computed: ComputedConsensus): Entry {
    let list = this.entries.get(periodMs);
    if (list === undefined) this.entries.set(periodMs, (list = []));
    const found = list.find((e) => Buffer.from(e.computed.digest).equals(computed.digest));
    if (found !== undefined) {
      found.revision = Math.max(found.revision, revision);
      return found;
    }
    const own = create(AuthoritySignatureSchema, {
      authorityKey: this.options.identity.publicKey,
      signature: signWithDomain(DOMAIN_CONSENSUS, computed.bytes, this.options.identity.privateKey),
    });
    const entry: Entry = { periodMs, revision, seq: 0, computed, signatures: new Map([[this.ownKeyHex, own]]), collecting: new Set() };
    list.push(entry);
    if (list.length > ENTRIES_PER_PERIOD) list.shift();
    return entry;
  }

  private prune(currentPeriodMs: number): void {
    const oldest = currentPeriodMs - (PERIODS_KEPT - 1) * this.options.intervalMs;
    for (const period of this.entries.keys()) if (period < oldest) this.entries.delete(period);
    for (const period of this.ownVotes.keys()) if (period < oldest) this.ownVotes.delete(period);
    for (const [key, entry] of this.complete) if (entry.periodMs < currentPeriodMs) this.complete.delete(key);
  }

  /** What is published outranks it, or its period is over. */
  private superseded(entry: Entry): boolean {
    const published = this.published?.entry;
    return (published !== undefined && published !== entry && !outranks(entry, published)) || entry.periodMs !== periodStart(this.now(), this.options.intervalMs);
  }

  private async collectSignature(peer: PeerAuthority, entry: Entry): Promise<void> {
    entry.collecting.add(peer.keyHex);
    let delayMs = 25;
    const maxDelayMs = Math.max(250, this.options.intervalMs / 4);
    try {
      while (!this.stopping.signal.aborted && !entry.signatures.has(peer.keyHex) && !this.superseded(entry)) {
        const signature = await peer.fetchSignature(entry.periodMs, entry.revision, entry.computed.digest, entry.computed.bytes);
        if (signature !== undefined) {
          entry.signatures.set(peer.keyHex, signature);
          this.considerPublishing(entry);
          return;
        }
        await sleep(delayMs, this.stopping.signal);
        delayMs = Math.min(delayMs * 2, maxDelayMs);
      }
    } finally {
      entry.collecting.delete(peer.keyHex);
    }
  }

  private considerPublishing(entry: Entry): void {
    if (entry.signatures.size < majority(this.authorityKeys.length)) return;
    const cur = this.published;
    if (cur !== undefined) {
      if (cur.entry !== entry && !outranks(entry, cur.entry)) return;
      if (cur.entry === entry && cur.signatureCount === entry.signatures.size) return;
    }
    const signatures = [...entry.signatures.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, s]) => s);
    const signed = create(SignedConsensusSchema, { consensus: entry.computed.bytes, signatures });
    this.published = {
      entry,
      signatureCount: entry.signatures.size,
      signed,
      response: create(GetConsensusResponseSchema, { consensus: signed }),
    };
    if (cur?.entry !== entry) {
      this.options.log.info(
        {
          validAfter: new Date(timestampMs(entry.computed.consensus.validAfter!)).toISOString(),
          relays: entry.computed.consensus.relays.length,
          signatures: signatures.length,
          digest: hex(entry.computed.digest).slice(0, 16),
        },
        "consensus published",
      );
    }
    if (cur?.entry !== entry) this.diffs.add(entry.computed);
    for (const w of this.watchers) {
      w.pending = this.published;
      w.wake?.();
    }
    this.options.sharedRandom.remember(entry.computed.consensus.sharedRandom).catch((err: unknown) => this.options.log.error({ err }, "could not keep the shared random state"));
  }
}

/** `a` replaces `b` as the published consensus: a later period, a higher revision, or computed later. */
function outranks(a: Entry, b: Entry): boolean {
  return a.periodMs !== b.periodMs ? a.periodMs > b.periodMs : a.revision !== b.revision ? a.revision > b.revision : a.seq > b.seq;
}
