/**
 * One circuit as a relay sees it: the hop towards the client (prev) and, once extended, the
 * hop away from it (next), each a (channel, circuit id) pair with its own cell queue, plus
 * this relay's crypto layer and the exit edge if streams end here.
 */
import { RELAY_BODY_LEN } from "../onion/frame.js";
import type { RelayCircuitCrypto } from "../onion/relay-crypto.js";
import type { Channel, DrainWaiter } from "../link/channels.js";
import type { StreamEdge } from "../edge/stream-edge.js";
import type { OnionServicePart } from "./onion-roles.js";
import type { QueueHolder } from "./limits.js";

export interface Hop {
  channel: Channel<RelayCircuit>;
  id: number;
}

/**
 * Cells a circuit sends per turn when a congested link drains: small, so that the cell of an
 * interactive circuit waits for at most this many cells of each other circuit on the link.
 */
const DRAIN_TURN_CELLS = 16;

/** Accounting hooks of the owner: queued bytes (for the memory ceiling) and sent cells. */
export interface QueueAccounting {
  queued(deltaBytes: number): void;
  sent(cells: number): void;
}

/** Cells waiting for a congested link, in order, and since when. */
interface CellQueue {
  cells: Uint8Array[];
  early: boolean[];
  head: number;
  /** Date.now() when the oldest cell still queued was queued. */
  since: number;
}

/**
 * Writes RELAY frames for one circuit to one hop. Cells go straight into the link's output
 * while it is not congested; otherwise they are copied into a queue (FIFO, so the order of
 * the keystream is kept) and flushed when the link drains. A relay has one or two of these per
 * circuit, most of them idle: the writer is its own Hop (no separate object) and the queue
 * exists only while cells wait.
 */
export class HopWriter implements DrainWaiter, Hop {
  readonly channel: Channel<RelayCircuit>;
  readonly id: number;
  #queue: CellQueue | undefined;

  constructor(
    hop: Hop,
    private readonly accounting: QueueAccounting,
    private readonly maxQueued: number,
    /** Told when the queue was emptied by a drain (exit edges resume reading). */
    private readonly owner?: { onFlushed(): void },
  ) {
    this.channel = hop.channel;
    this.id = hop.id;
  }

  /** Date.now() when the oldest queued cell was queued; 0 when empty. */
  get queuedSince(): number {
    return this.#queue?.since ?? 0;
  }

  get queued(): number {
    const q = this.#queue;
    return q === undefined ? 0 : q.cells.length - q.head;
  }

  /** True if a cell sent now goes out without queueing. */
  get writable(): boolean {
    return this.#queue === undefined && !this.channel.link.congested;
  }

  /** Send (or queue a copy of) one 509-byte body; false if the queue cap is exceeded. */
  send(body: Uint8Array, early = false): boolean {
    const link = this.channel.link;
    let q = this.#queue;
    if (q === undefined && !link.congested) {
      link.sendRelay(this.id, body, early);
      this.accounting.sent(1);
      return true;
    }
    if (this.queued >= this.maxQueued) return false;
    if (q === undefined) {
      q = this.#queue = { cells: [], early: [], head: 0, since: Date.now() };
      this.channel.waitForDrain(this);
    }
    const copy = new Uint8Array(RELAY_BODY_LEN); // not body.slice(): on a Buffer that is a view
    copy.set(body);
    q.cells.push(copy);
    q.early.push(early);
    this.accounting.queued(RELAY_BODY_LEN);
    return true;
  }

  /** The link can take more: send up to DRAIN_TURN_CELLS (one turn of the channel's round robin). */
  onDrain(): void {
    const q = this.#queue;
    if (q === undefined) return;
    const link = this.channel.link;
    let sent = 0;
    while (q.head < q.cells.length && sent < DRAIN_TURN_CELLS && !link.congested) {
      link.sendRelay(this.id, q.cells[q.head], q.early[q.head]);
      q.head++;
      sent++;
    }
    this.accounting.sent(sent);
    this.accounting.queued(-sent * RELAY_BODY_LEN);
    if (q.head < q.cells.length) {
      if (q.head >= 1024 && q.head * 2 >= q.cells.length) {
        // A queue that never empties (a throttled link) must not keep every cell it sent.
        q.cells = q.cells.slice(q.head);
        q.early = q.early.slice(q.head);
        q.head = 0;
      }
      q.since = Date.now();
      this.channel.waitForDrain(this);
      return;
    }
    this.#queue = undefined;
    this.owner?.onFlushed();
  }

  /** Drop everything queued (the circuit is gone). */
  clear(): void {
    this.accounting.queued(-this.queued * RELAY_BODY_LEN);
    this.channel.cancelWait(this);
    this.#queue = undefined;
  }
}

/**
 * A relay holds one of these for every circuit through it, most of them idle: keep it small
 * (fields only where needed, no closures, nothing allocated until used).
 */
export class RelayCircuit implements QueueHolder {
  /** Towards the client; set at CREATE2. */
  readonly toPrev: HopWriter;
  /** Away from the client; set when CREATE2 went out for an EXTEND2. */
  toNext: HopWriter | undefined;
  /** CREATED2 came back: cells may be forwarded to `toNext`. */
  nextReady = false;
  /** An EXTEND2 is being served (connecting, or waiting for CREATED2). */
  extending = false;
  extendTimer: NodeJS.Timeout | undefined;
  /** Identifies the extension in progress, so a late connect result for an abandoned one is ignored. */
  extendAttempt: object | undefined;
  /** RELAY_EARLY frames received from the client side (at most 8). */
  earlyCells = 0;
  closed = false;
  edge: StreamEdge | undefined;
  /** An intro point's or rendezvous point's part in an onion service, if any. */
  onionService: OnionServicePart | undefined;

  constructor(
    prev: Hop,
    readonly crypto: RelayCircuitCrypto,
    accounting: QueueAccounting,
    maxQueued: number,
    /** Log tag: never the circuit id on the wire, which would link log lines across relays. */
    readonly tag: number,
    /** The nonce of the circuit's ntor key material at this hop (latin1: a string is smaller than a Buffer). */
    readonly nonce: string,
  ) {
    this.toPrev = new HopWriter(prev, accounting, maxQueued, this);
  }

  /** The queue towards the client was flushed: the exit edge may read its streams again. */
  onFlushed(): void {
    this.edge?.onWritable();
  }

  /** Oldest queued data of this circuit (cells or exit stream bytes), 0 if none. */
  get oldestQueuedAt(): number {
    let oldest = 0;
    for (const at of [this.toPrev.queuedSince, this.toNext?.queuedSince ?? 0, this.edge?.pendingSince ?? 0]) {
      if (at !== 0 && (oldest === 0 || at < oldest)) oldest = at;
    }
    return oldest;
  }

  /** Bytes this circuit holds in memory: queued cells and unpackaged stream bytes. */
  get queuedBytes(): number {
    return (this.toPrev.queued + (this.toNext?.queued ?? 0)) * RELAY_BODY_LEN + (this.edge?.pendingBytes ?? 0);
  }
}
