/**
 * Reachability tests, as Tor's authorities do them: connect to the relay's or_port on every
 * address its descriptor gives and check that the link handshake proves the descriptor's
 * identity key. A relay that lies about its address (nothing there, or someone else) fails.
 * Tests run with bounded concurrency; one relay is never tested twice at once.
 */
import type { Logger } from "../common/log.js";
import { connectLink } from "../link/link.js";

export interface ReachTarget {
  identityKey: Uint8Array;
  /** host:port pairs to test (IPv4 and/or IPv6 from the descriptor). */
  addresses: { host: string; port: number }[];
}

/** Resolves when the relay at host:port proved `identityKey`; rejects with the reason otherwise. */
export type ReachProbe = (target: { host: string; port: number; identityKey: Uint8Array; timeoutMs: number }) => Promise<void>;

export interface ReachResult {
  ok: boolean;
  /** Why it failed (for logs). */
  reason?: string;
}

/** The real test: a link handshake with the relay, closed right after the identity proof. */
/** The real test: open a link to the relay and check that it proves its identity. */
export function linkProbe(log: Logger): ReachProbe {
  return async ({ host, port, identityKey, timeoutMs }) => {
    const link = await connectLink({ host, port, expectedIdentity: identityKey, timeoutMs, log });
    link.close();
  };
}

export class ReachabilityTester {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly inFlight = new Set<string>();
  private stopped = false;

  constructor(
    private readonly probe: ReachProbe,
    private readonly options: { concurrency: number; timeoutMs: number },
  ) {}

  isTesting(keyHex: string): boolean {
    return this.inFlight.has(keyHex);
  }

  /**
   * Tests the relay unless a test of it is already running; `done` gets the result (never
   * called after stop()). Returns false if a test was already running.
   */
  test(keyHex: string, target: ReachTarget, done: (result: ReachResult) => void): boolean {
    if (this.stopped || this.inFlight.has(keyHex)) return false;
    this.inFlight.add(keyHex);
    void this.run(target).then((result) => {
      this.inFlight.delete(keyHex);
      if (!this.stopped) done(result);
    });
    return true;
  }

  stop(): void {
    this.stopped = true;
    for (const wake of this.waiting.splice(0)) wake();
  }

  private async run(target: ReachTarget): Promise<ReachResult> {
    if (this.running >= this.options.concurrency) await new Promise<void>((resolve) => this.waiting.push(resolve));
    if (this.stopped) return { ok: false, reason: "authority stopping" };
    this.running++;
    try {
      for (const { host, port } of target.addresses) {
        await this.probe({ host, port, identityKey: target.identityKey, timeoutMs: this.options.timeoutMs });
      }
      return { ok: true };
    } catch (err) {
      return { ok: false, reason: (err as Error).message };
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }
}
