/**
 * Exponential backoff with jitter: the wait after the n-th failure in a row is
 * initial × 2^(n-1), capped at the maximum, each drawn from 0.75–1.25 of that so that many
 * clients failing together do not retry in step.
 */
export class Backoff {
  #failures = 0;

  constructor(private readonly options: { initialMs: number; maxMs: number; random?: () => number }) {}

  /** Failures in a row so far. */
  get failures(): number {
    return this.#failures;
  }

  /** One more failure: how long to wait before the next attempt, ms. */
  fail(): number {
    this.#failures++;
    const { initialMs, maxMs, random = Math.random } = this.options;
    const base = Math.min(maxMs, initialMs * 2 ** (this.#failures - 1));
    return base * (0.75 + random() / 2);
  }

  /** A success: the next failure waits the initial time again. */
  reset(): void {
    this.#failures = 0;
  }
}
