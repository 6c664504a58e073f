/**
 * The suite's own onion client (onion_service.proto INTRODUCTION AND RENDEZVOUS, steps 2, 3 and
 * 5): from a `.meow` name to a circuit whose last hop is the service. Every check a client
 * makes is made, and a failure says at which step.
 */
import { randomBytes } from "node:crypto";
import type { Consensus } from "../../gen/meowonion/v1/consensus_pb.js";
import { RelayFlag } from "../../gen/meowonion/v1/consensus_pb.js";
import {
  EstablishRendezvousSchema,
  HsDirStatus,
  type IntroPoint,
  IntroduceAckSchema,
  IntroduceAckStatus,
  Rendezvous2Schema,
  type SignedOnionDescriptor,
} from "../../gen/meowonion/v1/onion_service_pb.js";
import { RelayCommand } from "../../gen/meowonion/v1/relay_pb.js";
import { u8 } from "./bytes.js";
import { type ClientCircuit, type RelayInfo, parse, pb } from "./circuit.js";
import { clientFinish, endToEndKeys } from "./hs-ntor.js";
import { hsDirRequest } from "./hsdir-client.js";
import { type LinkPool, relayFromSpecifiers, relayInfoOf } from "./link-pool.js";
import { openOnionDescriptor } from "./onion-descriptor.js";
import { FETCH_SPREAD, blindPublicKey, parseOnionAddress, responsibleHsDirs, subcredential } from "./onion-keys.js";
import { buildIntroduce1 } from "./onion-messages.js";
import { currentPeriod, hsDirsOf } from "./onion-service.js";

export class OnionConnectError extends Error {
  constructor(
    readonly step: "address" | "descriptor" | "rendezvous" | "introduce" | "handshake",
    message: string,
  ) {
    super(`${step}: ${message}`);
  }
}

export interface FetchedDescriptor {
  signed: SignedOnionDescriptor;
  introPoints: IntroPoint[];
  blindedKey: Uint8Array;
  subcredential: Uint8Array;
}

/** The descriptor of `address` from the fetch set of HSDirs (tried in random order), checked and opened. */
export async function fetchDescriptor(pool: LinkPool, consensus: Consensus, address: string, timeoutMs: number): Promise<FetchedDescriptor> {
  let A: Uint8Array;
  try {
    A = parseOnionAddress(address);
  } catch (e) {
    throw new OnionConnectError("address", (e as Error).message);
  }
  const { period, srv } = currentPeriod(consensus);
  const blindedKey = blindPublicKey(A, period);
  const subcred = subcredential(A, blindedKey);
  const fetchSet = responsibleHsDirs(hsDirsOf(consensus), blindedKey, srv, period, FETCH_SPREAD)
    .map(relayInfoOf)
    .sort(() => Math.random() - 0.5);
  const errors: string[] = [];
  for (const relay of fetchSet) {
    const name = relay.nickname ?? relay.host;
    try {
      const c = await pool.circuit([relay]);
      const out = await hsDirRequest(c, { request: { case: "fetchBlindedKey", value: blindedKey } }, timeoutMs);
      c.destroy();
      if (out.kind !== "response") throw new Error(out.kind === "refused" ? `BEGIN_DIR refused` : out.why);
      if (out.response.status !== HsDirStatus.OK || !out.response.descriptor) throw new Error(`status ${HsDirStatus[out.response.status]}`);
      const { inner } = openOnionDescriptor(out.response.descriptor, blindedKey, subcred);
      return { signed: out.response.descriptor, introPoints: inner.introPoints, blindedKey, subcredential: subcred };
    } catch (e) {
      errors.push(`${name}: ${(e as Error).message}`);
    }
  }
  throw new OnionConnectError("descriptor", `no HSDir of the fetch set gave a valid descriptor (${errors.join("; ") || "no HSDir in the consensus"})`);
}

/**
 * Rendezvous and introduction for a fetched descriptor: a circuit to the rendezvous point (given,
 * or a random Running relay), INTRODUCE1 through the intro points in turn, RENDEZVOUS2 checked,
 * the service added as the circuit's last hop.
 */
export async function rendezvousWith(pool: LinkPool, consensus: Consensus, d: FetchedDescriptor, timeoutMs: number, rendezvous?: RelayInfo): Promise<ClientCircuit> {
  const running = consensus.relays.filter((r) => r.flags.includes(RelayFlag.RUNNING));
  const rp = rendezvous ?? relayInfoOf(running[Math.floor(Math.random() * running.length)]);
  const rc = await pool.circuit([rp]).catch((e) => {
    throw new OnionConnectError("rendezvous", `circuit to the rendezvous point: ${(e as Error).message}`);
  });
  const cookie = u8(randomBytes(20));
  const since = rc.mark();
  rc.sendCell(0, RelayCommand.ESTABLISH_RENDEZVOUS, 0, pb(EstablishRendezvousSchema, { cookie }));
  if (!(await rc.waitCell((c) => c.cell.command === RelayCommand.RENDEZVOUS_ESTABLISHED, timeoutMs, since))) throw new OnionConnectError("rendezvous", `no RENDEZVOUS_ESTABLISHED: ${rc.describeState()}`);
  const errors: string[] = [];
  for (const ip of d.introPoints) {
    try {
      const ic = await pool.circuit([relayFromSpecifiers(ip.linkSpecifiers, ip.ntorOnionKey)]);
      const { body, state } = buildIntroduce1({ encKey: ip.encKey, authKey: ip.authKey, subcredential: d.subcredential }, cookie, rp);
      const mark = ic.mark();
      ic.sendCell(0, RelayCommand.INTRODUCE1, 0, body);
      const ack = await ic.waitCell((c) => c.cell.command === RelayCommand.INTRODUCE_ACK, timeoutMs, mark);
      ic.destroy();
      const status = ack ? parse(IntroduceAckSchema, ack.cell.data).status : undefined;
      if (status !== IntroduceAckStatus.SUCCESS) throw new Error(status === undefined ? "no INTRODUCE_ACK" : `INTRODUCE_ACK ${IntroduceAckStatus[status]}`);
      const r2 = await rc.waitCell((c) => c.cell.command === RelayCommand.RENDEZVOUS2, timeoutMs, since);
      if (!r2) throw new OnionConnectError("rendezvous", `no RENDEZVOUS2 after a successful introduction: ${rc.describeState()}`);
      let seed: Uint8Array;
      try {
        seed = clientFinish(state, parse(Rendezvous2Schema, r2.cell.data).handshakeInfo);
      } catch (e) {
        throw new OnionConnectError("handshake", (e as Error).message);
      }
      rc.addOnionHop(endToEndKeys(seed), "client");
      return rc;
    } catch (e) {
      if (e instanceof OnionConnectError) {
        rc.destroy();
        throw e;
      }
      errors.push((e as Error).message);
    }
  }
  rc.destroy();
  throw new OnionConnectError("introduce", `no intro point introduced us (${errors.join("; ")})`);
}
