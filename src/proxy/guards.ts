/**
 * Entry guards (Tor's guard-spec, simplified): a small set of entry relays chosen once,
 * weighted by bandwidth, and kept for months in `<data-dir>/guards.json`, so that an adversary
 * running a few relays cannot eventually be the first hop of most of a user's circuits.
 * Circuits use the first guard of the list that is listed, usable and not marked unreachable.
 */
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { ConsensusRelay } from "../../gen/meowonion/v1/consensus_pb.js";
import { writeFileAtomic } from "../common/files.js";
import { componentLogger, type Logger } from "../common/log.js";
import { conflicts, guardCandidates, sameKey, secureRandom, weightedChoice } from "./path.js";

export const GUARD_FILE = "guards.json";
/** Tor's number of primary guards. */
export const DEFAULT_GUARD_COUNT = 3;
/** Tor keeps a guard 90-120 days; we use the upper end. */
const GUARD_LIFETIME_MS = 120 * 24 * 3600 * 1000;
/** After a failed connection, skip a guard this long (while another one is usable). */
export const GUARD_RETRY_MS = 60_000;
/** Bound on remembered guards that are currently unlisted. */
const MAX_REMEMBERED = 20;
const MAX_FILE_BYTES = 256 * 1024;

export interface GuardEntry {
  /** Hex of the Ed25519 identity key. */
  identityKey: string;
  nickname: string;
  /** ISO time the guard was chosen. */
  addedAt: string;
  /** ISO time before which the guard is skipped after a failed connection. */
  retryAfter?: string;
}

interface GuardFileContents {
  version: 1;
  guards: GuardEntry[];
}

const hex = (key: Uint8Array) => Buffer.from(key).toString("hex");

function isGuardEntry(value: unknown): value is GuardEntry {
  const e = value as Partial<GuardEntry> | null;
  return (
    typeof e === "object" &&
    e !== null &&
    typeof e.identityKey === "string" &&
    /^[0-9a-f]{64}$/.test(e.identityKey) &&
    typeof e.nickname === "string" &&
    typeof e.addedAt === "string" &&
    !Number.isNaN(Date.parse(e.addedAt)) &&
    (e.retryAfter === undefined || (typeof e.retryAfter === "string" && !Number.isNaN(Date.parse(e.retryAfter))))
  );
}

/** Parses a guard file; malformed entries are dropped, a malformed file gives undefined. */
export function parseGuardFile(text: string): GuardEntry[] | undefined {
  try {
    const parsed = JSON.parse(text) as Partial<GuardFileContents>;
    if (parsed?.version !== 1 || !Array.isArray(parsed.guards)) return undefined;
    return parsed.guards.filter(isGuardEntry);
  } catch {
    return undefined;
  }
}

/**
 * The guard list updated for a consensus: expired guards dropped, new ones sampled (weighted,
 * among guard candidates, none in a family or /16 with a listed one) until `target` of them
 * are listed and usable, and long-unlisted ones forgotten beyond MAX_REMEMBERED. Pure.
 */
export function refreshGuards(
  entries: readonly GuardEntry[],
  relays: readonly ConsensusRelay[],
  options: { target: number; now: number; enforceDistinctSubnets: boolean; random?: () => number },
): GuardEntry[] {
  const random = options.random ?? secureRandom;
  const candidates = guardCandidates(relays);
  const listed = (e: GuardEntry) => candidates.find((r) => hex(r.identityKey) === e.identityKey);
  let result = entries.filter((e) => Date.parse(e.addedAt) + GUARD_LIFETIME_MS > options.now);

  let usable = result.map(listed).filter((r): r is ConsensusRelay => r !== undefined);
  while (usable.length < options.target) {
    const pick = weightedChoice(
      candidates.filter(
        (r) =>
          !result.some((e) => e.identityKey === hex(r.identityKey)) &&
          usable.every((u) => !conflicts(r, u, options.enforceDistinctSubnets)),
      ),
      random,
    );
    if (!pick) break;
    result = [...result, { identityKey: hex(pick.identityKey), nickname: pick.nickname, addedAt: new Date(options.now).toISOString() }];
    usable = [...usable, pick];
  }
  while (result.length > Math.max(MAX_REMEMBERED, options.target)) {
    const oldestUnlisted = result.findIndex((e) => !listed(e));
    if (oldestUnlisted < 0) break;
    result = result.filter((_, i) => i !== oldestUnlisted);
  }
  return result;
}

/**
 * Guard identity keys to try, in order: listed usable guards not waiting for a retry; if all
 * of them wait, all listed ones (Tor likewise retries every guard rather than give up).
 */
export function primaryGuards(entries: readonly GuardEntry[], relays: readonly ConsensusRelay[], now: number): Uint8Array[] {
  const candidates = guardCandidates(relays);
  const listed = entries.filter((e) => candidates.some((r) => hex(r.identityKey) === e.identityKey));
  const ready = listed.filter((e) => e.retryAfter === undefined || Date.parse(e.retryAfter) <= now);
  return (ready.length > 0 ? ready : listed).map((e) => Buffer.from(e.identityKey, "hex"));
}

/** The guard set of one proxy, persisted in its data directory (in memory without one). */
export class GuardStore {
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    private entries: GuardEntry[],
    private readonly path: string | undefined,
    private readonly options: { target: number; enforceDistinctSubnets: boolean },
    private readonly log: Logger,
  ) {}

  static async open(
    dataDir: string | undefined,
    options: { target?: number; enforceDistinctSubnets: boolean; log?: Logger },
  ): Promise<GuardStore> {
    const settings = { target: options.target ?? DEFAULT_GUARD_COUNT, enforceDistinctSubnets: options.enforceDistinctSubnets };
    const log = options.log ?? componentLogger("proxy", { part: "guards" });
    if (dataDir === undefined) return new GuardStore([], undefined, settings, log);
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const path = join(dataDir, GUARD_FILE);
    let entries: GuardEntry[] = [];
    try {
      const text = await readFile(path, "utf8");
      const parsed = text.length <= MAX_FILE_BYTES ? parseGuardFile(text) : undefined;
      if (parsed) entries = parsed;
      else log.warn({ path }, "guard file is malformed; choosing new guards");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    return new GuardStore(entries, path, settings, log);
  }

  get list(): readonly GuardEntry[] {
    return this.entries;
  }

  /** Samples guards for a new consensus if needed; persists any change. */
  update(relays: readonly ConsensusRelay[], now = Date.now()): void {
    const next = refreshGuards(this.entries, relays, { ...this.options, now });
    if (JSON.stringify(next) !== JSON.stringify(this.entries)) {
      const added = next.filter((e) => !this.entries.some((o) => o.identityKey === e.identityKey));
      if (added.length > 0) this.log.info({ guards: added.map((e) => e.nickname) }, "new entry guards");
      this.setEntries(next);
    }
  }

  primary(relays: readonly ConsensusRelay[], now = Date.now()): Uint8Array[] {
    return primaryGuards(this.entries, relays, now);
  }

  /** Adds an entry chosen outside the set (every listed guard conflicted with the path). */
  adopt(relay: ConsensusRelay, now = Date.now()): void {
    if (this.find(relay.identityKey)) return;
    this.setEntries([...this.entries, { identityKey: hex(relay.identityKey), nickname: relay.nickname, addedAt: new Date(now).toISOString() }]);
  }

  markUnreachable(identityKey: Uint8Array, now = Date.now()): void {
    const entry = this.find(identityKey);
    if (!entry) return;
    this.replace(entry, { ...entry, retryAfter: new Date(now + GUARD_RETRY_MS).toISOString() });
  }

  markReachable(identityKey: Uint8Array): void {
    const entry = this.find(identityKey);
    if (!entry?.retryAfter) return;
    const { retryAfter: _, ...rest } = entry;
    this.replace(entry, rest);
  }

  /** Resolves once every change so far is on disk. */
  flush(): Promise<void> {
    return this.writing;
  }

  private find(identityKey: Uint8Array): GuardEntry | undefined {
    return this.entries.find((e) => sameKey(Buffer.from(e.identityKey, "hex"), identityKey));
  }

  private replace(old: GuardEntry, next: GuardEntry): void {
    this.setEntries(this.entries.map((e) => (e === old ? next : e)));
  }

  private setEntries(entries: GuardEntry[]): void {
    this.entries = entries;
    const path = this.path;
    if (path === undefined) return;
    const contents: GuardFileContents = { version: 1, guards: entries };
    // Writes are chained so the file always ends with the newest state.
    this.writing = this.writing
      .then(() => writeFileAtomic(path, `${JSON.stringify(contents, null, 2)}\n`, { replace: true }))
      .catch((err: unknown) => this.log.warn({ err, path }, "could not save guard state"));
  }
}
