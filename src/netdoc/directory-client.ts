/**
 * The client side of the directory protocol (relays, proxies, peer authorities): a Connect
 * client for an authority, and fetching / watching a verified consensus from any of several
 * authorities.
 */
import http from "node:http";
import type http2 from "node:http2";
import type net from "node:net";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { createClient, type Client } from "@connectrpc/connect";
import { Http2SessionManager, createConnectTransport } from "@connectrpc/connect-node";
import { create } from "@bufbuild/protobuf";
import { SignedConsensusSchema, type Consensus, type ConsensusDiff, type SignedConsensus } from "../../gen/meowonion/v1/consensus_pb.js";
import { DirectoryService } from "../../gen/meowonion/v1/directory_pb.js";
import { sleep } from "../common/sleep.js";
import { MeowOnionError } from "../onion/errors.js";
import { ConsensusVerificationError, verifySignedConsensus } from "./consensus.js";
import { applyConsensusDiff, MAX_CONSENSUS_BYTES } from "./consensus-diff.js";
import { sha256 } from "./descriptor.js";

// A 10,000-relay consensus is a few MB; votes carry whole descriptors (≤ 8 KiB each).
const DEFAULT_CLIENT_READ_MAX_BYTES = MAX_CONSENSUS_BYTES;

export interface DirectoryClient {
  readonly url: string;
  readonly rpc: Client<typeof DirectoryService>;
  /** Closes its connections. */
  close(): void;
}

export interface DirectoryClientOptions {
  readMaxBytes?: number;
  /** Source address to connect from (a relay's own address; default: the system's choice). */
  localAddress?: string;
  /**
   * "2" (default): one HTTP/2 connection, prior knowledge. "1.1": keep-alive HTTP/1.1
   * connections (at most 2), for callers of unary RPCs only that keep a client per authority
   * for a long time, as relays do: an HTTP/2 session costs each side tens of kilobytes and its
   * own set-up, and a local network of 1,000 relays holds 3,000 of them (peak RSS 540–570 MB
   * with HTTP/1.1 against 660–710 MB, 2026-12-07; the time to start was the same).
   */
  httpVersion?: "1.1" | "2";
}

/** A Connect client for one authority over HTTP/2 (prior knowledge: no TLS, no upgrade) or HTTP/1.1. */
export function createDirectoryClient(url: string, options: DirectoryClientOptions = {}): DirectoryClient {
  const readMaxBytes = options.readMaxBytes ?? DEFAULT_CLIENT_READ_MAX_BYTES;
  if (options.httpVersion === "1.1") {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
    const transport = createConnectTransport({ baseUrl: url, httpVersion: "1.1", nodeOptions: { agent, localAddress: options.localAddress }, useBinaryFormat: true, readMaxBytes });
    return { url, rpc: createClient(DirectoryService, transport), close: () => agent.destroy() };
  }
  // http2.connect hands its options to net.connect for http: URLs, localAddress among them.
  const sessionOptions: http2.ClientSessionOptions & Pick<net.TcpNetConnectOpts, "localAddress"> = { localAddress: options.localAddress };
  const sessionManager = new Http2SessionManager(url, undefined, sessionOptions);
  const transport = createConnectTransport({
    baseUrl: url,
    httpVersion: "2",
    sessionManager,
    useBinaryFormat: true,
    readMaxBytes,
  });
  return { url, rpc: createClient(DirectoryService, transport), close: () => sessionManager.abort() };
}

export interface FetchedConsensus {
  consensus: Consensus;
  /** The consensus bytes and signatures, as received (or as rebuilt from a diff). */
  signed: SignedConsensus;
  /** SHA-256 of the consensus bytes: what the client names in `have` to get diffs from it. */
  digest: Uint8Array;
  /** The authority it came from. */
  url: string;
}

/** A consensus the client holds, as a base for diffs (consensus.proto CONSENSUS DIFFS). */
export interface HeldConsensus {
  bytes: Uint8Array;
  digest: Uint8Array;
}

/** Thrown by fetchConsensus when no authority gave a usable consensus; lists each failure. */
export class DirectoryUnavailableError extends MeowOnionError {
  override readonly name = "DirectoryUnavailableError";

  constructor(readonly failures: { url: string; error: Error }[]) {
    super("directory-failure", `no authority gave a valid consensus: ${failures.map((f) => `${f.url}: ${f.error.message}`).join("; ")}`);
  }
}

/**
 * The consensus bytes and signatures an update carries: whole, or a diff applied to `base`.
 * Throws ConsensusVerificationError("bad-diff") when the diff does not apply to it.
 */
export function resolveUpdate(update: { consensus?: SignedConsensus; diff?: ConsensusDiff }, base: HeldConsensus | undefined): { signed: SignedConsensus; digest: Uint8Array } {
  if (update.diff !== undefined) {
    if (base === undefined || !Buffer.from(base.digest).equals(update.diff.baseDigest)) {
      throw new ConsensusVerificationError("bad-diff", "consensus diff is from a consensus this client does not hold");
    }
    const bytes = applyConsensusDiff(base.bytes, update.diff);
    return { signed: create(SignedConsensusSchema, { consensus: bytes, signatures: update.diff.signatures }), digest: update.diff.targetDigest };
  }
  if (update.consensus === undefined) throw new ConsensusVerificationError("malformed", "the update carries neither a consensus nor a diff");
  return { signed: update.consensus, digest: sha256(update.consensus.consensus) };
}

/**
 * Asks each authority in turn for its consensus and returns the first one that verifies. With
 * `held`, asks for a diff from it (and for the whole consensus if the diff does not apply).
 */
export async function fetchConsensus(
  urls: string[],
  pinnedKeys: Uint8Array[],
  options: { timeoutMs?: number; now?: () => Date; held?: HeldConsensus } = {},
): Promise<FetchedConsensus> {
  const clients = urls.map((url) => createDirectoryClient(url));
  try {
    return await fetchConsensusFrom(clients, pinnedKeys, options);
  } finally {
    for (const client of clients) client.close();
  }
}

/** fetchConsensus over clients the caller keeps (and closes). */
export async function fetchConsensusFrom(
  clients: DirectoryClient[],
  pinnedKeys: Uint8Array[],
  options: { timeoutMs?: number; now?: () => Date; held?: HeldConsensus } = {},
): Promise<FetchedConsensus> {
  const failures: { url: string; error: Error }[] = [];
  for (const client of clients) {
    const call = (held: HeldConsensus | undefined) => client.rpc.getConsensus({ have: held === undefined ? [] : [held.digest] }, { timeoutMs: options.timeoutMs ?? 10_000 });
    try {
      let res = await call(options.held);
      let update;
      try {
        update = resolveUpdate(res, options.held);
      } catch (err) {
        if (!(err instanceof ConsensusVerificationError && err.reason === "bad-diff")) throw err;
        res = await call(undefined);
        update = resolveUpdate(res, undefined);
      }
      const consensus = verifySignedConsensus(update.signed, pinnedKeys, options.now?.());
      return { consensus, signed: update.signed, digest: update.digest, url: client.url };
    } catch (err) {
      failures.push({ url: client.url, error: err as Error });
    }
  }
  throw new DirectoryUnavailableError(failures);
}

/** One update of a WatchConsensus stream, resolved (whole or diff) and checked. */
export type StreamUpdate = {
  /** The consensus bytes and signatures the update made, and their digest (the stream's next base). */
  signed: SignedConsensus;
  digest: Uint8Array;
} & (
  | { status: "same" } // the previous update's bytes again (only signatures may have changed)
  | { status: "valid"; consensus: Consensus }
  | { status: "refused"; error: Error }
);

/**
 * Reads one WatchConsensus stream from `client`, with diffs unless `diffs` is false (a client
 * that does not know them): asks for the first update as a diff from `held`, then each update
 * is resolved against the previous one. Ends with the stream; throws when a diff does not
 * apply (the caller watches again, naming what it holds).
 */
export async function* watchStream(
  client: DirectoryClient,
  pinnedKeys: Uint8Array[],
  options: { signal: AbortSignal; held?: HeldConsensus; diffs?: boolean; now?: () => Date },
): AsyncGenerator<StreamUpdate> {
  const diffs = options.diffs ?? true;
  let base = options.held;
  const request = { acceptDiffs: diffs, have: diffs && base !== undefined ? [base.digest] : [] };
  for await (const update of client.rpc.watchConsensus(request, { signal: options.signal })) {
    const { signed, digest } = resolveUpdate(update, base);
    const same = base !== undefined && Buffer.from(base.digest).equals(digest);
    // The authority sends the next diff from what this update made, verified or not.
    base = { bytes: signed.consensus, digest };
    if (same) {
      yield { signed, digest, status: "same" };
      continue;
    }
    let checked: StreamUpdate;
    try {
      checked = { signed, digest, status: "valid", consensus: verifySignedConsensus(signed, pinnedKeys, options.now?.()) };
    } catch (err) {
      checked = { signed, digest, status: "refused", error: err as Error };
    }
    yield checked;
  }
}

export interface WatchOptions {
  /** Stops watching. */
  signal: AbortSignal;
  /** Pause before trying the next authority after a failure. Default 1 s. */
  retryDelayMs?: number;
  /** Told about every stream failure or refused consensus (the watch goes on). */
  onError?: (url: string, error: Error) => void;
  now?: () => Date;
}

/**
 * Every new valid consensus, from whichever authority is reachable: streams WatchConsensus
 * with diffs, verifies each update, skips ones older than (or byte-identical to) the last one
 * yielded, and moves on to the next authority when a stream fails. Ends when `signal` aborts.
 */
export async function* watchConsensus(urls: string[], pinnedKeys: Uint8Array[], options: WatchOptions): AsyncGenerator<FetchedConsensus> {
  if (urls.length === 0) throw new Error("watchConsensus needs at least one authority URL");
  let lastValidAfter = -Infinity;
  let held: HeldConsensus | undefined;
  for (let i = 0; !options.signal.aborted; i++) {
    const url = urls[i % urls.length];
    const client = createDirectoryClient(url);
    try {
      for await (const update of watchStream(client, pinnedKeys, { signal: options.signal, held, now: options.now })) {
        if (update.status === "same") continue;
        if (update.status === "refused") {
          options.onError?.(url, update.error);
          continue;
        }
        const { consensus } = update;
        const validAfter = timestampMs(consensus.validAfter!);
        if (validAfter < lastValidAfter) continue;
        lastValidAfter = validAfter;
        held = { bytes: update.signed.consensus, digest: update.digest };
        yield { consensus, signed: update.signed, digest: update.digest, url };
      }
      if (!options.signal.aborted) options.onError?.(url, new Error("the authority ended the stream"));
    } catch (err) {
      if (options.signal.aborted) break;
      options.onError?.(url, err as Error);
    } finally {
      client.close();
    }
    if (!options.signal.aborted) await sleep(options.retryDelayMs ?? 1_000, options.signal);
  }
}
