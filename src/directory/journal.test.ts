/**
 * The durable journal: replay in order, a torn tail cut off (never past an acknowledged
 * record), group commit under concurrency, and compaction to the live state.
 */
import { appendFile, readFile, stat, truncate } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Journal, type JournalRecord } from "./journal.js";
import { Cleanups, tempDir } from "../../test/helpers/cleanups.js";

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

const rec = (type: number, text: string): JournalRecord => ({ type, payload: new TextEncoder().encode(text) });
const text = (r: JournalRecord) => `${r.type}:${new TextDecoder().decode(r.payload)}`;

async function openJournal(path: string, live: JournalRecord[] = [], options: { minCompactBytes?: number } = {}) {
  const replayed: string[] = [];
  const truncations: number[] = [];
  const journal = await Journal.open(path, {
    replay: (r) => replayed.push(text(r)),
    snapshot: () => live,
    onTruncate: (info) => truncations.push(info.droppedBytes),
    ...options,
  });
  cleanups.add(() => journal.close());
  return { journal, replayed, truncations };
}

describe("Journal", () => {
  it("replays acknowledged records in order after reopening", async () => {
    const path = join(await tempDir(cleanups), "j");
    const { journal } = await openJournal(path);
    const applied: number[] = [];
    await Promise.all([1, 2, 3].map((i) => journal.append(rec(i, `r${i}`), () => applied.push(i))));
    expect(applied).toEqual([1, 2, 3]); // applied in append order, after the flush
    await journal.close();
    const { replayed } = await openJournal(path);
    expect(replayed).toEqual(["1:r1", "2:r2", "3:r3"]);
  });

  it("cuts off a torn tail and keeps appending after the last intact record", async () => {
    const path = join(await tempDir(cleanups), "j");
    const first = await openJournal(path);
    await first.journal.append(rec(1, "kept"), () => undefined);
    await first.journal.append(rec(1, "torn"), () => undefined);
    await first.journal.close();
    const size = (await stat(path)).size;
    await truncate(path, size - 2); // a crash in the middle of the second record's write
    await appendFile(path, Buffer.from([0xde, 0xad]));

    const second = await openJournal(path);
    expect(second.replayed).toEqual(["1:kept"]);
    expect(second.truncations).toHaveLength(1);
    await second.journal.append(rec(2, "after"), () => undefined);
    await second.journal.close();
    expect((await openJournal(path)).replayed).toEqual(["1:kept", "2:after"]);
  });

  it("commits many concurrent appends with few flushes", async () => {
    const path = join(await tempDir(cleanups), "j");
    const { journal } = await openJournal(path);
    await Promise.all(Array.from({ length: 2000 }, (_, i) => journal.append(rec(1, `x${i}`), () => undefined)));
    await journal.close();
    const { replayed } = await openJournal(path);
    expect(replayed).toHaveLength(2000);
    expect(replayed[1999]).toBe("1:x1999");
  });

  it("compacts to the owner's snapshot once the file outgrows it", async () => {
    const path = join(await tempDir(cleanups), "j");
    const live = [rec(7, "live state")];
    const { journal } = await openJournal(path, live, { minCompactBytes: 10_000 });
    for (let i = 0; i < 200; i++) await journal.append(rec(1, "y".repeat(100)), () => undefined);
    expect(journal.bytes).toBeLessThan(10_000);
    await journal.append(rec(2, "last"), () => undefined);
    await journal.close();
    const { replayed } = await openJournal(path);
    // Everything up to the compaction is replaced by the snapshot; later appends follow it.
    expect(replayed[0]).toBe("7:live state");
    expect((await readFile(path)).length).toBeLessThan(10_000);
  });
});
