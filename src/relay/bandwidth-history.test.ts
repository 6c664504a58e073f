/** The observed bandwidth: highest 10-second average of the last day, kept in the data dir. */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BandwidthHistory, HISTORY_FILE } from "./bandwidth-history.js";

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** A history on a fake clock; `carry(ms, read, written)` moves time on, sampling every second. */
function fakeHistory(file?: string) {
  let now = 1_700_000_000_000;
  const totals = { read: 0, written: 0 };
  const history = new BandwidthHistory(() => ({ ...totals }), file, [], () => now);
  const carry = (seconds: number, readPerSecond: number, writtenPerSecond: number) => {
    for (let i = 0; i < seconds; i++) {
      now += 1000;
      totals.read += readPerSecond;
      totals.written += writtenPerSecond;
      history.sample();
    }
  };
  return { history, carry, advance: (ms: number) => (now += ms) };
}

describe("observed bandwidth", () => {
  it("is the highest 10-second average, in either direction", () => {
    const { history, carry } = fakeHistory();
    history.sample();
    expect(history.observed()).toBe(0);
    carry(5, 0, 1_000_000); // 5 s at 1 MB/s: no full 10-second window at that rate
    carry(5, 0, 0);
    expect(history.observed()).toBe(500_000);
    carry(30, 200_000, 100_000);
    expect(history.observed()).toBe(500_000);
    carry(10, 800_000, 0);
    expect(history.observed()).toBe(800_000);
  });

  it("forgets what is older than a day", () => {
    const { history, carry, advance } = fakeHistory();
    history.sample();
    carry(20, 0, 2_000_000);
    expect(history.observed()).toBe(2_000_000);
    advance(23 * 3600_000);
    carry(20, 0, 10_000);
    expect(history.observed()).toBe(2_000_000);
    advance(2 * 3600_000);
    carry(20, 0, 10_000);
    expect(history.observed()).toBe(10_000);
  });

  it("is saved in the data dir and read back at the next start", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "meowonion-bw-"));
    dirs.push(dir);
    const { history, carry } = fakeHistory(path.join(dir, HISTORY_FILE));
    history.sample();
    carry(15, 300_000, 0);
    await history.stop();
    expect(JSON.parse(await readFile(path.join(dir, HISTORY_FILE), "utf8")).version).toBe(1);
    const again = await BandwidthHistory.load(dir, () => ({ read: 0, written: 0 }), () => 1_700_000_000_000 + 60_000);
    expect(again.observed()).toBe(300_000);
  });
});
