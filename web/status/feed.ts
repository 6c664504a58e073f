/**
 * The page's one data source: this authority's DirectoryService, same origin, over Connect
 * with connect-web (binary protobuf; WatchConsensus is a server stream over fetch). Every
 * consensus the stream delivers is decoded and, with this authority's vote for the same
 * period (GetVote: the descriptors it holds and the uptimes it measured), handed to the page.
 * A stream that fails or ends is reopened after a growing delay (1 s doubling to 30 s).
 */
import { fromBinary } from "@bufbuild/protobuf";
import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { ConsensusSchema, VoteSchema, type Consensus, type SignedConsensus, type Vote } from "../../gen/meowonion/v1/consensus_pb.js";
import { DirectoryService } from "../../gen/meowonion/v1/directory_pb.js";

export interface Snapshot {
  signed: SignedConsensus;
  consensus: Consensus;
  /** Undefined when the authority no longer holds (or never made) a vote for that period. */
  vote: Vote | undefined;
  receivedAt: Date;
}

export type FeedState = { kind: "connecting" } | { kind: "live" } | { kind: "retrying"; reason: string; inSeconds: number };

const FIRST_RETRY_MS = 1_000;
const MAX_RETRY_MS = 30_000;

type Directory = Client<typeof DirectoryService>;

/** Runs for the page's lifetime: `onSnapshot` for each consensus, `onState` when the stream's health changes. */
export async function followConsensus(onSnapshot: (snapshot: Snapshot) => Promise<void>, onState: (state: FeedState) => void): Promise<void> {
  const directory: Directory = createClient(DirectoryService, createConnectTransport({ baseUrl: location.origin, useBinaryFormat: true }));
  let retryMs = FIRST_RETRY_MS;
  for (;;) {
    onState({ kind: "connecting" });
    let reason = "the authority ended the stream";
    try {
      for await (const { consensus: signed } of directory.watchConsensus({})) {
        if (signed === undefined) continue;
        const consensus = fromBinary(ConsensusSchema, signed.consensus);
        onState({ kind: "live" });
        retryMs = FIRST_RETRY_MS;
        await onSnapshot({ signed, consensus, vote: await voteFor(directory, consensus), receivedAt: new Date() });
      }
    } catch (err) {
      reason = err instanceof Error ? err.message : String(err);
    }
    onState({ kind: "retrying", reason, inSeconds: retryMs / 1000 });
    await new Promise((resolve) => setTimeout(resolve, retryMs));
    retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
  }
}

async function voteFor(directory: Directory, consensus: Consensus): Promise<Vote | undefined> {
  try {
    const { vote } = await directory.getVote({ validAfter: consensus.validAfter });
    return vote === undefined ? undefined : fromBinary(VoteSchema, vote.vote);
  } catch {
    // NOT_FOUND (an old period) or a passing failure: the page shows what the consensus has.
    return undefined;
  }
}
