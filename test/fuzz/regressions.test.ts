/**
 * Bugs the fuzzers found in other modules, each pinned by the smallest input that showed it,
 * kept as regression tests now that they are fixed.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConsensusSchema, SignedConsensusSchema } from "../../gen/meowonion/v1/consensus_pb.js";
import { startDirectory, type DirectoryServer } from "../../src/directory/server.js";
import { DOMAIN_CONSENSUS, generateEd25519KeyPair, signWithDomain } from "../../src/onion/signing.js";
import { ConsensusVerificationError, verifySignedConsensus } from "../../src/netdoc/consensus.js";

describe("fuzz regressions", () => {
  it("verifySignedConsensus refuses a valid_until outside the Date range with ConsensusVerificationError, not RangeError (src/directory/client.ts)", () => {
    const authority = generateEd25519KeyPair();
    const consensus = toBinary(
      ConsensusSchema,
      create(ConsensusSchema, {
        validAfter: { seconds: 0n },
        freshUntil: { seconds: 60n },
        validUntil: { seconds: -(10n ** 15n) }, // ≈ 31 million years BC: "expired", but not printable as a Date
      }),
    );
    const signed = create(SignedConsensusSchema, {
      consensus,
      signatures: [{ authorityKey: authority.publicKey, signature: signWithDomain(DOMAIN_CONSENSUS, consensus, authority.privateKey) }],
    });
    let error: unknown;
    try {
      verifySignedConsensus(signed, [authority.publicKey]);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConsensusVerificationError);
  });

  describe("directory RPC over HTTP", () => {
    let server: DirectoryServer;
    let dataDir: string;
    beforeAll(async () => {
      dataDir = await mkdtemp(join(tmpdir(), "meowonion-regress-"));
      server = await startDirectory({ host: "127.0.0.1", port: 0, dataDir, probe: async () => undefined });
    });
    afterAll(async () => {
      await server?.close();
      await rm(dataDir, { recursive: true, force: true });
    });

    async function post(method: string, body: Uint8Array): Promise<{ status: number; code: string }> {
      const res = await fetch(`${server.url}/meowonion.v1.DirectoryService/${method}`, {
        method: "POST",
        headers: { "content-type": "application/proto", "connect-protocol-version": "1" },
        body: Buffer.from(body),
      });
      const json = (await res.json().catch(() => ({}))) as { code?: string };
      return { status: res.status, code: json.code ?? "" };
    }

    it("a request body that is not protobuf is refused by the RPC layer with INTERNAL, as directory.proto ERRORS says", async () => {
      // Field 0 is an illegal tag: protobuf-es refuses it and connect-es answers INTERNAL.
      expect(await post("GetDescriptor", Uint8Array.from([0x02, 0x00]))).toEqual({ status: 500, code: "internal" });
    });

    it("GetVote with a valid_after outside the Date range is refused, not answered INTERNAL (src/directory/service.ts)", async () => {
      // valid_after { seconds: 10^14 } → periodMs 10^17 → new Date(10^17).toISOString() throws RangeError.
      const body = Uint8Array.from([0x0a, 0x07, 0x08, ...varint(10n ** 14n)]);
      body[1] = body.length - 2;
      const answer = await post("GetVote", body);
      expect(answer.code).not.toBe("internal");
      expect(["invalid_argument", "not_found", "out_of_range"]).toContain(answer.code);
    });
  });
});

function varint(value: bigint): number[] {
  const out: number[] = [];
  do {
    let byte = Number(value & 0x7fn);
    value >>= 7n;
    if (value !== 0n) byte |= 0x80;
    out.push(byte);
  } while (value !== 0n);
  return out;
}
