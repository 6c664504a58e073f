/**
 * Resource limits of a relay and their defaults (documented in docs/relay.md), plus the
 * per-address token bucket that rate-limits circuit creation.
 */
import { TokenBucket } from "../common/token-bucket.js";

export interface RelayLimits {
  /** Circuits one link may carry (both directions together); more get DESTROY RESOURCELIMIT. */
  maxCircuitsPerLink: number;
  /** Cells queued for one circuit in one direction while its link is congested; beyond: RESOURCELIMIT. */
  maxQueuedCellsPerCircuit: number;
  /** Ceiling for queued cell and stream bytes; above it the circuits with the oldest queued data die first. */
  maxQueuedBytes: number;
  /** CREATE2 per second per anonymous client address (token bucket refill rate). */
  createRatePerSecond: number;
  /** CREATE2 burst per anonymous client address (token bucket size). */
  createBurst: number;
  /** Streams open at once on one circuit at this exit; more get END RESOURCELIMIT. */
  maxStreamsPerCircuit: number;
  /** A link that carried no circuit for this long is closed. */
  linkIdleTimeoutMs: number;
  /** Connecting (TLS + link handshake) to the next relay for EXTEND2. */
  linkConnectTimeoutMs: number;
  /** Waiting for CREATED2 from the next relay after EXTEND2. */
  extendTimeoutMs: number;
  /** The exit's TCP connect to a destination. */
  exitConnectTimeoutMs: number;
  /** Onion-service descriptors an HSDir holds at once (their bytes: at most 16 KiB each). */
  hsDirMaxDescriptors: number;
  /** Introduction points one relay serves at once. */
  maxIntroPoints: number;
  /** Rendezvous circuits waiting to be joined at once. */
  maxPendingRendezvous: number;
}

/** Tor's defaults where Tor has one (queue cap 2500, CREATE2 3/s burst 90, MaxMemInQueues floor 256 MB). */
export const DEFAULT_LIMITS: RelayLimits = {
  maxCircuitsPerLink: 4096,
  maxQueuedCellsPerCircuit: 2500,
  maxQueuedBytes: 256 * 1024 * 1024,
  createRatePerSecond: 3,
  createBurst: 90,
  maxStreamsPerCircuit: 512,
  linkIdleTimeoutMs: 180_000,
  linkConnectTimeoutMs: 10_000,
  extendTimeoutMs: 30_000,
  exitConnectTimeoutMs: 15_000,
  hsDirMaxDescriptors: 4096,
  maxIntroPoints: 4096,
  maxPendingRendezvous: 4096,
};

/** One token bucket per key (client address); idle full buckets are forgotten. */
export class RateLimiter {
  readonly #buckets = new Map<string, TokenBucket>();
  #lastSweep = Date.now();

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
  ) {}

  /** Takes one token for `key`; false if its bucket is empty. */
  take(key: string, now = Date.now()): boolean {
    this.#sweep(now);
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      bucket = new TokenBucket(this.ratePerSecond, this.burst, now);
      this.#buckets.set(key, bucket);
    }
    return bucket.take(now);
  }

  /** Forgets keys whose buckets are full again (once a minute): they hold nothing to remember. */
  #sweep(now: number): void {
    if (now - this.#lastSweep < 60_000) return;
    this.#lastSweep = now;
    for (const [key, bucket] of this.#buckets) if (bucket.isFull(now)) this.#buckets.delete(key);
  }
}

/** What the out-of-memory policy needs to know about a circuit. */
export interface QueueHolder {
  /** Date.now() when its oldest queued data was queued; 0 if it has none. */
  readonly oldestQueuedAt: number;
  readonly queuedBytes: number;
}

/**
 * Tor's out-of-memory rule: free circuits in order of their oldest queued data (oldest first)
 * until at most `target` bytes stay queued. Returns the circuits to kill, in that order.
 */
export function oomVictims<T extends QueueHolder>(circuits: Iterable<T>, total: number, target: number): T[] {
  const holders = [...circuits].filter((c) => c.oldestQueuedAt !== 0).sort((a, b) => a.oldestQueuedAt - b.oldestQueuedAt);
  const victims: T[] = [];
  for (const circuit of holders) {
    if (total <= target) break;
    victims.push(circuit);
    total -= circuit.queuedBytes;
  }
  return victims;
}
