/**
 * The descriptor store of an HSDir (onion_service.proto HSDIRS): descriptors in memory, the
 * highest revision per blinded key, dropped when they expire; served over BEGIN_DIR streams,
 * each carrying one size-delimited HsDirRequest and its HsDirResponse.
 */
import { Duplex } from "node:stream";
import { create, fromBinary } from "@bufbuild/protobuf";
import { sizeDelimitedEncode, sizeDelimitedPeek } from "@bufbuild/protobuf/wire";
import {
  HsDirRequestSchema,
  type HsDirResponse,
  HsDirResponseSchema,
  HsDirStatus,
  type SignedOnionDescriptor,
} from "../../gen/meowonion/v1/onion_service_pb.js";
import type { TargetSocket } from "../edge/stream-edge.js";
import { MAX_HS_DIR_MESSAGE_BYTES, checkSignedOnionDescriptor, onionDescriptorExpiresMs } from "../netdoc/onion-descriptor.js";
import { ED25519_KEY_LEN } from "../onion/signing.js";

interface StoredDescriptor {
  signed: SignedOnionDescriptor;
  revision: bigint;
  expiresMs: number;
}

function answer(status: HsDirStatus, message = "", descriptor?: SignedOnionDescriptor): HsDirResponse {
  return create(HsDirResponseSchema, { status, message, descriptor });
}

export class HsDirStore {
  readonly #entries = new Map<string, StoredDescriptor>();

  constructor(
    private readonly maxDescriptors: number,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.#entries.size;
  }

  store(signed: SignedOnionDescriptor): HsDirResponse {
    const now = this.now();
    let descriptor;
    try {
      descriptor = checkSignedOnionDescriptor(signed, now);
    } catch (error) {
      return answer(HsDirStatus.INVALID, (error as Error).message);
    }
    const key = Buffer.from(descriptor.blindedKey).toString("hex");
    const held = this.#live(key, now);
    if (held !== undefined && held.revision >= descriptor.revisionCounter) {
      return answer(HsDirStatus.STALE, `revision ${descriptor.revisionCounter} is not above the stored ${held.revision}`);
    }
    if (held === undefined && this.#entries.size >= this.maxDescriptors) {
      this.#prune(now);
      if (this.#entries.size >= this.maxDescriptors) return answer(HsDirStatus.REFUSED, "this HSDir holds as many descriptors as it takes");
    }
    this.#entries.set(key, { signed, revision: descriptor.revisionCounter, expiresMs: onionDescriptorExpiresMs(descriptor) });
    return answer(HsDirStatus.OK);
  }

  fetch(blindedKey: Uint8Array): HsDirResponse {
    if (blindedKey.length !== ED25519_KEY_LEN) return answer(HsDirStatus.INVALID, `a blinded key is ${ED25519_KEY_LEN} bytes`);
    const held = this.#live(Buffer.from(blindedKey).toString("hex"), this.now());
    return held === undefined ? answer(HsDirStatus.NOT_FOUND) : answer(HsDirStatus.OK, "", held.signed);
  }

  /** A directory stream: one request in, one response out, then the end. */
  openStream(): TargetSocket {
    return new DirectoryStream(this);
  }

  #live(key: string, now: number): StoredDescriptor | undefined {
    const held = this.#entries.get(key);
    if (held !== undefined && held.expiresMs <= now) {
      this.#entries.delete(key);
      return undefined;
    }
    return held;
  }

  #prune(now: number): void {
    for (const [key, held] of this.#entries) if (held.expiresMs <= now) this.#entries.delete(key);
  }
}

/** The HSDir end of a BEGIN_DIR stream. */
class DirectoryStream extends Duplex {
  #received = new Uint8Array(0);
  #answered = false;

  constructor(private readonly store: HsDirStore) {
    super({ allowHalfOpen: true });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.#answered) {
      callback();
      return;
    }
    this.#received = Buffer.concat([this.#received, chunk]);
    const peek = sizeDelimitedPeek(this.#received);
    if (peek.eof) {
      callback(this.#received.length > 10 ? new Error("a directory request's length prefix does not decode") : null);
      return;
    }
    if (peek.size > MAX_HS_DIR_MESSAGE_BYTES) {
      callback(new Error(`a directory request of ${peek.size} bytes is above ${MAX_HS_DIR_MESSAGE_BYTES}`));
      return;
    }
    if (this.#received.length < peek.offset + peek.size) {
      callback();
      return;
    }
    this.#answered = true;
    let response: HsDirResponse;
    try {
      response = this.#serve(this.#received.subarray(peek.offset, peek.offset + peek.size));
    } catch {
      response = answer(HsDirStatus.INVALID, "the request does not decode");
    }
    this.push(sizeDelimitedEncode(HsDirResponseSchema, response));
    this.push(null);
    callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (!this.#answered) this.push(null);
    callback();
  }

  override _read(): void {}

  #serve(bytes: Uint8Array): HsDirResponse {
    const request = fromBinary(HsDirRequestSchema, bytes).request;
    switch (request.case) {
      case "store":
        return this.store.store(request.value);
      case "fetchBlindedKey":
        return this.store.fetch(request.value);
      default:
        return answer(HsDirStatus.INVALID, "an empty request");
    }
  }
}
