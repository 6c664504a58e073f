/**
 * The authority's side of consensus diffs (consensus.proto CONSENSUS DIFFS): the consensuses it
 * published recently, kept as bases, and the diffs from them to the current one, each made
 * once (every client that holds the same base gets the same ops) and sent with the current
 * signatures.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ConsensusDiffSchema, type AuthoritySignature, type ConsensusDiff, type ConsensusDiffOp } from "../../gen/meowonion/v1/consensus_pb.js";
import { makeConsensusDiff, MAX_HAVE_DIGESTS } from "../netdoc/consensus-diff.js";
import { hex } from "../netdoc/descriptor.js";

/** A published consensus body. */
export interface ConsensusBody {
  bytes: Uint8Array;
  digest: Uint8Array;
}

export interface DiffOptions {
  /** Bases older than this are dropped (three voting periods: a consensus's validity). */
  keepMs: number;
  /** At most this many bases… */
  maxBases?: number;
  /** …and at most this many bytes of them. */
  maxBytes?: number;
  now?: () => number;
}

// Diffs made, kept while their base and target are (a new consensus makes one per base in use).
const MAX_CACHED_DIFFS = 256;

export class ConsensusDiffs {
  readonly #bases = new Map<string, ConsensusBody & { atMs: number }>();
  readonly #ops = new Map<string, ConsensusDiffOp[]>();
  #bytes = 0;
  readonly #now: () => number;

  constructor(private readonly options: DiffOptions) {
    this.#now = options.now ?? Date.now;
  }

  /** A consensus was published: it is a base for diffs from now on. */
  add(body: ConsensusBody): void {
    const key = hex(body.digest);
    if (this.#bases.has(key)) return;
    this.#bases.set(key, { ...body, atMs: this.#now() });
    this.#bytes += body.bytes.length;
    const maxBases = this.options.maxBases ?? 64;
    const maxBytes = this.options.maxBytes ?? 64 * 1024 * 1024;
    const cutoff = this.#now() - this.options.keepMs;
    // Oldest first (insertion order); the one just added always stays.
    for (const [k, base] of this.#bases) {
      const over = this.#bases.size > maxBases || this.#bytes > maxBytes || base.atMs < cutoff;
      if (k === key || !over) break;
      this.#bases.delete(k);
      this.#bytes -= base.bytes.length;
      for (const diffKey of this.#ops.keys()) if (diffKey.startsWith(k)) this.#ops.delete(diffKey);
    }
  }

  /** The first of `have` that is a base here (hex), after checking the field's limits. */
  firstHeld(have: Uint8Array[]): string | undefined {
    if (have.length > MAX_HAVE_DIGESTS) throw new ConnectError(`have lists ${have.length} digests; at most ${MAX_HAVE_DIGESTS} are allowed`, Code.InvalidArgument);
    for (const digest of have) {
      if (digest.length !== 32) throw new ConnectError(`a digest in have must be 32 bytes, got ${digest.length}`, Code.InvalidArgument);
    }
    return have.map(hex).find((key) => this.#bases.has(key));
  }

  /** The diff from base `baseHex` to `target` with `signatures`, or undefined if that base is gone. */
  diff(baseHex: string, target: ConsensusBody, signatures: AuthoritySignature[]): ConsensusDiff | undefined {
    const base = this.#bases.get(baseHex);
    if (base === undefined) return undefined;
    const key = `${baseHex}>${hex(target.digest)}`;
    let ops = this.#ops.get(key);
    if (ops === undefined) {
      ops = makeConsensusDiff(base, target, []).ops;
      this.#ops.set(key, ops);
      if (this.#ops.size > MAX_CACHED_DIFFS) this.#ops.delete(this.#ops.keys().next().value!);
    }
    return create(ConsensusDiffSchema, { baseDigest: base.digest, targetDigest: target.digest, ops, signatures });
  }
}
