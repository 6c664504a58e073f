/**
 * The relay's observed bandwidth, as Tor's: the highest 10-second average rate it has carried
 * on its links in the last day, published in its descriptor (descriptor.proto Bandwidth). The
 * rate is sampled every second from the byte counts of the link buckets (throttle.ts); the
 * maximum of each hour is kept for 24 hours, and persisted in the data directory
 * (bandwidth-history.json) so that a restart does not forget it.
 *
 * Reads and writes are counted apart and the higher of the two counts: only link bytes are
 * counted, so an exit (which reads its streams' bytes from TCP, not from a link) writes more
 * than it reads and a relay's carried traffic is seen on either side.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { writeFileAtomic } from "../common/files.js";

export const HISTORY_FILE = "bandwidth-history.json";
const WINDOW_MS = 10_000;
const SAMPLE_MS = 1_000;
const PERIOD_MS = 3600_000;
const HISTORY_MS = 24 * 3600_000;
const SAVE_EVERY_MS = 60_000;

/** The highest 10-second averages seen in one hour, bytes per second. */
export interface HistoryPeriod {
  startMs: number;
  maxReadBytesPerSecond: number;
  maxWriteBytesPerSecond: number;
}

interface Sample {
  at: number;
  read: number;
  written: number;
}

export class BandwidthHistory {
  #periods: HistoryPeriod[];
  readonly #samples: Sample[] = [];
  #timer: NodeJS.Timeout | undefined;
  #lastSave = 0;
  #saving: Promise<void> = Promise.resolve();

  constructor(
    /** Bytes read and written on links so far (monotonic). */
    private readonly totals: () => { read: number; written: number },
    /** Where to persist; undefined: nothing is saved. */
    private readonly file: string | undefined,
    periods: HistoryPeriod[] = [],
    private readonly now: () => number = Date.now,
  ) {
    this.#periods = periods;
  }

  /** The history saved in `dataDir` (an empty one if none or unreadable). */
  static async load(dataDir: string, totals: () => { read: number; written: number }, now: () => number = Date.now): Promise<BandwidthHistory> {
    const file = path.join(dataDir, HISTORY_FILE);
    let periods: HistoryPeriod[] = [];
    try {
      const parsed = JSON.parse(await readFile(file, "utf8")) as { version?: number; periods?: HistoryPeriod[] };
      if (parsed.version === 1 && Array.isArray(parsed.periods)) {
        periods = parsed.periods.filter(
          (p) => Number.isFinite(p.startMs) && Number.isFinite(p.maxReadBytesPerSecond) && Number.isFinite(p.maxWriteBytesPerSecond),
        );
      }
    } catch {
      // First start, or a damaged file: start over.
    }
    return new BandwidthHistory(totals, file, periods, now);
  }

  /** Sample every second and save every minute from now on. */
  start(): void {
    this.sample();
    this.#timer = setInterval(() => this.sample(), SAMPLE_MS).unref();
  }

  /** Stop sampling and save. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#save();
    await this.#saving;
  }

  /** Bytes per second: the highest 10-second average of the last 24 hours; 0 if none yet. */
  observed(): number {
    const since = this.now() - HISTORY_MS;
    let best = 0;
    for (const p of this.#periods) {
      if (p.startMs + PERIOD_MS > since) best = Math.max(best, p.maxReadBytesPerSecond, p.maxWriteBytesPerSecond);
    }
    return Math.floor(best);
  }

  get periods(): readonly HistoryPeriod[] {
    return this.#periods;
  }

  /** Take a sample now (the timer does it every second). */
  sample(): void {
    const at = this.now();
    const { read, written } = this.totals();
    this.#samples.push({ at, read, written });
    // Keep the newest sample at least WINDOW_MS old, and nothing older.
    while (this.#samples.length > 2 && at - this.#samples[1].at >= WINDOW_MS) this.#samples.shift();
    const first = this.#samples[0];
    const span = at - first.at;
    if (span >= WINDOW_MS) {
      this.#record(at, ((read - first.read) * 1000) / span, ((written - first.written) * 1000) / span);
    }
    if (at - this.#lastSave >= SAVE_EVERY_MS) this.#save();
  }

  #record(at: number, readRate: number, writeRate: number): void {
    const startMs = at - (at % PERIOD_MS);
    let current = this.#periods[this.#periods.length - 1];
    if (current === undefined || current.startMs !== startMs) {
      current = { startMs, maxReadBytesPerSecond: 0, maxWriteBytesPerSecond: 0 };
      this.#periods = this.#periods.filter((p) => p.startMs + PERIOD_MS > at - HISTORY_MS);
      this.#periods.push(current);
    }
    current.maxReadBytesPerSecond = Math.max(current.maxReadBytesPerSecond, Math.round(readRate));
    current.maxWriteBytesPerSecond = Math.max(current.maxWriteBytesPerSecond, Math.round(writeRate));
  }

  #save(): void {
    if (this.file === undefined) return;
    this.#lastSave = this.now();
    const file = this.file;
    const text = `${JSON.stringify({ version: 1, periods: this.#periods })}\n`;
    this.#saving = this.#saving.then(() => writeFileAtomic(file, text, { replace: true }).catch(() => undefined));
  }
}
