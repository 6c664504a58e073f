/**
 * An fsynced append-only journal with group commit: what the authority has acknowledged
 * survives kill -9. Appends that arrive while a write is in flight are written together and
 * share one fdatasync, so durability costs one disk flush per batch, not per request.
 *
 * Record: u32 length | u32 crc32(type | payload) | u8 type | payload (big-endian). A torn
 * tail (crash mid-write) fails its length or CRC and is cut off at open; everything before it
 * was acknowledged only after its fdatasync, so nothing acknowledged is lost.
 *
 * When the file grows well past the live state, it is compacted: the owner's snapshot is
 * written to a temp file, fsynced, renamed over the journal and the directory fsynced.
 */
import { crc32 } from "node:zlib";
import { open, rename, rm, type FileHandle } from "node:fs/promises";
import { dirname } from "node:path";
import { componentLogger, type Logger } from "../common/log.js";

const HEADER_BYTES = 9;
// Journal records are descriptors (≤ 8 KiB) and heartbeats; anything larger is corruption.
const MAX_RECORD_BYTES = 1 << 20;
const MIN_COMPACT_BYTES = 8 << 20;


export interface JournalRecord {
  type: number;
  payload: Uint8Array;
}

export interface JournalOptions {
  /** Called for every intact record at open, in order. */
  replay: (record: JournalRecord) => void;
  /** The live state as records, for compaction. */
  snapshot: () => Iterable<JournalRecord>;
  /** Called when a torn or corrupt tail is cut off at open. */
  onTruncate?: (info: { offset: number; droppedBytes: number }) => void;
  /** Never compact below this size. Default 8 MiB. */
  minCompactBytes?: number;
  log?: Logger;
}

interface Pending {
  bytes: Buffer;
  apply: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export class Journal {
  private queue: Pending[] = [];
  private writing: Promise<void> | undefined;
  private broken: Error | undefined;
  private closed = false;
  private compactAbove: number;

  private constructor(
    private readonly path: string,
    private fh: FileHandle,
    private size: number,
    private readonly snapshot: () => Iterable<JournalRecord>,
    private readonly minCompactBytes: number,
    private readonly log: Logger,
  ) {
    this.compactAbove = Math.max(minCompactBytes, size * 4);
  }

  static async open(path: string, options: JournalOptions): Promise<Journal> {
    await rm(`${path}.compact`, { force: true }); // a compaction that crashed before its rename
    let fh: FileHandle;
    let created = false;
    try {
      fh = await open(path, "r+");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      fh = await open(path, "w+", 0o600);
      created = true;
    }
    const data = await fh.readFile();
    let offset = 0;
    while (offset < data.length) {
      const record = decodeAt(data, offset);
      if (record === undefined) break;
      options.replay(record.record);
      offset = record.next;
    }
    if (offset < data.length) {
      options.onTruncate?.({ offset, droppedBytes: data.length - offset });
      await fh.truncate(offset);
      await fh.sync();
    }
    if (created) await syncDirectory(dirname(path));
    return new Journal(path, fh, offset, options.snapshot, options.minCompactBytes ?? MIN_COMPACT_BYTES, options.log ?? componentLogger("journal"));
  }

  /**
   * Durably appends a record, then runs `apply` (in append order, right after the flush that
   * made the record durable) and resolves with its result. If the write fails, rejects and the
   * record is not in the journal.
   */
  append<T>(record: JournalRecord, apply: () => T): Promise<T> {
    if (this.broken !== undefined) return Promise.reject(this.broken);
    if (this.closed) return Promise.reject(new Error("journal is closed"));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ bytes: encode(record), apply, resolve: resolve as (v: unknown) => void, reject });
      this.writing ??= this.drain();
    });
  }

  get bytes(): number {
    return this.size;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.writing;
    await this.fh.close();
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0);
        if (this.broken !== undefined) {
          for (const p of batch) p.reject(this.broken);
          continue;
        }
        const bytes = batch.length === 1 ? batch[0].bytes : Buffer.concat(batch.map((p) => p.bytes));
        try {
          await this.fh.write(bytes, 0, bytes.length, this.size);
          await this.fh.datasync();
        } catch (err) {
          // Cut a partial write off so later records never follow garbage.
          await this.fh.truncate(this.size).catch((cause: unknown) => {
            this.broken = new Error(`journal ${this.path} is unusable after a failed write`, { cause });
          });
          for (const p of batch) p.reject(err);
          continue;
        }
        this.size += bytes.length;
        for (const p of batch) {
          try {
            p.resolve(p.apply());
          } catch (err) {
            p.reject(err);
          }
        }
        if (this.size > this.compactAbove) await this.compact();
      }
    } finally {
      this.writing = undefined;
    }
  }

  /** Runs inside drain(), so no append interleaves with it. */
  private async compact(): Promise<void> {
    const tmp = `${this.path}.compact`;
    const chunks: Buffer[] = [];
    for (const record of this.snapshot()) chunks.push(encode(record));
    const data = Buffer.concat(chunks);
    const fh = await open(tmp, "w+", 0o600);
    try {
      await fh.write(data, 0, data.length, 0);
      await fh.sync();
      await rename(tmp, this.path);
      await syncDirectory(dirname(this.path));
    } catch (err) {
      await fh.close();
      await rm(tmp, { force: true });
      // Not fatal: the old journal is intact; try again after more growth.
      this.log.warn({ err, path: this.path }, "journal compaction failed; keeping the uncompacted journal");
      this.compactAbove = this.size * 2;
      return;
    }
    await this.fh.close();
    this.fh = fh;
    this.size = data.length;
    this.compactAbove = Math.max(this.minCompactBytes, data.length * 4);
  }
}

function encode(record: JournalRecord): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + record.payload.length);
  out.writeUInt32BE(record.payload.length, 0);
  out.writeUInt8(record.type, 8);
  out.set(record.payload, HEADER_BYTES);
  out.writeUInt32BE(crc32(out.subarray(8)), 4);
  return out;
}

function decodeAt(data: Buffer, offset: number): { record: JournalRecord; next: number } | undefined {
  if (data.length - offset < HEADER_BYTES) return undefined;
  const length = data.readUInt32BE(offset);
  if (length > MAX_RECORD_BYTES || data.length - offset - HEADER_BYTES < length) return undefined;
  const body = data.subarray(offset + 8, offset + HEADER_BYTES + length);
  if (crc32(body) !== data.readUInt32BE(offset + 4)) return undefined;
  return {
    record: { type: body[0], payload: Uint8Array.prototype.slice.call(body, 1) },
    next: offset + HEADER_BYTES + length,
  };
}

async function syncDirectory(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
