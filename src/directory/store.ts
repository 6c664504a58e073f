/**
 * The authority's durable state in its data directory: every held descriptor and each relay's
 * recent heartbeats, kept in an fsynced journal (journal.ts). The same placement rules run
 * when a request is checked, when its record is applied after the flush, and when the journal
 * is replayed at start, so a restarted authority ends in exactly the acknowledged state. Each
 * relay's uptime history (uptime.ts) is journaled at every change of its Running judgement,
 * so Stable and Guard survive a restart.
 */
import { join } from "node:path";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { SignedDescriptorSchema } from "../../gen/meowonion/v1/descriptor_pb.js";
import { HeartbeatRequestSchema } from "../../gen/meowonion/v1/directory_pb.js";
import { componentLogger, type Logger } from "../common/log.js";
import { checkDescriptorShape, type ValidDescriptor } from "../netdoc/descriptor.js";
import { decodeHeartbeat, type DecodedHeartbeat } from "../netdoc/heartbeat.js";
import { Journal, type JournalRecord } from "./journal.js";
import { heartbeatLogRefusal, pruneHeartbeatLog, type AcceptedHeartbeat } from "./heartbeat-log.js";
import { decodeHistory, encodeHistory, type UptimeHistory } from "./uptime.js";

export const DEFAULT_MAX_RELAYS = 10_000;
const JOURNAL_FILE = "directory.journal";
const RECORD_DESCRIPTOR = 1;
const RECORD_HEARTBEAT = 2;
/** identity key (32 bytes) | uptime.ts encodeHistory: a relay's run and WFU as last judged. */
const RECORD_UPTIME = 3;


/** What the authority holds for one relay. */
export interface StoredRelay {
  valid: ValidDescriptor;
  /** Accepted heartbeats still relevant (replay window, rate), oldest first. */
  heartbeats: AcceptedHeartbeat[];
  /**
   * When storing the held descriptor showed the relay alive (directory.proto PublishDescriptor):
   * the earlier of its `published` time and when it was stored (at a restart: of its
   * `published` time and the restart).
   */
  storedAliveAtMs: number;
}

export class DirectoryStore {
  readonly relays = new Map<string, StoredRelay>();
  /** Uptime histories by identity key (hex), as last journaled. */
  readonly uptime = new Map<string, UptimeHistory>();

  private constructor(
    private readonly maxRelays: number,
    private journal: Journal | undefined,
    private readonly log: Logger,
  ) {}

  static async open(dataDir: string, options: { maxRelays?: number; nowMs?: number; log?: Logger } = {}): Promise<DirectoryStore> {
    const log = options.log ?? componentLogger("directory");
    const store = new DirectoryStore(options.maxRelays ?? DEFAULT_MAX_RELAYS, undefined, log);
    const now = options.nowMs ?? Date.now();
    const path = join(dataDir, JOURNAL_FILE);
    store.journal = await Journal.open(path, {
      replay: (record) => store.replay(record, now),
      snapshot: () => store.snapshot(),
      onTruncate: (info) => log.warn({ path, ...info }, "journal had a torn tail (crash mid-write); cut it off"),
      log,
    });
    // Expired descriptors are gone for good; their entries are not restored.
    for (const [key, relay] of store.relays) {
      if (relay.valid.expiresMs <= now) store.relays.delete(key);
      else relay.heartbeats = pruneHeartbeatLog(relay.heartbeats, now);
    }
    for (const key of store.uptime.keys()) if (!store.relays.has(key)) store.uptime.delete(key);
    return store;
  }

  get(keyHex: string): StoredRelay | undefined {
    return this.relays.get(keyHex);
  }

  /** Why `v` cannot replace what is held (or cannot be added), or undefined if it can. */
  placementRefusal(v: ValidDescriptor): ConnectError | undefined {
    const held = this.relays.get(v.keyHex);
    if (held === undefined) {
      if (this.relays.size >= this.maxRelays) {
        return new ConnectError(`the authority holds its limit of ${this.maxRelays} relays`, Code.ResourceExhausted);
      }
      return undefined;
    }
    const h = held.valid;
    if (sameBytes(h.signed.descriptor, v.signed.descriptor) && sameBytes(h.signed.signature, v.signed.signature)) {
      return new ConnectError("this exact descriptor is already held", Code.AlreadyExists);
    }
    if (v.publishedMs <= h.publishedMs) {
      return new ConnectError(
        `descriptor published ${new Date(v.publishedMs).toISOString()} is not newer than the held one (published ${new Date(h.publishedMs).toISOString()})`,
        Code.FailedPrecondition,
      );
    }
    return undefined;
  }

  /** Durably stores a descriptor that passed every check; refuses if another won a race. */
  async putDescriptor(v: ValidDescriptor, receivedAtMs: number): Promise<void> {
    const payload = toBinary(SignedDescriptorSchema, v.signed);
    const refusal = await this.requireJournal().append({ type: RECORD_DESCRIPTOR, payload }, () => this.applyDescriptor(v, receivedAtMs));
    if (refusal !== undefined) throw refusal;
  }

  /** Durably records an authenticated heartbeat; refuses a replay or a rate overrun. */
  async putHeartbeat(h: DecodedHeartbeat, receivedAtMs: number): Promise<void> {
    const payload = heartbeatPayload(h.request, receivedAtMs);
    const refusal = await this.requireJournal().append({ type: RECORD_HEARTBEAT, payload }, () => this.applyHeartbeat(h, receivedAtMs));
    if (refusal !== undefined) throw refusal;
  }

  /** Durably records a relay's uptime history (at a change of its Running judgement). */
  async putUptime(keyHex: string, history: UptimeHistory): Promise<void> {
    const payload = uptimePayload(keyHex, history);
    await this.requireJournal().append({ type: RECORD_UPTIME, payload }, () => {
      if (this.relays.has(keyHex)) this.uptime.set(keyHex, history);
    });
  }

  /** Forgets relays whose descriptor expired (not journaled: replay drops them too). */
  dropExpired(nowMs: number): string[] {
    const dropped: string[] = [];
    for (const [key, relay] of this.relays) {
      if (relay.valid.expiresMs <= nowMs) {
        this.relays.delete(key);
        this.uptime.delete(key);
        dropped.push(key);
      }
    }
    return dropped;
  }

  async close(): Promise<void> {
    await this.journal?.close();
  }

  private requireJournal(): Journal {
    if (this.journal === undefined) throw new ConnectError("the authority is starting up", Code.Unavailable);
    return this.journal;
  }

  private applyDescriptor(v: ValidDescriptor, receivedAtMs: number): ConnectError | undefined {
    const refusal = this.placementRefusal(v);
    if (refusal !== undefined) return refusal;
    const held = this.relays.get(v.keyHex);
    this.relays.set(v.keyHex, { valid: v, heartbeats: held?.heartbeats ?? [], storedAliveAtMs: Math.min(v.publishedMs, receivedAtMs) });
    return undefined;
  }

  private applyHeartbeat(h: DecodedHeartbeat, receivedAtMs: number): ConnectError | undefined {
    const relay = this.relays.get(h.keyHex);
    if (relay === undefined) return new ConnectError("no descriptor is held for this relay; publish one first", Code.NotFound);
    const refusal = heartbeatLogRefusal(relay.heartbeats, h, receivedAtMs);
    if (refusal !== undefined) return refusal;
    relay.heartbeats = pruneHeartbeatLog(
      [...relay.heartbeats, { receivedAtMs, sentAtMs: h.sentAtMs, nonceHex: h.nonceHex, request: h.request }],
      receivedAtMs,
    );
    return undefined;
  }

  private replay(record: JournalRecord, nowMs: number): void {
    try {
      if (record.type === RECORD_DESCRIPTOR) {
        this.applyDescriptor(checkDescriptorShape(fromBinary(SignedDescriptorSchema, record.payload)), nowMs);
      } else if (record.type === RECORD_HEARTBEAT) {
        const receivedAtMs = Number(Buffer.from(record.payload.buffer, record.payload.byteOffset, 8).readBigUInt64BE());
        const request = fromBinary(HeartbeatRequestSchema, record.payload.subarray(8));
        this.applyHeartbeat(decodeHeartbeat(request), receivedAtMs);
      } else if (record.type === RECORD_UPTIME) {
        const bytes = Buffer.from(record.payload.buffer, record.payload.byteOffset, record.payload.byteLength);
        if (bytes.length < 32) throw new RangeError("short uptime record");
        this.uptime.set(bytes.subarray(0, 32).toString("hex"), decodeHistory(bytes.subarray(32)));
      }
    } catch (err) {
      // Only our own, CRC-checked writes are here; an unreadable one is logged and skipped
      // rather than keeping the authority from starting.
      this.log.warn({ err, type: record.type }, "skipping an unreadable journal record");
    }
  }

  private *snapshot(): Iterable<JournalRecord> {
    for (const relay of this.relays.values()) {
      yield { type: RECORD_DESCRIPTOR, payload: toBinary(SignedDescriptorSchema, relay.valid.signed) };
      for (const h of relay.heartbeats) yield { type: RECORD_HEARTBEAT, payload: heartbeatPayload(h.request, h.receivedAtMs) };
      const history = this.uptime.get(relay.valid.keyHex);
      if (history !== undefined) yield { type: RECORD_UPTIME, payload: uptimePayload(relay.valid.keyHex, history) };
    }
  }
}

function heartbeatPayload(request: AcceptedHeartbeat["request"], receivedAtMs: number): Uint8Array {
  const body = toBinary(HeartbeatRequestSchema, request);
  const out = Buffer.allocUnsafe(8 + body.length);
  out.writeBigUInt64BE(BigInt(receivedAtMs), 0);
  out.set(body, 8);
  return out;
}

function uptimePayload(keyHex: string, history: UptimeHistory): Uint8Array {
  return Buffer.concat([Buffer.from(keyHex, "hex"), encodeHistory(history)]);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}
