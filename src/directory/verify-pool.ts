/**
 * Ed25519 signature checks on worker threads, so that the event loop keeps serving requests
 * (GetConsensus, heartbeats) while a burst of publishes is being verified, and so that a
 * second core does the authority's most expensive per-request work. Checks that arrive in the
 * same turn of the event loop travel to a worker as one batch (one message each way).
 *
 * The check is signing.ts's verifyWithDomain: Ed25519 over utf8(domain) | 0x00 | message.
 * The worker runs plain JavaScript (it must start under any loader, vitest included), so it
 * repeats those few lines; verify-pool.test.ts holds it to verifyWithDomain's answers.
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { SignatureVerifier } from "../netdoc/signature-verifier.js";
import { ED25519_KEY_LEN, ED25519_SIGNATURE_LEN, verifyWithDomain } from "../onion/signing.js";


const MAX_BATCH = 256;
const MAX_THREADS = 4;

const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { createPublicKey, verify } = require("node:crypto");
parentPort.on("message", ({ id, items }) => {
  const results = new Uint8Array(items.length);
  for (let i = 0; i < items.length; i++) {
    const [domain, message, signature, publicKey] = items[i];
    try {
      const key = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(publicKey).toString("base64url") }, format: "jwk" });
      const signed = Buffer.concat([Buffer.from(domain, "utf8"), Buffer.of(0), message]);
      results[i] = verify(null, signed, key, signature) ? 1 : 0;
    } catch {
      results[i] = 0;
    }
  }
  parentPort.postMessage({ id, results });
});
`;

type Item = [domain: string, message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array];

interface Batch {
  items: Item[];
  resolves: ((ok: boolean) => void)[];
}

interface Slot {
  worker: Worker;
  inFlight: Map<number, Batch>;
}

/** Verifies on the calling thread: for single-core hosts. */
const inlineVerifier: SignatureVerifier = {
  verify: async (domain, message, signature, publicKey) => verifyWithDomain(domain, message, signature, publicKey),
  close: async () => undefined,
};

/** Workers: one fewer than the cores (the event loop needs one), at most 4; none on one core. */
export function createSignatureVerifier(threads = Math.min(MAX_THREADS, availableParallelism() - 1)): SignatureVerifier {
  return threads < 1 ? inlineVerifier : new WorkerVerifier(threads);
}

class WorkerVerifier implements SignatureVerifier {
  private readonly slots: Slot[] = [];
  private pending: Batch = { items: [], resolves: [] };
  private flushScheduled = false;
  private nextId = 0;
  private closed = false;

  constructor(threads: number) {
    for (let i = 0; i < threads; i++) this.slots.push(this.spawn());
  }

  verify(domain: string, message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): Promise<boolean> {
    // Malformed lengths never verify (as verifyWithDomain): no need to ship them anywhere.
    if (signature.length !== ED25519_SIGNATURE_LEN || publicKey.length !== ED25519_KEY_LEN) return Promise.resolve(false);
    if (this.closed) return Promise.resolve(verifyWithDomain(domain, message, signature, publicKey));
    return new Promise<boolean>((resolve) => {
      this.pending.items.push([domain, message, signature, publicKey]);
      this.pending.resolves.push(resolve);
      if (this.pending.items.length >= MAX_BATCH) this.flush();
      else if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.flush();
    for (const slot of this.slots) this.settleInline(slot);
    await Promise.all(this.slots.map((slot) => slot.worker.terminate()));
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.pending;
    if (batch.items.length === 0) return;
    this.pending = { items: [], resolves: [] };
    if (this.closed) {
      batch.items.forEach((item, i) => batch.resolves[i](verifyWithDomain(...item)));
      return;
    }
    // The least busy worker (by batches outstanding) takes it.
    const slot = this.slots.reduce((a, b) => (b.inFlight.size < a.inFlight.size ? b : a));
    const id = this.nextId++;
    slot.inFlight.set(id, batch);
    slot.worker.postMessage({ id, items: batch.items });
  }

  private spawn(): Slot {
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.unref(); // the server keeps the process alive; idle workers must not
    const slot: Slot = { worker, inFlight: new Map() };
    worker.on("message", ({ id, results }: { id: number; results: Uint8Array }) => {
      const batch = slot.inFlight.get(id);
      if (batch === undefined) return;
      slot.inFlight.delete(id);
      batch.resolves.forEach((resolve, i) => resolve(results[i] === 1));
    });
    const replace = () => {
      if (this.closed) return;
      // A worker that died takes no answers with it: its batches are checked here, and a
      // fresh worker takes its place.
      this.settleInline(slot);
      const index = this.slots.indexOf(slot);
      if (index >= 0) this.slots[index] = this.spawn();
    };
    worker.once("error", replace);
    worker.once("exit", replace);
    return slot;
  }

  private settleInline(slot: Slot): void {
    for (const batch of slot.inFlight.values()) {
      batch.items.forEach((item, i) => batch.resolves[i](verifyWithDomain(...item)));
    }
    slot.inFlight.clear();
  }
}
