/**
 * Relay-wide bandwidth limits on links (Tor's BandwidthRate and BandwidthBurst): one token
 * bucket for the bytes read from all links and one for the bytes written to them. Tokens are
 * bytes; `rate` flow in per second up to `burst`. Links take what they read or write even when
 * that leaves the bucket in debt (a read is already read, a flush is one write), and stop while
 * the bucket is empty: a link stops reading its socket, and reports itself congested so that
 * circuits queue their cells (and take turns, see channels.ts) until tokens flow again. Over
 * any long interval the bytes moved are at most `burst + rate × seconds`.
 */

/** Wake those waiting once this many bytes (or the whole burst, if smaller) are available. */
const WAKE_BYTES = 4 * 1024;
/** Timers shorter than this are not worth their cost. */
const MIN_WAIT_MS = 2;

export class ByteBucket {
  #tokens: number;
  #at: number;
  readonly #waiters = new Set<() => void>();
  #timer: NodeJS.Timeout | undefined;
  /** Bytes taken since the bucket was made (for the observed-bandwidth history). */
  total = 0;

  constructor(
    readonly rate: number,
    readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {
    if (!(rate > 0) || !(burst > 0)) throw new Error("bandwidth rate and burst must be positive");
    this.#tokens = burst;
    this.#at = now();
  }

  /** Tokens (bytes) available now; negative while in debt. */
  available(): number {
    const now = this.now();
    if (now > this.#at) {
      this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#at) * this.rate) / 1000);
      this.#at = now;
    }
    return this.#tokens;
  }

  /** Take `bytes` (they have been or are being moved), going into debt if need be. */
  take(bytes: number): void {
    this.available();
    this.#tokens -= bytes;
    this.total += bytes;
  }

  /**
   * Call `wake` once tokens are available again (at most once per registration, in the order
   * registered: links take turns). Registering the same function twice is one registration.
   */
  whenAvailable(wake: () => void): void {
    this.#waiters.add(wake);
    this.#arm();
  }

  /** How many wait for tokens (and whether a wake is due): for tests. */
  get waiting(): { waiters: number; armed: boolean } {
    return { waiters: this.#waiters.size, armed: this.#timer !== undefined };
  }

  /** Stop waking (the link closed). */
  cancel(wake: () => void): void {
    this.#waiters.delete(wake);
    if (this.#waiters.size === 0) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  #arm(): void {
    if (this.#timer !== undefined || this.#waiters.size === 0) return;
    const want = Math.min(WAKE_BYTES, this.burst);
    const missing = want - this.available();
    const waitMs = missing <= 0 ? 0 : Math.max(MIN_WAIT_MS, Math.ceil((missing * 1000) / this.rate));
    this.#timer = setTimeout(() => this.#wake(), waitMs);
    this.#timer.unref();
  }

  #wake(): void {
    this.#timer = undefined;
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const wake of waiters) {
      if (this.available() <= 0) {
        // Tokens ran out again: the rest go first next time, before anyone registered since.
        const later = [...this.#waiters];
        this.#waiters.clear();
        for (const w of waiters.slice(waiters.indexOf(wake))) this.#waiters.add(w);
        for (const w of later) this.#waiters.add(w);
        break;
      }
      wake();
    }
    this.#arm();
  }
}

/** The two buckets every link of a relay shares. */
export class LinkThrottle {
  readonly read: ByteBucket;
  readonly write: ByteBucket;

  constructor(rateBytesPerSecond: number, burstBytes: number, now: () => number = Date.now) {
    this.read = new ByteBucket(rateBytesPerSecond, burstBytes, now);
    this.write = new ByteBucket(rateBytesPerSecond, burstBytes, now);
  }
}
