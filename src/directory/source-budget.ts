/**
 * Per-source refusal budget: the defence that keeps a flood of bad requests from starving good
 * ones. Each request from an address reserves one token for its duration; a request that ends
 * refused (client's fault) keeps it, any other gives it back. An address out of tokens is
 * refused with RESOURCE_EXHAUSTED before any work (decoding aside), so a flooder costs one
 * signature check per refill, while honest sources (whose requests succeed) never run dry.
 */
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { Logger } from "../common/log.js";
import { remoteAddressKey } from "../common/rpc-server.js";

export interface BudgetOptions {
  /** Tokens an address starts with (and at most holds). Default 1000. */
  burst?: number;
  /** Tokens regained per second. Default 100. */
  perSecond?: number;
  /** Addresses tracked at once; the fullest buckets are forgotten first. Default 10,000. */
  maxSources?: number;
}

// Codes that mean "the request was bad", as opposed to our own trouble.
const CLIENT_FAULTS = new Set([
  Code.InvalidArgument,
  Code.Unauthenticated,
  Code.OutOfRange,
  Code.AlreadyExists,
  Code.FailedPrecondition,
  Code.NotFound,
  Code.ResourceExhausted,
  Code.PermissionDenied,
]);

interface Bucket {
  tokens: number;
  atMs: number;
  throttled: boolean;
}

export class SourceBudget {
  private readonly buckets = new Map<string, Bucket>();
  private readonly burst: number;
  private readonly perSecond: number;
  private readonly maxSources: number;

  constructor(
    options: BudgetOptions,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.burst = options.burst ?? 1_000;
    this.perSecond = options.perSecond ?? 100;
    this.maxSources = options.maxSources ?? 10_000;
  }

  /** A Connect interceptor applying the budget and logging each refusal once. */
  interceptor(): Interceptor {
    return (next) => async (req) => {
      const source = req.contextValues.get(remoteAddressKey);
      const bucket = this.take(source);
      if (bucket === undefined) {
        throw new ConnectError("too many refused requests from this address; slow down", Code.ResourceExhausted);
      }
      try {
        const res = await next(req);
        bucket.tokens += 1;
        return res;
      } catch (err) {
        const ce = ConnectError.from(err);
        if (CLIENT_FAULTS.has(ce.code)) {
          this.log.info({ source, rpc: req.method.name, code: Code[ce.code], reason: ce.rawMessage }, "request refused");
        } else {
          bucket.tokens += 1;
          if (ce.code === Code.Internal || ce.code === Code.Unknown) this.log.error({ source, rpc: req.method.name, err }, "request failed");
        }
        throw err;
      }
    };
  }

  private take(source: string): Bucket | undefined {
    const now = this.now();
    let bucket = this.buckets.get(source);
    if (bucket === undefined) {
      if (this.buckets.size >= this.maxSources) this.evict(now);
      bucket = { tokens: this.burst, atMs: now, throttled: false };
      this.buckets.set(source, bucket);
    } else {
      bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.atMs) / 1000) * this.perSecond);
      bucket.atMs = now;
    }
    if (bucket.tokens < 1) {
      if (!bucket.throttled) this.log.warn({ source }, "too many refused requests; throttling this address");
      bucket.throttled = true;
      return undefined;
    }
    // One warning per episode: the address counts as recovered once half its budget is back.
    if (bucket.tokens >= this.burst / 2) bucket.throttled = false;
    bucket.tokens -= 1;
    return bucket;
  }

  /** Forgets buckets that have refilled (they hold no information), else the fullest half. */
  private evict(now: number): void {
    const full = (b: Bucket) => b.tokens + ((now - b.atMs) / 1000) * this.perSecond >= this.burst;
    for (const [source, b] of this.buckets) if (full(b)) this.buckets.delete(source);
    if (this.buckets.size < this.maxSources) return;
    const byTokens = [...this.buckets.entries()].sort(([, a], [, b]) => b.tokens - a.tokens);
    for (const [source] of byTokens.slice(0, Math.ceil(byTokens.length / 2))) this.buckets.delete(source);
  }
}
