/**
 * DirectoryService handlers (directory.proto): thin adapters from RPCs to the registry and
 * the voting engine, which own the rules and throw the spec's Codes.
 */
import { timestampMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { DirectoryService } from "../../gen/meowonion/v1/directory_pb.js";
import { hex } from "../netdoc/descriptor.js";
import type { RelayRegistry } from "./registry.js";
import { REVISIONS_PER_PERIOD, type Voting } from "./voting.js";
import { isRepresentableMs } from "../netdoc/consensus.js";

export function directoryRoutes(registry: RelayRegistry, voting: Voting): (router: ConnectRouter) => void {
  return (router) =>
    router.service(DirectoryService, {
      publishDescriptor: async (req) => ({ descriptorDigest: hex((await registry.publish(req.descriptor)).digest) }),

      heartbeat: async (req) => ({ running: await registry.heartbeat(req) }),

      getConsensus: (req) => {
        const response = voting.current(req.have);
        if (response === undefined) throw new ConnectError("no consensus has been made yet; try again shortly", Code.Unavailable);
        return response;
      },

      watchConsensus: (req, ctx) => voting.watch(ctx.signal, req),

      getDescriptor: (req) => ({ descriptor: registry.descriptor(req.identityKey) }),

      getVote: (req) => {
        const periodMs = requiredTime(req.validAfter);
        const vote = voting.voteFor(periodMs, checkedRevision(req.revision));
        if (vote === undefined) throw new ConnectError(`no vote for the period starting ${new Date(periodMs).toISOString()}`, Code.NotFound);
        return { vote };
      },

      getConsensusSignature: async (req) => {
        const periodMs = requiredTime(req.validAfter);
        if (req.consensusDigest.length !== 32) {
          throw new ConnectError(`consensus_digest must be 32 bytes, got ${req.consensusDigest.length}`, Code.InvalidArgument);
        }
        const signature = await voting.signatureFor(periodMs, req.consensusDigest, checkedRevision(req.revision));
        if (signature === undefined) {
          throw new ConnectError("no consensus with that digest was computed here for that period", Code.NotFound);
        }
        return { signature };
      },
    });
}

function checkedRevision(revision: number | undefined): number | undefined {
  if (revision !== undefined && revision >= REVISIONS_PER_PERIOD) {
    throw new ConnectError(`revision must be 0..${REVISIONS_PER_PERIOD - 1}, got ${revision}`, Code.InvalidArgument);
  }
  return revision;
}

function requiredTime(ts: Timestamp | undefined): number {
  if (ts === undefined) throw new ConnectError("valid_after is required", Code.InvalidArgument);
  const ms = timestampMs(ts);
  if (ts.nanos < 0 || ts.nanos > 999_999_999 || !isRepresentableMs(ms)) {
    throw new ConnectError("valid_after is not a valid timestamp", Code.InvalidArgument);
  }
  return ms;
}
