/**
 * HSDirs as seen by onion-service clients and services (onion_service.proto HSDIRS AND THE
 * RING): the rings of a consensus's current and previous time periods, and one request over a
 * BEGIN_DIR stream of a circuit that ends at the HSDir.
 */
import { create, fromBinary } from "@bufbuild/protobuf";
import { sizeDelimitedEncode, sizeDelimitedPeek } from "@bufbuild/protobuf/wire";
import { type Consensus, type ConsensusRelay, RelayFlag } from "../../../gen/meowonion/v1/consensus_pb.js";
import { type HsDirRequest, HsDirRequestSchema, type HsDirResponse, HsDirResponseSchema } from "../../../gen/meowonion/v1/onion_service_pb.js";
import { MAX_HS_DIR_MESSAGE_BYTES } from "../../netdoc/onion-descriptor.js";
import { MeowOnionError, OnionError } from "../../onion/errors.js";
import { HsDirRing } from "../../onion/hs/hsdir-ring.js";
import type { TimePeriodId } from "../../onion/hs/time-period.js";
import type { ClientCircuit } from "../circuit.js";
import { hasFlag, isUsable } from "../path.js";

const SRV_LEN = 32;

/** The HSDirs of one time period. */
export interface PeriodRing {
  period: TimePeriodId;
  ring: HsDirRing<ConsensusRelay>;
}

/**
 * The rings of the consensus's period (its shared random value's) and of the one before, when
 * the consensus has that period's value. Throws no-consensus for a consensus without shared
 * randomness (onion services cannot be placed by it).
 */
export function hsDirRings(consensus: Consensus): { current: PeriodRing; previous: PeriodRing | undefined } {
  const shared = consensus.sharedRandom;
  const lengthMinutes = consensus.onionServiceParams?.periodLengthMinutes ?? 0;
  if (shared === undefined || shared.current.length !== SRV_LEN || lengthMinutes === 0) {
    throw new MeowOnionError("no-consensus", "the consensus has no shared random value or onion-service periods");
  }
  const hsDirs = consensus.relays.filter((r) => isUsable(r) && hasFlag(r, RelayFlag.HSDIR));
  const ring = (number: number, srv: Uint8Array): PeriodRing => {
    const period = { number, lengthMinutes };
    return { period, ring: new HsDirRing(hsDirs, (r) => r.identityKey, srv, period) };
  };
  const number = Number(shared.period);
  return {
    current: ring(number, shared.current),
    previous: shared.previous.length === SRV_LEN ? ring(number - 1, shared.previous) : undefined,
  };
}

/**
 * One HsDirRequest over a BEGIN_DIR stream on `circuit` (whose last hop is the HSDir), and its
 * response. Rejects with the stream's error, a timeout, or protocol-violation for a response
 * that is too large or does not decode.
 */
export async function hsDirRequest(circuit: ClientCircuit, request: HsDirRequest, timeoutMs: number): Promise<HsDirResponse> {
  const signal = AbortSignal.timeout(timeoutMs);
  const stream = await circuit.openDirectoryStream({ timeoutMs });
  const onAbort = () => stream.destroy(new MeowOnionError("timeout", `no HSDir response within ${timeoutMs} ms`));
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    stream.end(sizeDelimitedEncode(HsDirRequestSchema, request));
    const chunks: Buffer[] = [];
    let received = 0;
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      received += chunk.length;
      if (received > MAX_HS_DIR_MESSAGE_BYTES + 4) throw new OnionError("frame-too-large", `an HSDir response above ${MAX_HS_DIR_MESSAGE_BYTES} bytes`);
      chunks.push(chunk);
    }
    const bytes = Buffer.concat(chunks);
    const peek = sizeDelimitedPeek(bytes);
    if (peek.eof || bytes.length !== peek.offset + peek.size) throw new OnionError("frame-truncated", "the HSDir's response is incomplete");
    try {
      return fromBinary(HsDirResponseSchema, bytes.subarray(peek.offset));
    } catch (cause) {
      throw new OnionError("body-malformed", "the HSDir's response does not decode", { cause });
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
    stream.destroy();
  }
}

export const fetchRequest = (blindedKey: Uint8Array): HsDirRequest => create(HsDirRequestSchema, { request: { case: "fetchBlindedKey", value: blindedKey } });
