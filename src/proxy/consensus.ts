/**
 * The proxy's view of the network: follows WatchConsensus on one authority at a time, as
 * diffs from the consensus it holds (a new period costs a few hundred bytes, not the whole
 * consensus), checks every update (signatures by a majority of the pinned keys, not expired),
 * keeps the newest valid one, and moves to the next authority when a stream fails or goes
 * stale. After every authority failed in a row it waits, doubling the wait up to a cap, so a
 * network whose authorities are all down is not hammered; the last valid consensus stays in
 * use meanwhile (until its valid_until).
 */
import { EventEmitter } from "node:events";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { RelayFlag, type Consensus } from "../../gen/meowonion/v1/consensus_pb.js";
import { Backoff } from "../common/backoff.js";
import { componentLogger, type Logger } from "../common/log.js";
import { createDirectoryClient, type DirectoryClient, type HeldConsensus, watchStream } from "../netdoc/directory-client.js";
import { sleep } from "../common/sleep.js";
import { isUsable } from "./path.js";

// How long a new stream may take to deliver its first consensus when none is held.
const FIRST_UPDATE_TIMEOUT_MS = 30_000;

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
  /**
   * Ask for consensus diffs (default true). False behaves as a client that does not know them
   * (every update a whole consensus): for compatibility tests and the before/after benchmark.
   */
  diffs?: boolean;
  now?: () => number;
  log?: Logger;
}

export class ConsensusFollower extends EventEmitter<{ consensus: [consensus: Consensus] }> {
  #latest: Consensus | undefined;
  /** The latest consensus's bytes and digest: what diffs are asked from. */
  #held: HeldConsensus | undefined;
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
    // An authority that stops sending is as good as down: move on when no newer consensus came
    // two periods after the one held should have been replaced (a busy authority publishes
    // late), and at least one period after the stream started; 30 s when none is held yet.
    const arm = (held: Consensus | undefined) => {
      clearTimeout(watchdog);
      let ms = FIRST_UPDATE_TIMEOUT_MS;
      if (held !== undefined) {
        const fresh = timestampMs(held.freshUntil!);
        const period = fresh - timestampMs(held.validAfter!);
        ms = Math.max(period, fresh + 2 * period - this.#now());
      }
      watchdog = setTimeout(stop, ms);
    };
    arm(this.#latest);
    let accepted = false;
    try {
      const updates = watchStream(client, this.directories.map((d) => d.key), {
        signal: stream.signal,
        held: this.#held,
        diffs: this.options.diffs ?? true,
        now: () => new Date(this.#now()),
      });
      for await (const update of updates) {
        // The same consensus again (with more signatures, or from a reconnect): nothing new.
        if (update.status === "same" || (this.#held && Buffer.from(update.digest).equals(this.#held.digest))) {
          accepted = true;
          continue;
        }
        if (update.status === "refused") {
          this.#log.warn({ url: pin.url, err: update.error.message }, "refused a consensus");
          continue;
        }
        const { consensus } = update;
        if (!this.#accept(consensus, { bytes: update.signed.consensus, digest: update.digest })) continue;
        accepted = true;
        arm(consensus);
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
  #accept(consensus: Consensus, held: HeldConsensus): boolean {
    const latest = this.#latest;
    if (latest && timestampMs(consensus.validAfter!) < timestampMs(latest.validAfter!)) return false;
    this.#latest = consensus;
    this.#held = held;
    this.#log.info({ relays: consensus.relays.length, validAfter: new Date(timestampMs(consensus.validAfter!)).toISOString() }, "consensus");
    this.emit("consensus", consensus);
    return true;
  }
}

/** How many relays a consensus lists as usable, and how many of them are exits. */
export interface UsableCount {
  relays: number;
  exits: number;
}

/**
 * Resolves with the first consensus (signed by a majority of `pins`) that lists `count`
 * usable relays, `exits` of them (default 0) with the Exit flag; rejects after `timeoutMs` or
 * when `signal` aborts. `onConsensus` sees the counts of every consensus on the way.
 */
export async function awaitUsableRelays(
  pins: readonly DirectoryPin[],
  count: number,
  options: { timeoutMs: number; exits?: number; signal?: AbortSignal; onConsensus?: (usable: UsableCount) => void },
): Promise<Consensus> {
  const follower = new ConsensusFollower(pins, { backoffInitialMs: 100, backoffMaxMs: 1_000 });
  const best: UsableCount = { relays: 0, exits: 0 };
  const exits = options.exits ?? 0;
  const signals = [AbortSignal.timeout(options.timeoutMs), ...(options.signal ? [options.signal] : [])];
  const done = AbortSignal.any(signals);
  try {
    return await new Promise<Consensus>((resolve, reject) => {
      done.addEventListener("abort", () =>
        reject(
          options.signal?.aborted
            ? new Error("aborted")
            : new Error(`no consensus listed ${count} relays (${exits} exits) as usable within ${options.timeoutMs} ms (best: ${best.relays} relays, ${best.exits} exits)`),
        ),
      );
      follower.on("consensus", (c) => {
        const usable = c.relays.filter(isUsable);
        const now = { relays: usable.length, exits: usable.filter((r) => r.flags.includes(RelayFlag.EXIT)).length };
        best.relays = Math.max(best.relays, now.relays);
        best.exits = Math.max(best.exits, now.exits);
        options.onConsensus?.(now);
        if (now.relays >= count && now.exits >= exits) resolve(c);
      });
      follower.start();
    });
  } finally {
    follower.close();
  }
}
