/**
 * The client side of the directory protocol (relays, proxies, peer authorities): a Connect
 * client for an authority, and fetching / watching a verified consensus from any of several
 * authorities.
 */
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { createClient, type Client } from "@connectrpc/connect";
import { Http2SessionManager, createConnectTransport } from "@connectrpc/connect-node";
import type { Consensus, SignedConsensus } from "../../gen/meowonion/v1/consensus_pb.js";
import { DirectoryService } from "../../gen/meowonion/v1/directory_pb.js";
import { sleep } from "../common/sleep.js";
import { MeowOnionError } from "../onion/errors.js";
import { verifySignedConsensus } from "./consensus.js";

// A 10,000-relay consensus is a few MB; votes carry whole descriptors (≤ 8 KiB each).
const DEFAULT_CLIENT_READ_MAX_BYTES = 128 * 1024 * 1024;

export interface DirectoryClient {
  readonly url: string;
  readonly rpc: Client<typeof DirectoryService>;
  /** Closes the HTTP/2 connection. */
  close(): void;
}

/** A Connect client for one authority over HTTP/2 (prior knowledge: no TLS, no upgrade). */
export function createDirectoryClient(url: string, options: { readMaxBytes?: number } = {}): DirectoryClient {
  const sessionManager = new Http2SessionManager(url);
  const transport = createConnectTransport({
    baseUrl: url,
    httpVersion: "2",
    sessionManager,
    useBinaryFormat: true,
    readMaxBytes: options.readMaxBytes ?? DEFAULT_CLIENT_READ_MAX_BYTES,
  });
  return { url, rpc: createClient(DirectoryService, transport), close: () => sessionManager.abort() };
}

export interface FetchedConsensus {
  consensus: Consensus;
  signed: SignedConsensus;
  /** The authority it came from. */
  url: string;
}

/** Thrown by fetchConsensus when no authority gave a usable consensus; lists each failure. */
export class DirectoryUnavailableError extends MeowOnionError {
  override readonly name = "DirectoryUnavailableError";

  constructor(readonly failures: { url: string; error: Error }[]) {
    super("directory-failure", `no authority gave a valid consensus: ${failures.map((f) => `${f.url}: ${f.error.message}`).join("; ")}`);
  }
}

/**
 * Asks each authority in turn for its consensus and returns the first one that verifies. An
 * authority given as a URL gets a connection for this fetch only; one given as a client (a
 * caller that fetches regularly) keeps its connection.
 */
export async function fetchConsensus(
  authorities: readonly (string | DirectoryClient)[],
  pinnedKeys: Uint8Array[],
  options: { timeoutMs?: number; now?: () => Date } = {},
): Promise<FetchedConsensus> {
  const failures: { url: string; error: Error }[] = [];
  for (const authority of authorities) {
    const client = typeof authority === "string" ? createDirectoryClient(authority) : authority;
    const url = client.url;
    try {
      const res = await client.rpc.getConsensus({}, { timeoutMs: options.timeoutMs ?? 10_000 });
      if (res.consensus === undefined) throw new Error("response has no consensus");
      const consensus = verifySignedConsensus(res.consensus, pinnedKeys, options.now?.());
      return { consensus, signed: res.consensus, url };
    } catch (err) {
      failures.push({ url, error: err as Error });
    } finally {
      if (client !== authority) client.close();
    }
  }
  throw new DirectoryUnavailableError(failures);
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
 * Every new valid consensus, from whichever authority is reachable: streams WatchConsensus,
 * verifies each update, skips ones older than (or byte-identical to) the last one yielded, and
 * moves on to the next authority when a stream fails. Ends when `signal` aborts.
 */
export async function* watchConsensus(urls: string[], pinnedKeys: Uint8Array[], options: WatchOptions): AsyncGenerator<FetchedConsensus> {
  if (urls.length === 0) throw new Error("watchConsensus needs at least one authority URL");
  let lastValidAfter = -Infinity;
  let lastBytes: Uint8Array | undefined;
  for (let i = 0; !options.signal.aborted; i++) {
    const url = urls[i % urls.length];
    const client = createDirectoryClient(url);
    try {
      for await (const update of client.rpc.watchConsensus({}, { signal: options.signal })) {
        const signed = update.consensus;
        if (signed === undefined) continue;
        if (lastBytes !== undefined && Buffer.from(signed.consensus).equals(lastBytes)) continue;
        let consensus: Consensus;
        try {
          consensus = verifySignedConsensus(signed, pinnedKeys, options.now?.());
        } catch (err) {
          options.onError?.(url, err as Error);
          continue;
        }
        const validAfter = timestampMs(consensus.validAfter!);
        if (validAfter < lastValidAfter) continue;
        lastValidAfter = validAfter;
        lastBytes = signed.consensus;
        yield { consensus, signed, url };
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
