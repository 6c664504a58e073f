/**
 * Another authority, as this one sees it: fetch its signed vote for a period and its
 * signature over a consensus, verifying both against its pinned key. Failures (down, NOT_FOUND,
 * bad signature) come back as `undefined`; the voting loop simply does without.
 */
import { create, fromBinary } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { AuthoritySignatureSchema, VoteSchema, type AuthoritySignature, type Vote } from "../../gen/meowonion/v1/consensus_pb.js";
import type { Logger } from "../common/log.js";
import { DOMAIN_CONSENSUS, DOMAIN_VOTE, verifyWithDomain } from "../onion/signing.js";
import { createDirectoryClient, type DirectoryClient } from "../netdoc/directory-client.js";
import { MAX_CONSENSUS_RELAYS } from "./consensus.js";
import { hex } from "../netdoc/descriptor.js";

export interface PeerConfig {
  /** http://HOST:PORT of the peer's DirectoryService. */
  url: string;
  /** Its Ed25519 authority key, 32 bytes. */
  key: Uint8Array;
}

export class PeerAuthority {
  readonly keyHex: string;
  private readonly client: DirectoryClient;
  // The last vote fetched, kept so that an unchanged vote yields the same decoded objects
  // (and so hits the descriptor check cache) instead of being re-verified every round.
  private lastVote: { bytes: Buffer; vote: Vote } | undefined;
  private failing = false;

  constructor(
    readonly config: PeerConfig,
    private readonly timeoutMs: number,
    private readonly log: Logger,
  ) {
    this.keyHex = hex(config.key);
    this.client = createDirectoryClient(config.url);
  }

  async fetchVote(periodMs: number, revision: number): Promise<Vote | undefined> {
    let signed;
    try {
      signed = (await this.client.rpc.getVote({ validAfter: timestampFromMs(periodMs), revision }, { timeoutMs: this.timeoutMs })).vote;
    } catch (err) {
      this.failed(err, "GetVote");
      return undefined;
    }
    this.succeeded();
    if (signed === undefined) return undefined;
    if (this.lastVote?.bytes.equals(signed.vote)) return this.lastVote.vote;
    if (!verifyWithDomain(DOMAIN_VOTE, signed.vote, signed.signature, this.config.key)) {
      this.log.warn({ peer: this.config.url }, "peer vote signature does not verify; ignoring it");
      return undefined;
    }
    let vote: Vote;
    try {
      vote = fromBinary(VoteSchema, signed.vote);
    } catch (err) {
      this.log.warn({ peer: this.config.url, err }, "peer vote does not decode; ignoring it");
      return undefined;
    }
    const problem =
      vote.validAfter === undefined || timestampMs(vote.validAfter) !== periodMs
        ? "is for another period"
        : vote.revision !== revision
          ? "is for another revision"
          : hex(vote.authorityKey) !== this.keyHex
          ? "names another authority"
          : vote.relays.length > MAX_CONSENSUS_RELAYS
            ? `lists ${vote.relays.length} relays`
            : undefined;
    if (problem !== undefined) {
      this.log.warn({ peer: this.config.url }, `peer vote ${problem}; ignoring it`);
      return undefined;
    }
    this.lastVote = { bytes: Buffer.from(signed.vote), vote };
    return vote;
  }

  async fetchSignature(periodMs: number, revision: number, digest: Uint8Array, consensusBytes: Uint8Array): Promise<AuthoritySignature | undefined> {
    let signature;
    try {
      const res = await this.client.rpc.getConsensusSignature(
        { validAfter: timestampFromMs(periodMs), revision, consensusDigest: digest },
        { timeoutMs: this.timeoutMs },
      );
      signature = res.signature;
    } catch (err) {
      this.failed(err, "GetConsensusSignature");
      return undefined;
    }
    this.succeeded();
    if (signature === undefined) return undefined;
    if (hex(signature.authorityKey) !== this.keyHex || !verifyWithDomain(DOMAIN_CONSENSUS, consensusBytes, signature.signature, this.config.key)) {
      this.log.warn({ peer: this.config.url }, "peer consensus signature does not verify; ignoring it");
      return undefined;
    }
    return create(AuthoritySignatureSchema, { authorityKey: this.config.key, signature: signature.signature });
  }

  close(): void {
    this.client.close();
  }

  private failed(err: unknown, rpc: string): void {
    // NOT_FOUND is the normal "not computed yet / our votes differ" answer, not an outage.
    if (err instanceof ConnectError && err.code === Code.NotFound) return;
    if (!this.failing) this.log.warn({ peer: this.config.url, rpc, err: (err as Error).message }, "peer authority unreachable");
    this.failing = true;
  }

  private succeeded(): void {
    if (this.failing) this.log.info({ peer: this.config.url }, "peer authority reachable again");
    this.failing = false;
  }
}
