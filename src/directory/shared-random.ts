/**
 * Shared randomness (consensus.proto SHARED RANDOMNESS): each authority's reveal per period is
 * a MAC of the period under its identity seed, committed to a period ahead in every vote; the
 * consensus counts the reveals that match the commits a majority of authorities saw, and
 * chains the result to the previous period's value. What an authority saw at the end of a
 * period is kept in its data directory, so a restart does not change the period's value.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import {
  type AuthorityCommit,
  AuthorityCommitSchema,
  type SharedRandom,
  SharedRandomSchema,
  type SharedRandomVote,
  SharedRandomVoteSchema,
  type Vote,
} from "../../gen/meowonion/v1/consensus_pb.js";
import { writeFileAtomic } from "../common/files.js";
import { hsMac, int8, sha3 } from "../onion/hs/hash.js";
import { majority } from "../netdoc/consensus.js";

const VALUE_LEN = 32;
const STATE_FILE = "shared-random.json";
const ZERO = new Uint8Array(VALUE_LEN);

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

/** An authority's reveal for `period`: fixed by its identity seed, secret until shown. */
export function revealFor(identitySeed: Uint8Array, period: number): Uint8Array {
  return hsMac(identitySeed, "meowonion-shared-random-reveal", int8(period));
}

export function commitFor(reveal: Uint8Array): Uint8Array {
  return sha3(reveal);
}

/** What an authority saw at the end of a period: the commits for the next one and the period's value. */
interface PeriodRecord {
  period: number;
  nextCommits: AuthorityCommit[];
  value: Uint8Array;
}

/** The last consensus values this authority saw per period (the two latest), persisted. */
export class SharedRandomMemory {
  readonly #records = new Map<number, PeriodRecord>();

  private constructor(private readonly path: string | undefined) {}

  static async open(dataDir: string | undefined): Promise<SharedRandomMemory> {
    const memory = new SharedRandomMemory(dataDir === undefined ? undefined : join(dataDir, STATE_FILE));
    if (memory.path === undefined) return memory;
    let text: string;
    try {
      text = await readFile(memory.path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return memory;
      throw error;
    }
    for (const r of JSON.parse(text) as { period: number; nextCommits: [string, string][]; value: string }[]) {
      memory.#records.set(r.period, {
        period: r.period,
        nextCommits: r.nextCommits.map(([key, commit]) => create(AuthorityCommitSchema, { authorityKey: Buffer.from(key, "hex"), commit: Buffer.from(commit, "hex") })),
        value: Buffer.from(r.value, "hex"),
      });
    }
    return memory;
  }

  /** A consensus was published: remember its shared random part (the latest of its period wins). */
  async remember(shared: SharedRandom | undefined): Promise<void> {
    if (shared === undefined) return;
    const period = Number(shared.period);
    const held = this.#records.get(period);
    if (held !== undefined && hex(held.value) === hex(shared.current) && sameCommits(held.nextCommits, shared.nextCommits)) return;
    this.#records.set(period, { period, nextCommits: shared.nextCommits, value: shared.current });
    for (const old of this.#records.keys()) if (old < period - 1) this.#records.delete(old);
    if (this.path === undefined) return;
    const records = [...this.#records.values()].map((r) => ({
      period: r.period,
      nextCommits: r.nextCommits.map((c) => [hex(c.authorityKey), hex(c.commit)]),
      value: hex(r.value),
    }));
    await writeFileAtomic(this.path, `${JSON.stringify(records)}\n`, { replace: true });
  }

  /** This authority's part for a vote in `period`. */
  voteFor(period: number, identitySeed: Uint8Array): SharedRandomVote {
    const last = this.#records.get(period - 1);
    return create(SharedRandomVoteSchema, {
      period: BigInt(period),
      commit: commitFor(revealFor(identitySeed, period + 1)),
      reveal: revealFor(identitySeed, period),
      seenCommits: last?.nextCommits ?? [],
      previousValue: last?.value ?? new Uint8Array(0),
    });
  }
}

function sameCommits(a: AuthorityCommit[], b: AuthorityCommit[]): boolean {
  return a.length === b.length && a.every((c, i) => hex(c.authorityKey) === hex(b[i].authorityKey) && hex(c.commit) === hex(b[i].commit));
}

/** The value `reports` agree on when at least `needed` of them report it, else undefined. */
function agreed(reports: Uint8Array[], needed: number): Uint8Array | undefined {
  const counts = new Map<string, number>();
  for (const r of reports) if (r.length === VALUE_LEN) counts.set(hex(r), (counts.get(hex(r)) ?? 0) + 1);
  for (const [value, count] of counts) if (count >= needed) return Buffer.from(value, "hex");
  return undefined;
}

/**
 * The consensus's shared random part for `period`, from the votes of known authorities (one
 * each, already filtered by the caller) — deterministic, as every other part of a consensus.
 */
export function computeSharedRandom(period: number, votes: readonly Vote[], knownAuthorities: number): SharedRandom {
  const needed = majority(knownAuthorities);
  const parts = votes.map((v) => ({ key: v.authorityKey, part: v.sharedRandom })).filter((v) => v.part !== undefined && Number(v.part.period) === period);
  const nextCommits = parts
    .filter(({ part }) => part!.commit.length === VALUE_LEN)
    .map(({ key, part }) => create(AuthorityCommitSchema, { authorityKey: key, commit: part!.commit }))
    .sort((a, b) => Buffer.compare(a.authorityKey, b.authorityKey));
  const previous = agreed(parts.map(({ part }) => part!.previousValue), needed) ?? ZERO;
  const counted = parts
    .filter(({ key, part }) => {
      const reports = parts.map(({ part: p }) => p!.seenCommits.find((c) => hex(c.authorityKey) === hex(key))?.commit ?? new Uint8Array(0));
      const commit = agreed(reports, needed);
      return commit !== undefined && part!.reveal.length === VALUE_LEN && hex(commitFor(part!.reveal)) === hex(commit);
    })
    .sort((a, b) => Buffer.compare(a.key, b.key));
  const current =
    counted.length > 0
      ? sha3("meowonion-shared-random", int8(period), Uint8Array.of(counted.length), ...counted.flatMap(({ key, part }) => [key, part!.reveal]), previous)
      : sha3("meowonion-shared-random-disaster", int8(period), previous);
  return create(SharedRandomSchema, { period: BigInt(period), current, previous, nextCommits });
}
