/**
 * A service's intro point opening INTRODUCE2: a client's introduction made from the
 * descriptor's keys opens to its cookie and rendezvous point; the same one again is a replay,
 * and one for another period's subcredential does not open.
 */
import { randomBytes } from "node:crypto";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { ConsensusRelaySchema } from "../../../gen/meowonion/v1/consensus_pb.js";
import { Introduce1Schema, IntroducePlaintextSchema } from "../../../gen/meowonion/v1/onion_service_pb.js";
import { hsNtorClientIntroduce } from "../../onion/hs/hs-ntor.js";
import { INTRODUCE_PLAINTEXT_LEN, paddedIntroducePlaintext } from "./client.js";
import { ServiceIntroPoint } from "./service-intro.js";

const relay = (id: number) =>
  create(ConsensusRelaySchema, { nickname: `r${id}`, identityKey: randomBytes(32), ntorOnionKey: randomBytes(32), ipv4Address: "127.0.0.1", orPort: 9000 + id });

describe("ServiceIntroPoint.open", () => {
  it("opens an introduction once, to the client's cookie and rendezvous point", () => {
    const point = new ServiceIntroPoint(relay(1));
    const subcredential = randomBytes(32);
    const rendezvous = relay(2);
    const cookie = randomBytes(20);
    const plaintext = paddedIntroducePlaintext(cookie, rendezvous);
    expect(plaintext).toHaveLength(INTRODUCE_PLAINTEXT_LEN);
    const entry = point.descriptorEntry();
    const header = toBinary(Introduce1Schema, create(Introduce1Schema, { authKey: entry.authKey }));
    const { introduction } = hsNtorClientIntroduce({ ntorKey: entry.encKey, authKey: entry.authKey, subcredential }, header, plaintext);
    const message = create(Introduce1Schema, { authKey: entry.authKey, ...introduction });

    expect(() => point.open(message, [randomBytes(32)])).toThrow(expect.objectContaining({ reason: "handshake-failed" }));
    const opened = point.open(message, [randomBytes(32), subcredential]);
    expect(Buffer.from(opened.plaintext.cookie)).toEqual(cookie);
    const identity = opened.plaintext.linkSpecifiers.find((l) => l.specifier.case === "identityKey")?.specifier.value as Uint8Array;
    expect(Buffer.from(identity)).toEqual(Buffer.from(rendezvous.identityKey));
    expect(toBinary(IntroducePlaintextSchema, opened.plaintext)).toEqual(toBinary(IntroducePlaintextSchema, fromBinary(IntroducePlaintextSchema, plaintext)));
    expect(() => point.open(message, [subcredential])).toThrow(/replayed/);
    expect(point.introductions).toBe(1);
  });
});
