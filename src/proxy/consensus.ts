/**
 * The proxy's view of the network: follows WatchConsensus on one authority at a time, checks
 * every update (signatures by a majority of the pinned keys, not expired; src/directory/client),
 * keeps the newest valid one, and moves to the next authority when a stream fails or goes
 * stale. After every authority failed in a row it waits, doubling the wait up to a cap, so a
 * network whose authorities are all down is not hammered; the last valid consensus stays in
 * use meanwhile (until its valid_until).
 */
import { EventEmitter } from "node:events";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { Consensus } from "../../gen/meowonion/v1/consensus_pb.js";
import { Backoff } from "../common/backoff.js";
import { componentLogger, type Logger } from "../common/log.js";
import { createDirectoryClient, type DirectoryClient } from "../netdoc/directory-client.js";
import { sleep } from "../common/sleep.js";
import { verifySignedConsensus } from "../netdoc/consensus.js";
import { isUsable } from "./path.js";

export interface DirectoryPin {
  url: string;
  /** The authority's Ed25519 key, 32 bytes. */
  key: Uint8Array;
}

export interface ConsensusFollowerOptions {
  /** First wait after a full round of failures; doubles up to backoffMaxMs. Default 1 s. */
  backoffInitialMs?: number;
  /** Default 60 s. */
  backoffMaxMs?: number;
  now?: () => number;
  log?: Logger;
}

export class ConsensusFollower extends EventEmitter<{ consensus: [consensus: Consensus] }> {
  #latest: Consensus | undefined;
  #latestBytes: Uint8Array | undefined;
  readonly #abort = new AbortController();
  readonly #now: () => number;
  readonly #log: Logger;
  #running = false;

  constructor(
    private readonly directories: readonly DirectoryPin[],
    private readonly options: ConsensusFollowerOptions = {},
  ) {
    super();
    if (directories.length === 0) throw new Error("at least one directory authority is needed");
    this.#now = options.now ?? Date.now;
    this.#log = options.log ?? componentLogger("proxy", { part: "consensus" });
  }

  /** The newest valid consensus while it is still usable (now < valid_until). */
  get current(): Consensus | undefined {
    const c = this.#latest;
    return c && this.#now() < timestampMs(c.validUntil!) ? c : undefined;
  }

  /** Starts following in the background (idempotent). */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    void this.#follow();
  }

  /** Resolves with a usable consensus as soon as there is one; rejects when `signal` aborts. */
  async waitForConsensus(signal?: AbortSignal): Promise<Consensus> {
    const now = this.current;
    if (now) return now;
    return new Promise((resolve, reject) => {
      const onConsensus = (c: Consensus) => {
        cleanup();
        resolve(c);
      };
      const onAbort = () => {
        cleanup();
        reject(signal?.reason ?? new Error("aborted"));
      };
      const cleanup = () => {
        this.off("consensus", onConsensus);
        signal?.removeEventListener("abort", onAbort);
        this.#abort.signal.removeEventListener("abort", onAbort);
      };
      this.on("consensus", onConsensus);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#abort.signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  close(): void {
    this.#abort.abort(new Error("consensus follower closed"));
  }

  async #follow(): Promise<void> {
    const signal = this.#abort.signal;
    const backoff = new Backoff({ initialMs: this.options.backoffInitialMs ?? 1_000, maxMs: this.options.backoffMaxMs ?? 60_000 });
    let failuresInARow = 0;
    for (let i = 0; !signal.aborted; i++) {
      const pin = this.directories[i % this.directories.length];
      if (await this.#watch(pin, signal)) {
        failuresInARow = 0;
        backoff.reset();
      } else if (++failuresInARow % this.directories.length === 0) {
        // Every authority failed in a row: wait before the next round.
        await sleep(backoff.fail(), signal);
      }
    }
  }

  /** Follows one authority until its stream fails; true if it gave at least one consensus. */
  async #watch(pin: DirectoryPin, outer: AbortSignal): Promise<boolean> {
    let client: DirectoryClient;
    try {
      client = createDirectoryClient(pin.url);
    } catch (err) {
      this.#log.warn({ url: pin.url, err: (err as Error).message }, "bad directory URL");
      return false;
    }
    const stream = new AbortController();
    const stop = () => stream.abort();
    outer.addEventListener("abort", stop, { once: true });
    let watchdog: NodeJS.Timeout | undefined;
    let accepted = false;
    try {
      for await (const update of client.rpc.watchConsensus({}, { signal: stream.signal })) {
        if (update.consensus === undefined) continue;
        // The same consensus again (with more signatures, or from a reconnect): nothing new.
        if (this.#latestBytes && Buffer.from(update.consensus.consensus).equals(this.#latestBytes)) {
          accepted = true;
          continue;
        }
        let consensus: Consensus;
        try {
          consensus = verifySignedConsensus(
            update.consensus,
            this.directories.map((d) => d.key),
            new Date(this.#now()),
          );
        } catch (err) {
          this.#log.warn({ url: pin.url, err: (err as Error).message }, "refused a consensus");
          continue;
        }
        if (!this.#accept(consensus, update.consensus.consensus)) continue;
        accepted = true;
        // An authority that stops sending is as good as down: move on one period after the
        // consensus should have been replaced.
        clearTimeout(watchdog);
        const fresh = timestampMs(consensus.freshUntil!);
        const period = fresh - timestampMs(consensus.validAfter!);
        watchdog = setTimeout(stop, Math.max(1_000, fresh + period - this.#now()));
      }
    } catch (err) {
      if (!outer.aborted) this.#log.warn({ url: pin.url, err: (err as Error).message }, "consensus stream failed");
    } finally {
      clearTimeout(watchdog);
      outer.removeEventListener("abort", stop);
      client.close();
    }
    return accepted;
  }

  /** Takes a verified consensus unless it is older than the one held. */
  #accept(consensus: Consensus, bytes: Uint8Array): boolean {
    const held = this.#latest;
    if (held && timestampMs(consensus.validAfter!) < timestampMs(held.validAfter!)) return false;
    this.#latest = consensus;
    this.#latestBytes = bytes;
    this.#log.info({ relays: consensus.relays.length, validAfter: new Date(timestampMs(consensus.validAfter!)).toISOString() }, "consensus");
    this.emit("consensus", consensus);
    return true;
  }
}

/**
 * Resolves with the first consensus (signed by a majority of `pins`) that lists `count`
 * usable relays; rejects after `timeoutMs` or when `signal` aborts.
 */
export async function awaitUsableRelays(
  pins: readonly DirectoryPin[],
  count: number,
  options: { timeoutMs: number; signal?: AbortSignal },
): Promise<Consensus> {
  const follower = new ConsensusFollower(pins, { backoffInitialMs: 100, backoffMaxMs: 1_000 });
  let best = 0;
  const signals = [AbortSignal.timeout(options.timeoutMs), ...(options.signal ? [options.signal] : [])];
  const done = AbortSignal.any(signals);
  try {
    return await new Promise<Consensus>((resolve, reject) => {
      done.addEventListener("abort", () =>
        reject(options.signal?.aborted ? new Error("aborted") : new Error(`no consensus listed all ${count} relays as usable within ${options.timeoutMs} ms (best: ${best})`)),
      );
      follower.on("consensus", (c) => {
        best = Math.max(best, c.relays.filter(isUsable).length);
        if (best >= count) resolve(c);
      });
      follower.start();
    });
  } finally {
    follower.close();
  }
}
