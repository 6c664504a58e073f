/**
 * Talking to an HSDir over a circuit whose last hop it is (onion_service.proto HsDirRequest;
 * relay.proto BEGIN_DIR): BEGIN_DIR, CONNECTED, one size-delimited request, one size-delimited
 * response, END DONE.
 */
import { type MessageInitShape, create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { type HsDirResponse, HsDirRequestSchema, HsDirResponseSchema } from "../../gen/meowonion/v1/onion_service_pb.js";
import { EndReason, RelayCommand } from "../../gen/meowonion/v1/relay_pb.js";
import { concat } from "./bytes.js";
import { type ClientCircuit, ClientStream } from "./circuit.js";
import { varint } from "./frame.js";

export const MAX_DIR_MESSAGE_BYTES = 20 * 1024;

export type DirOutcome =
  | { kind: "response"; response: HsDirResponse }
  /** END instead of CONNECTED (e.g. NOTDIRECTORY). */
  | { kind: "refused"; reason: EndReason }
  | { kind: "failed"; why: string };

/** A varint-prefixed message at the start of `buf`, if complete. */
function delimited(buf: Uint8Array): Uint8Array | undefined {
  let len = 0;
  for (let i = 0; i < Math.min(buf.length, 5); i++) {
    len += (buf[i] & 0x7f) * 2 ** (7 * i);
    if ((buf[i] & 0x80) === 0) return buf.length >= i + 1 + len ? buf.subarray(i + 1, i + 1 + len) : undefined;
  }
  return undefined;
}

/** Open a BEGIN_DIR stream to the circuit's last hop. */
export function beginDir(c: ClientCircuit): ClientStream {
  const s = new ClientStream(c, c.allocStreamId(), c.lastHop);
  c.streams.set(s.id, s);
  c.sendCell(s.hop, RelayCommand.BEGIN_DIR, s.id, new Uint8Array(0));
  return s;
}

/** One request on a fresh directory stream at the circuit's last hop. */
export async function hsDirRequest(c: ClientCircuit, request: MessageInitShape<typeof HsDirRequestSchema>, timeoutMs: number): Promise<DirOutcome> {
  const s = beginDir(c);
  if (!(await s.waitConnected(timeoutMs))) {
    if (s.ended) return { kind: "refused", reason: s.endReason ?? EndReason.UNSPECIFIED };
    return { kind: "failed", why: `no CONNECTED for BEGIN_DIR: ${c.describeState()}` };
  }
  const bytes = toBinary(HsDirRequestSchema, create(HsDirRequestSchema, request));
  await s.write(concat(varint(bytes.length), bytes), timeoutMs);
  const end = Date.now() + timeoutMs;
  let message: Uint8Array | undefined;
  while (!(message = delimited(s.received())) && Date.now() < end && !s.ended && !c.destroyed) await s.waitBytes(s.bytesReceived + 1, end - Date.now());
  message ??= delimited(s.received());
  if (!message) return { kind: "failed", why: `no complete HsDirResponse (${s.bytesReceived} bytes, stream ${s.ended ? `ended (${EndReason[s.endReason!]})` : "open"}; ${c.describeState()})` };
  if (!c.destroyed) s.end(EndReason.DONE);
  try {
    return { kind: "response", response: fromBinary(HsDirResponseSchema, message) };
  } catch (e) {
    return { kind: "failed", why: `the HsDirResponse does not decode: ${(e as Error).message}` };
  }
}
