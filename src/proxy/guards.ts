/**
 * Entry guards as Tor's guard-spec (proposal 271), so that an adversary running a few relays
 * cannot eventually be the first hop of most of a user's circuits:
 * - SAMPLED guards: chosen (weighted by bandwidth) among guard candidates once, kept 120 days
 *   (a confirmed one at least 60 days after confirmation), topped up while fewer than
 *   MIN_FILTERED_SAMPLE of them are listed, never more than the maximum sample size;
 * - FILTERED: the sampled guards the current consensus lists as guard candidates (a guard
 *   unlisted for 20 days is forgotten; one that comes back keeps its place);
 * - CONFIRMED: sampled guards a circuit was built through, in the order they were confirmed;
 * - PRIMARY: the first N_PRIMARY_GUARDS filtered guards, confirmed ones first in confirmed order
 *   then the rest in sample order. Circuits go through the first primary guard that is not
 *   known unreachable and fits the path; only when none does, through a confirmed then any
 *   other filtered guard;
 * - reachability per guard (not persisted): yes, no or maybe; a guard found unreachable is
 *   retried on Tor's schedule (primary: every 10 min for 6 h, 90 min for 4 days, 4 h for 7
 *   days, then 9 h; others: 1 h, 4 h, 18 h, 36 h);
 * - a circuit through a non-primary guard waits before it is used: it is used once every
 *   primary guard that would fit its path is known unreachable, or after NONPRIMARY_WAIT_MS
 *   without a primary guard answering; it is abandoned when one does.
 * Persisted in `<data-dir>/guards.json` (atomic writes): the sample in order, with each guard's
 * sampling, unlisting and confirmation dates and the confirmed order.
 */
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { ConsensusRelay } from "../../gen/meowonion/v1/consensus_pb.js";
import { writeFileAtomic } from "../common/files.js";
import { componentLogger, type Logger } from "../common/log.js";
import { guardCandidates, sameKey, secureRandom, weightedChoice } from "./path.js";

export const GUARD_FILE = "guards.json";
/** Tor's number of primary guards. */
export const N_PRIMARY_GUARDS = 3;
/** Tor's MIN_FILTERED_SAMPLE: sample more while fewer sampled guards are listed. */
export const MIN_FILTERED_SAMPLE = 20;
/** Never sample more than this many guards (and never more than 20 % of the candidates beyond MIN_FILTERED_SAMPLE). */
export const MAX_SAMPLE_SIZE = 60;
const DAY = 24 * 3600 * 1000;
const HOUR = 3600 * 1000;
/** Tor's GUARD_LIFETIME and GUARD_CONFIRMED_MIN_LIFETIME. */
export const GUARD_LIFETIME_MS = 120 * DAY;
export const GUARD_CONFIRMED_MIN_LIFETIME_MS = 60 * DAY;
/** Tor's REMOVE_UNLISTED_GUARDS_AFTER. */
export const REMOVE_UNLISTED_AFTER_MS = 20 * DAY;
/** Tor's NONPRIMARY_GUARD_CONNECT_TIMEOUT. */
export const NONPRIMARY_WAIT_MS = 15_000;
/** The first retry of a primary guard found unreachable (Tor: 10 minutes). */
export const GUARD_RETRY_MS = 10 * 60_000;
const MAX_FILE_BYTES = 1024 * 1024;

/** One sampled guard as persisted. */
export interface GuardEntry {
  /** Hex of the Ed25519 identity key. */
  identityKey: string;
  nickname: string;
  /** ISO time the guard was sampled. */
  addedAt: string;
  /** ISO time since which the consensus has not listed it. */
  unlistedSince?: string;
  /** ISO time it was confirmed (a circuit through it was built), with its place in the confirmed order. */
  confirmedAt?: string;
  confirmedIdx?: number;
}

interface GuardFileContents {
  version: 2;
  sampled: GuardEntry[];
}

type Reachable = "yes" | "no" | "maybe";

interface Reachability {
  reachable: Reachable;
  failingSince?: number;
  lastTried?: number;
  /** A circuit through this non-primary guard is being built. */
  pending: boolean;
}

/** A circuit's use of a guard, from its start to its end (see GuardStore.circuitStarted). */
export interface GuardUse {
  identityKey: Uint8Array;
  primary: boolean;
  /** The other relays of the circuit's path (a primary guard that conflicts does not count as better). */
  fits: (relay: ConsensusRelay) => boolean;
}

const hex = (key: Uint8Array) => Buffer.from(key).toString("hex");
const isDate = (v: unknown) => typeof v === "string" && !Number.isNaN(Date.parse(v));

function isGuardEntry(value: unknown): value is GuardEntry {
  const e = value as Partial<GuardEntry> | null;
  return (
    typeof e === "object" &&
    e !== null &&
    typeof e.identityKey === "string" &&
    /^[0-9a-f]{64}$/.test(e.identityKey) &&
    typeof e.nickname === "string" &&
    isDate(e.addedAt) &&
    (e.unlistedSince === undefined || isDate(e.unlistedSince)) &&
    (e.confirmedAt === undefined || isDate(e.confirmedAt)) &&
    (e.confirmedIdx === undefined || (Number.isSafeInteger(e.confirmedIdx) && e.confirmedIdx >= 0))
  );
}

/**
 * Parses a guard file into the sample, in order; malformed entries are dropped, a malformed
 * file gives undefined. A version-1 file (an ordered list of used guards) becomes a sample
 * whose guards are all confirmed, in that order.
 */
export function parseGuardFile(text: string): GuardEntry[] | undefined {
  try {
    const parsed = JSON.parse(text) as { version?: number; sampled?: unknown; guards?: unknown };
    if (parsed?.version === 2 && Array.isArray(parsed.sampled)) {
      const seen = new Set<string>();
      return parsed.sampled.filter(isGuardEntry).filter((e) => !seen.has(e.identityKey) && seen.add(e.identityKey));
    }
    if (parsed?.version === 1 && Array.isArray(parsed.guards)) {
      return parsed.guards
        .filter((e): e is GuardEntry => isGuardEntry({ ...(e as object), unlistedSince: undefined, confirmedAt: undefined, confirmedIdx: undefined }))
        .map((e, i) => ({ identityKey: e.identityKey, nickname: e.nickname, addedAt: e.addedAt, confirmedAt: e.addedAt, confirmedIdx: i }));
    }
    return undefined;
  } catch {
    return undefined;
  }
}

/** How long after the last attempt a guard failing since `failingSince` is tried again (Tor's schedule). */
export function retryDelayMs(primary: boolean, failingFor: number): number {
  const steps = primary ? [10 * 60_000, 90 * 60_000, 4 * HOUR, 9 * HOUR] : [HOUR, 4 * HOUR, 18 * HOUR, 36 * HOUR];
  if (failingFor < 6 * HOUR) return steps[0];
  if (failingFor < 4 * DAY) return steps[1];
  if (failingFor < 7 * DAY) return steps[2];
  return steps[3];
}

export interface GuardStoreOptions {
  log?: Logger;
  random?: () => number;
  /** How long a circuit through a non-primary guard may wait for a primary one. */
  nonPrimaryWaitMs?: number;
}

interface Waiter {
  use: GuardUse;
  since: number;
  resolve: (verdict: "use" | "abandon") => void;
  timer: NodeJS.Timeout;
}

/** The guard state of one proxy, persisted in its data directory (in memory without one). */
export class GuardStore {
  private writing: Promise<void> = Promise.resolve();
  private readonly reach = new Map<string, Reachability>();
  private readonly waiters = new Set<Waiter>();
  private relays: readonly ConsensusRelay[] = [];
  private readonly random: () => number;
  private readonly nonPrimaryWaitMs: number;

  private constructor(
    private entries: GuardEntry[],
    private readonly path: string | undefined,
    private readonly log: Logger,
    options: GuardStoreOptions,
  ) {
    this.random = options.random ?? secureRandom;
    this.nonPrimaryWaitMs = options.nonPrimaryWaitMs ?? NONPRIMARY_WAIT_MS;
  }

  static async open(dataDir: string | undefined, options: GuardStoreOptions): Promise<GuardStore> {
    const log = options.log ?? componentLogger("proxy", { part: "guards" });
    if (dataDir === undefined) return new GuardStore([], undefined, log, options);
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const path = join(dataDir, GUARD_FILE);
    let entries: GuardEntry[] = [];
    try {
      const text = await readFile(path, "utf8");
      const parsed = text.length <= MAX_FILE_BYTES ? parseGuardFile(text) : undefined;
      if (parsed) entries = parsed;
      else log.warn({ path }, "guard file is malformed; sampling new guards");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    return new GuardStore(entries, path, log, options);
  }

  /** The sampled guards, in sample order. */
  get list(): readonly GuardEntry[] {
    return this.entries;
  }

  /** The confirmed guards, in confirmed order. */
  get confirmed(): GuardEntry[] {
    return this.entries.filter((e) => e.confirmedIdx !== undefined).sort((a, b) => a.confirmedIdx! - b.confirmedIdx!);
  }

  /**
   * A new consensus: note guards that became unlisted or listed again, forget expired guards
   * and guards unlisted too long, and sample more while too few are listed. Persists changes.
   */
  update(relays: readonly ConsensusRelay[], now = Date.now()): void {
    this.relays = relays;
    const candidates = guardCandidates(relays);
    const listed = new Set(candidates.map((r) => hex(r.identityKey)));
    let next = this.entries
      .map((e) => {
        if (listed.has(e.identityKey)) return e.unlistedSince === undefined ? e : { ...e, unlistedSince: undefined };
        return e.unlistedSince !== undefined ? e : { ...e, unlistedSince: new Date(now).toISOString() };
      })
      .filter((e) => {
        if (e.unlistedSince !== undefined && Date.parse(e.unlistedSince) + REMOVE_UNLISTED_AFTER_MS <= now) return false;
        const expires = Math.max(Date.parse(e.addedAt) + GUARD_LIFETIME_MS, e.confirmedAt === undefined ? 0 : Date.parse(e.confirmedAt) + GUARD_CONFIRMED_MIN_LIFETIME_MS);
        return expires > now;
      });
    const maxSample = Math.min(MAX_SAMPLE_SIZE, Math.max(MIN_FILTERED_SAMPLE, Math.ceil(candidates.length * 0.2)));
    const filteredCount = () => next.filter((e) => listed.has(e.identityKey)).length;
    while (filteredCount() < MIN_FILTERED_SAMPLE && next.length < maxSample) {
      const pick = weightedChoice(
        candidates.filter((r) => !next.some((e) => e.identityKey === hex(r.identityKey))),
        this.random,
      );
      if (!pick) break;
      next = [...next, { identityKey: hex(pick.identityKey), nickname: pick.nickname, addedAt: new Date(now).toISOString() }];
    }
    if (JSON.stringify(next) !== JSON.stringify(this.entries)) {
      const added = next.filter((e) => !this.entries.some((o) => o.identityKey === e.identityKey));
      if (added.length > 0) this.log.info({ guards: added.map((e) => e.nickname) }, "sampled entry guards");
      this.setEntries(next);
    }
    this.reevaluate(now);
  }

  /** The filtered guards: sampled and listed as guard candidates by the current consensus. */
  filtered(relays: readonly ConsensusRelay[] = this.relays): GuardEntry[] {
    const listed = new Set(guardCandidates(relays).map((r) => hex(r.identityKey)));
    return this.entries.filter((e) => listed.has(e.identityKey));
  }

  /** The primary guards: confirmed filtered guards in confirmed order, then filtered ones in sample order. */
  primaryEntries(relays: readonly ConsensusRelay[] = this.relays): GuardEntry[] {
    const filtered = this.filtered(relays);
    const confirmed = filtered.filter((e) => e.confirmedIdx !== undefined).sort((a, b) => a.confirmedIdx! - b.confirmedIdx!);
    const rest = filtered.filter((e) => e.confirmedIdx === undefined);
    return [...confirmed, ...rest].slice(0, N_PRIMARY_GUARDS);
  }

  /**
   * Guard identity keys to try for a circuit, best first (path.ts takes the first that fits):
   * primary guards not known unreachable; then confirmed, then other filtered guards that are
   * not known unreachable and have no circuit pending; then the rest, retried early rather than
   * no circuit at all.
   */
  primary(relays: readonly ConsensusRelay[], now = Date.now()): Uint8Array[] {
    if (relays !== this.relays) this.relays = relays;
    const primary = this.primaryEntries(relays);
    const isPrimary = (e: GuardEntry) => primary.includes(e);
    const up = (e: GuardEntry) => this.reachableAt(e, isPrimary(e), now) !== "no";
    const filtered = this.filtered(relays);
    const others = filtered.filter((e) => !isPrimary(e));
    const confirmedOthers = others.filter((e) => e.confirmedIdx !== undefined).sort((a, b) => a.confirmedIdx! - b.confirmedIdx!);
    const order = [
      ...primary.filter(up),
      ...confirmedOthers.filter((e) => up(e) && !this.state(e).pending),
      ...others.filter((e) => e.confirmedIdx === undefined && up(e) && !this.state(e).pending),
      ...primary.filter((e) => !up(e)),
      ...others.filter((e) => !up(e) || this.state(e).pending),
    ];
    return [...new Set(order)].map((e) => Buffer.from(e.identityKey, "hex"));
  }

  /** Whether `identityKey` is one of the primary guards now. */
  isPrimary(identityKey: Uint8Array): boolean {
    return this.primaryEntries().some((e) => e.identityKey === hex(identityKey));
  }

  /** A guard outside the sample had to be used (every sampled guard conflicted): it joins the sample. */
  adopt(relay: ConsensusRelay, now = Date.now()): void {
    if (this.find(relay.identityKey)) return;
    this.setEntries([...this.entries, { identityKey: hex(relay.identityKey), nickname: relay.nickname, addedAt: new Date(now).toISOString() }]);
  }

  /** A circuit through `guard` starts (its path is `path`, guard first). */
  circuitStarted(path: readonly ConsensusRelay[], fits: (relay: ConsensusRelay) => boolean): GuardUse {
    const identityKey = path[0].identityKey;
    const primary = this.isPrimary(identityKey);
    const entry = this.find(identityKey);
    if (entry !== undefined && !primary) this.state(entry).pending = true;
    return { identityKey, primary, fits };
  }

  /**
   * The circuit was built: the guard is reachable and confirmed. Resolves "use" at once for a
   * primary guard; for another, once no better primary guard may answer (see the file comment),
   * or "abandon" when one did.
   */
  circuitSucceeded(use: GuardUse, now = Date.now()): Promise<"use" | "abandon"> {
    this.markReachable(use.identityKey, now);
    if (use.primary) {
      this.confirm(use.identityKey, now);
      return Promise.resolve("use");
    }
    return new Promise((resolve) => {
      const waiter: Waiter = {
        use,
        since: now,
        resolve: (verdict) => {
          clearTimeout(waiter.timer);
          this.waiters.delete(waiter);
          const entry = this.find(use.identityKey);
          if (entry !== undefined) this.state(entry).pending = false;
          // A guard is confirmed when a circuit through it is used (Tor).
          if (verdict === "use") this.confirm(use.identityKey, Date.now());
          resolve(verdict);
        },
        timer: setTimeout(() => waiter.resolve("use"), this.nonPrimaryWaitMs),
      };
      waiter.timer.unref?.();
      this.waiters.add(waiter);
      this.reevaluate(now);
    });
  }

  /** The circuit failed before reaching past the guard (hop 0 unreachable). */
  circuitFailed(use: GuardUse, now = Date.now()): void {
    this.markUnreachable(use.identityKey, now);
  }

  /** The circuit failed further on or was given up: the guard is no longer pending. */
  circuitEnded(use: GuardUse): void {
    const entry = this.find(use.identityKey);
    if (entry !== undefined) this.state(entry).pending = false;
  }

  markUnreachable(identityKey: Uint8Array, now = Date.now()): void {
    const entry = this.find(identityKey);
    if (!entry) return;
    const s = this.state(entry);
    s.pending = false;
    if (s.reachable !== "no") s.failingSince = now;
    s.reachable = "no";
    s.lastTried = now;
    this.reevaluate(now);
  }

  markReachable(identityKey: Uint8Array, now = Date.now()): void {
    const entry = this.find(identityKey);
    if (!entry) return;
    const s = this.state(entry);
    s.pending = false;
    s.reachable = "yes";
    s.failingSince = undefined;
    s.lastTried = now;
    const primary = this.primaryEntries();
    // The network works again while every primary guard was down: give them another chance (Tor).
    if (!primary.includes(entry) && primary.length > 0 && primary.every((p) => this.state(p).reachable === "no")) {
      for (const p of primary) this.state(p).reachable = "maybe";
    }
    this.reevaluate(now);
  }

  /** A circuit through the guard is used: it joins the end of the confirmed order. */
  private confirm(identityKey: Uint8Array, now: number): void {
    const entry = this.find(identityKey);
    if (entry === undefined || entry.confirmedIdx !== undefined) return;
    const nextIdx = Math.max(-1, ...this.entries.map((e) => e.confirmedIdx ?? -1)) + 1;
    this.replace(entry, { ...entry, confirmedAt: new Date(now).toISOString(), confirmedIdx: nextIdx });
    this.log.info({ guard: entry.nickname, confirmedIdx: nextIdx }, "entry guard confirmed");
  }

  /** Reachability as the retry schedule sees it at `now`: a guard due for a retry is "maybe". */
  reachableAt(entry: GuardEntry, primary: boolean, now: number): Reachable {
    const s = this.state(entry);
    if (s.reachable !== "no") return s.reachable;
    const due = (s.lastTried ?? 0) + retryDelayMs(primary, now - (s.failingSince ?? now));
    return now >= due ? "maybe" : "no";
  }

  /** Resolves once every change so far is on disk. */
  flush(): Promise<void> {
    return this.writing;
  }

  /** Ends every wait (shutdown): circuits waiting for a better guard are abandoned. */
  close(): void {
    for (const w of [...this.waiters]) w.resolve("abandon");
  }

  /** Decide the circuits waiting for a better guard, after any change. */
  private reevaluate(now: number): void {
    if (this.waiters.size === 0) return;
    const primary = this.primaryEntries();
    for (const w of [...this.waiters]) {
      const better = primary.filter((p) => p.identityKey !== hex(w.use.identityKey) && this.fitsPath(p, w.use));
      if (better.some((p) => this.state(p).reachable === "yes" && (this.state(p).lastTried ?? 0) >= w.since)) w.resolve("abandon");
      else if (better.every((p) => this.reachableAt(p, true, now) === "no")) w.resolve("use");
    }
  }

  private fitsPath(entry: GuardEntry, use: GuardUse): boolean {
    const relay = this.relays.find((r) => hex(r.identityKey) === entry.identityKey);
    return relay !== undefined && use.fits(relay);
  }

  private state(entry: GuardEntry): Reachability {
    let s = this.reach.get(entry.identityKey);
    if (s === undefined) this.reach.set(entry.identityKey, (s = { reachable: "maybe", pending: false }));
    return s;
  }

  private find(identityKey: Uint8Array): GuardEntry | undefined {
    return this.entries.find((e) => sameKey(Buffer.from(e.identityKey, "hex"), identityKey));
  }

  private replace(old: GuardEntry, next: GuardEntry): void {
    this.setEntries(this.entries.map((e) => (e.identityKey === old.identityKey ? next : e)));
  }

  private setEntries(entries: GuardEntry[]): void {
    this.entries = entries;
    const path = this.path;
    if (path === undefined) return;
    const contents: GuardFileContents = { version: 2, sampled: entries };
    // Writes are chained so the file always ends with the newest state.
    this.writing = this.writing
      .then(() => writeFileAtomic(path, `${JSON.stringify(contents, null, 2)}\n`, { replace: true }))
      .catch((err: unknown) => this.log.warn({ err, path }, "could not save guard state"));
  }
}
