/**
 * Relay cell plaintext codec (proto/meowonion/v1/relay.proto, RELAY CELL BODY): Tor's 11-byte
 * header, then DATA bytes or a protobuf-encoded body, then padding (4 zero bytes, then random).
 * The digest field is left zero here; relay crypto fills it in.
 */
import { randomFillSync } from "node:crypto";
import { type DescMessage, type MessageInitShape, type MessageShape, create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  EstablishIntroSchema,
  EstablishRendezvousSchema,
  Introduce1Schema,
  IntroduceAckSchema,
  IntroEstablishedSchema,
  Rendezvous1Schema,
  Rendezvous2Schema,
  RendezvousEstablishedSchema,
} from "../../gen/meowonion/v1/onion_service_pb.js";
import {
  BeginDirSchema,
  BeginSchema,
  CongestionControlRequestSchema,
  CongestionControlResponseSchema,
  ConnectedSchema,
  DropSchema,
  EndSchema,
  Extend2Schema,
  Extended2Schema,
  RelayCommand,
  ResolveSchema,
  ResolvedSchema,
  SendmeSchema,
  TruncateSchema,
  TruncatedSchema,
  XoffSchema,
  XonSchema,
} from "../../gen/meowonion/v1/relay_pb.js";
import { OnionError } from "./errors.js";
import { RELAY_BODY_LEN } from "./frame.js";

/** Relay body: command 1 | recognized 2 | stream id 2 | digest 4 | length 2 | data 498 (then padding). */
export const RELAY_COMMAND_OFFSET = 0;
export const RELAY_RECOGNIZED_OFFSET = 1;
export const RELAY_STREAM_ID_OFFSET = 3;
export const RELAY_DIGEST_OFFSET = 5;
export const RELAY_DIGEST_LEN = 4;
export const RELAY_LENGTH_OFFSET = 9;
export const RELAY_DATA_OFFSET = 11;
export const RELAY_DATA_MAX = 498;

const ZERO_PADDING = 4;
/**
 * Padding bytes come from a pool of CSPRNG output refilled 64 KiB at a time: a randomFillSync
 * call costs about the same whatever its size, more than the rest of a SENDME's encoding.
 */
const RANDOM_POOL_BYTES = 64 * 1024;
const randomPool = new Uint8Array(RANDOM_POOL_BYTES);
let randomPoolUsed = RANDOM_POOL_BYTES;

/** Fill body[from..RELAY_BODY_LEN) with fresh random bytes (each pool byte is used once). */
function fillRandom(body: Uint8Array, from: number): void {
  const n = RELAY_BODY_LEN - from;
  if (randomPoolUsed + n > RANDOM_POOL_BYTES) {
    randomFillSync(randomPool);
    randomPoolUsed = 0;
  }
  body.set(randomPool.subarray(randomPoolUsed, randomPoolUsed + n), from);
  randomPoolUsed += n;
}

const bodySchemas = {
  [RelayCommand.BEGIN]: BeginSchema,
  [RelayCommand.END]: EndSchema,
  [RelayCommand.CONNECTED]: ConnectedSchema,
  [RelayCommand.SENDME]: SendmeSchema,
  [RelayCommand.TRUNCATE]: TruncateSchema,
  [RelayCommand.TRUNCATED]: TruncatedSchema,
  [RelayCommand.DROP]: DropSchema,
  [RelayCommand.RESOLVE]: ResolveSchema,
  [RelayCommand.RESOLVED]: ResolvedSchema,
  [RelayCommand.EXTEND2]: Extend2Schema,
  [RelayCommand.EXTENDED2]: Extended2Schema,
  [RelayCommand.XOFF]: XoffSchema,
  [RelayCommand.XON]: XonSchema,
  [RelayCommand.CONGESTION_CONTROL_REQUEST]: CongestionControlRequestSchema,
  [RelayCommand.CONGESTION_CONTROL_RESPONSE]: CongestionControlResponseSchema,
  [RelayCommand.BEGIN_DIR]: BeginDirSchema,
  [RelayCommand.ESTABLISH_INTRO]: EstablishIntroSchema,
  [RelayCommand.ESTABLISH_RENDEZVOUS]: EstablishRendezvousSchema,
  [RelayCommand.INTRODUCE1]: Introduce1Schema,
  [RelayCommand.INTRODUCE2]: Introduce1Schema,
  [RelayCommand.RENDEZVOUS1]: Rendezvous1Schema,
  [RelayCommand.RENDEZVOUS2]: Rendezvous2Schema,
  [RelayCommand.INTRO_ESTABLISHED]: IntroEstablishedSchema,
  [RelayCommand.RENDEZVOUS_ESTABLISHED]: RendezvousEstablishedSchema,
  [RelayCommand.INTRODUCE_ACK]: IntroduceAckSchema,
} as const satisfies Partial<Record<RelayCommand, DescMessage>>;

type BodyCommand = keyof typeof bodySchemas;

/** A decoded relay message: DATA with raw bytes, or a command with its protobuf body. */
export type RelayMessage =
  | { command: RelayCommand.DATA; streamId: number; data: Uint8Array }
  | { [C in BodyCommand]: { command: C; streamId: number; body: MessageShape<(typeof bodySchemas)[C]> } }[BodyCommand];

/** What to encode: like RelayMessage, but bodies may be given as init objects. */
export type RelayMessageInit =
  | { command: RelayCommand.DATA; streamId: number; data: Uint8Array }
  | { [C in BodyCommand]: { command: C; streamId: number; body: MessageInitShape<(typeof bodySchemas)[C]> } }[BodyCommand];

function isBodyCommand(command: number): command is BodyCommand {
  return Object.hasOwn(bodySchemas, command);
}

/**
 * Lay out a relay cell: header (recognized and digest zero), `data`, padding.
 * Writes into `out` (509 bytes) if given.
 */
export function encodeRelayCell(command: RelayCommand, streamId: number, data: Uint8Array, out?: Uint8Array): Uint8Array {
  if (data.length > RELAY_DATA_MAX) {
    throw new OnionError("cell-malformed", `relay data of ${data.length} bytes exceeds ${RELAY_DATA_MAX}`);
  }
  if (!Number.isInteger(streamId) || streamId < 0 || streamId > 0xffff) {
    throw new OnionError("cell-malformed", `stream id ${streamId} out of range`);
  }
  const body = out ?? new Uint8Array(RELAY_BODY_LEN);
  body[0] = command;
  body[RELAY_RECOGNIZED_OFFSET] = 0;
  body[RELAY_RECOGNIZED_OFFSET + 1] = 0;
  body[RELAY_STREAM_ID_OFFSET] = streamId >>> 8;
  body[RELAY_STREAM_ID_OFFSET + 1] = streamId & 0xff;
  body.fill(0, RELAY_STREAM_ID_OFFSET + 2, RELAY_LENGTH_OFFSET);
  body[RELAY_LENGTH_OFFSET] = data.length >>> 8;
  body[RELAY_LENGTH_OFFSET + 1] = data.length & 0xff;
  body.set(data, RELAY_DATA_OFFSET);
  const paddingStart = RELAY_DATA_OFFSET + data.length;
  const randomStart = Math.min(RELAY_BODY_LEN, paddingStart + ZERO_PADDING);
  body.fill(0, paddingStart, randomStart);
  if (randomStart < RELAY_BODY_LEN) fillRandom(body, randomStart);
  return body;
}

/** Encode a relay message into a 509-byte plaintext cell. */
export function encodeRelayMessage(message: RelayMessageInit, out?: Uint8Array): Uint8Array {
  if (message.command === RelayCommand.DATA) {
    if (message.data.length === 0) throw new OnionError("cell-malformed", "DATA cells carry at least one byte");
    return encodeRelayCell(RelayCommand.DATA, message.streamId, message.data, out);
  }
  const schema = bodySchemas[message.command] as DescMessage;
  const bytes = toBinary(schema, create(schema, message.body as never));
  return encodeRelayCell(message.command, message.streamId, bytes, out);
}

/** Header fields of a plaintext relay cell; `data` is a view into `body`. */
export interface RelayCellView {
  command: number;
  streamId: number;
  data: Uint8Array;
}

/** Read the header of a recognized plaintext cell, checking the length field. */
export function readRelayCell(body: Uint8Array): RelayCellView {
  if (body.length !== RELAY_BODY_LEN) {
    throw new OnionError("cell-malformed", `relay cell must be ${RELAY_BODY_LEN} bytes, got ${body.length}`);
  }
  const length = (body[RELAY_LENGTH_OFFSET] << 8) | body[RELAY_LENGTH_OFFSET + 1];
  if (length > RELAY_DATA_MAX) {
    throw new OnionError("cell-malformed", `relay length field ${length} exceeds ${RELAY_DATA_MAX}`);
  }
  return {
    command: body[0],
    streamId: (body[RELAY_STREAM_ID_OFFSET] << 8) | body[RELAY_STREAM_ID_OFFSET + 1],
    data: body.subarray(RELAY_DATA_OFFSET, RELAY_DATA_OFFSET + length),
  };
}

/** Decode a recognized plaintext cell into a typed message. DATA bytes are copied. */
export function decodeRelayMessage(body: Uint8Array): RelayMessage {
  const cell = readRelayCell(body);
  if (cell.command === RelayCommand.DATA) {
    if (cell.data.length === 0) throw new OnionError("cell-malformed", "empty DATA cell");
    return { command: RelayCommand.DATA, streamId: cell.streamId, data: Uint8Array.from(cell.data) };
  }
  if (!isBodyCommand(cell.command)) {
    throw new OnionError("cell-malformed", `unknown relay command ${cell.command}`);
  }
  const schema = bodySchemas[cell.command] as DescMessage;
  try {
    return { command: cell.command, streamId: cell.streamId, body: fromBinary(schema, cell.data) } as RelayMessage;
  } catch (cause) {
    throw new OnionError("body-malformed", `${RelayCommand[cell.command]} body does not decode`, { cause });
  }
}
