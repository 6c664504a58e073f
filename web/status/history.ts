/**
 * The history chart's data, kept in this page's memory (not by the authority, which keeps
 * only the last few periods): one sample per consensus received since the page was opened,
 * for the last 6 hours, at most 1,000 (a 60 s voting interval fills 6 hours with 360).
 */
export interface Sample {
  /** The consensus's valid_after, ms. */
  at: number;
  relays: number;
  /** Sum of the relays' bandwidth weights, B/s. */
  bandwidth: number;
}

export const HISTORY_WINDOW_MS = 6 * 3_600_000;
export const HISTORY_MAX_SAMPLES = 1_000;

export class History {
  private readonly kept: Sample[] = [];

  /** A newer consensus of the same period replaces that period's sample; older ones are ignored. */
  record(sample: Sample): void {
    const last = this.kept.at(-1);
    if (last !== undefined && sample.at < last.at) return;
    if (last !== undefined && sample.at === last.at) this.kept.pop();
    this.kept.push(sample);
    const oldest = sample.at - HISTORY_WINDOW_MS;
    while (this.kept.length > HISTORY_MAX_SAMPLES || this.kept[0].at < oldest) this.kept.shift();
  }

  samples(): readonly Sample[] {
    return this.kept;
  }
}
