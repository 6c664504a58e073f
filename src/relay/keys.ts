/**
 * A relay's keys in its data directory:
 *   identity.key              Ed25519 identity (never changes: it is the relay's name)
 *   onion-keys/<ms>.key       X25519 ntor onion keys, named by creation time (Unix ms)
 * The newest onion key is current; the one before stays accepted for a grace period after
 * the newest was made, so clients holding the old descriptor can still build circuits.
 */
import { readdir, unlink } from "node:fs/promises";
import { join } from "node:path";
import { loadOrCreateKey } from "../common/key-store.js";
import { type X25519KeyPair, generateX25519KeyPair, x25519PublicFromPrivate } from "../onion/ntor.js";
import { type Ed25519KeyPair, ed25519PublicFromPrivate, generateEd25519KeyPair } from "../onion/signing.js";

const ONION_DIR = "onion-keys";
const ONION_FILE = /^(\d{1,16})\.key$/;

export async function loadIdentity(dataDir: string): Promise<{ identity: Ed25519KeyPair; created: boolean }> {
  const { secret, created } = await loadOrCreateKey(join(dataDir, "identity.key"), "ed25519-identity-secret", () => generateEd25519KeyPair().privateKey);
  return { identity: { publicKey: ed25519PublicFromPrivate(secret), privateKey: secret }, created };
}

interface OnionKey {
  pair: X25519KeyPair;
  createdAt: number;
}

export class OnionKeyRing {
  #current: OnionKey;
  #previous: OnionKey | undefined;

  private constructor(
    private readonly dir: string,
    /** Rotation period; the previous key is also kept this long after a rotation. */
    readonly rotationMs: number,
    current: OnionKey,
    previous: OnionKey | undefined,
  ) {
    this.#current = current;
    this.#previous = previous;
  }

  /** Load the onion keys of `dataDir`, making a first one (or a due rotation) if needed. */
  static async load(dataDir: string, rotationMs: number, now = Date.now()): Promise<OnionKeyRing> {
    const dir = join(dataDir, ONION_DIR);
    const stamps = (await listStamps(dir)).filter((t) => t <= now);
    const [newest, second] = stamps;
    const current = newest === undefined ? await createKey(dir, now) : await readKey(dir, newest);
    const previous = second === undefined ? undefined : await readKey(dir, second);
    const ring = new OnionKeyRing(dir, rotationMs, current, previous);
    if (now - current.createdAt >= rotationMs) await ring.rotate(now);
    else await ring.#prune(now);
    return ring;
  }

  get current(): X25519KeyPair {
    return this.#current.pair;
  }

  /** When the current key is due to be replaced. */
  get nextRotationAt(): number {
    return this.#current.createdAt + this.rotationMs;
  }

  /** Keys CREATE2 may use now: current first, then the previous one within its grace period. */
  keys(now = Date.now()): X25519KeyPair[] {
    const previous = this.#previous;
    return previous !== undefined && now - this.#current.createdAt < this.rotationMs
      ? [this.#current.pair, previous.pair]
      : [this.#current.pair];
  }

  /** Make a new current key; the old current becomes previous. */
  async rotate(now = Date.now()): Promise<void> {
    // Never reuse a stamp: two rotations within one millisecond would otherwise share a file.
    const stamp = Math.max(now, this.#current.createdAt + 1);
    const next = await createKey(this.dir, stamp);
    this.#previous = this.#current;
    this.#current = next;
    await this.#prune(now);
  }

  /** Delete key files older than the previous key (they can no longer be used). */
  async #prune(now: number): Promise<void> {
    const keep = new Set([this.#current.createdAt]);
    if (this.#previous !== undefined && now - this.#current.createdAt < this.rotationMs) keep.add(this.#previous.createdAt);
    for (const stamp of await listStamps(this.dir)) {
      if (!keep.has(stamp) && stamp < this.#current.createdAt) await unlink(join(this.dir, `${stamp}.key`)).catch(() => undefined);
    }
  }
}

/** Creation stamps of the onion key files, newest first. */
async function listStamps(dir: string): Promise<number[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  return names
    .map((name) => ONION_FILE.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => b - a);
}

async function createKey(dir: string, stamp: number): Promise<OnionKey> {
  return readKey(dir, stamp, () => generateX25519KeyPair().privateKey);
}

async function readKey(dir: string, stamp: number, generate: () => Uint8Array = missing): Promise<OnionKey> {
  const { secret } = await loadOrCreateKey(join(dir, `${stamp}.key`), "x25519-onion-secret", generate);
  return { pair: { privateKey: secret, publicKey: x25519PublicFromPrivate(secret) }, createdAt: stamp };
}

function missing(): never {
  throw new Error("onion key file vanished while loading");
}
