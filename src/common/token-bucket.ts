/** A token bucket: `ratePerSecond` tokens flow in up to `burst`; each taken event costs one (or n). */
export class TokenBucket {
  #tokens: number;
  #at: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    now = Date.now(),
  ) {
    this.#tokens = burst;
    this.#at = now;
  }

  /** Takes `n` tokens if there are that many; false (nothing taken) otherwise. */
  take(now = Date.now(), n = 1): boolean {
    this.#refill(now);
    if (this.#tokens < n) return false;
    this.#tokens -= n;
    return true;
  }

  /** Whether the bucket has been full since `now` (nothing left to remember). */
  isFull(now: number): boolean {
    this.#refill(now);
    return this.#tokens >= this.burst;
  }

  #refill(now: number): void {
    this.#tokens = Math.min(this.burst, this.#tokens + (Math.max(0, now - this.#at) / 1000) * this.ratePerSecond);
    this.#at = now;
  }
}
