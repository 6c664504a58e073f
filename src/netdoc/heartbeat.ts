/**
 * Heartbeats (directory.proto Heartbeat): signing one (relays), decoding it, checking its
 * signature and that sent_at lies within 60 s of the checker's clock (OUT_OF_RANGE). The
 * authority's replay and rate rules over a relay's recent heartbeats: directory/heartbeat-log.ts.
 */
import { randomBytes } from "node:crypto";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  HeartbeatBodySchema,
  HeartbeatRequestSchema,
  type HeartbeatRequest,
} from "../../gen/meowonion/v1/directory_pb.js";
import {
  DOMAIN_HEARTBEAT,
  ED25519_KEY_LEN,
  ED25519_SIGNATURE_LEN,
  signWithDomain,
  verifyWithDomain,
  type Ed25519KeyPair,
} from "../onion/signing.js";
import { hex } from "./descriptor.js";
import type { SignatureVerifier } from "./signature-verifier.js";

export const HEARTBEAT_WINDOW_MS = 60_000;
export const HEARTBEAT_NONCE_LEN = 16;
// A HeartbeatBody is about 70 bytes; anything much larger is not one.
const MAX_HEARTBEAT_BYTES = 256;

/** A decoded, not yet authenticated heartbeat. */
export interface DecodedHeartbeat {
  request: HeartbeatRequest;
  identityKey: Uint8Array;
  keyHex: string;
  sentAtMs: number;
  nonceHex: string;
}

/** A signed heartbeat for `identity`, sent now with a fresh random nonce unless given. */
export function signHeartbeat(
  identity: Ed25519KeyPair,
  options: { sentAtMs?: number; nonce?: Uint8Array } = {},
): HeartbeatRequest {
  const heartbeat = toBinary(
    HeartbeatBodySchema,
    create(HeartbeatBodySchema, {
      identityKey: identity.publicKey,
      sentAt: timestampFromMs(options.sentAtMs ?? Date.now()),
      nonce: options.nonce ?? randomBytes(HEARTBEAT_NONCE_LEN),
    }),
  );
  return create(HeartbeatRequestSchema, {
    heartbeat,
    signature: signWithDomain(DOMAIN_HEARTBEAT, heartbeat, identity.privateKey),
  });
}

function invalid(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

/** Decodes and checks field shapes (INVALID_ARGUMENT). The signature is checked separately. */
export function decodeHeartbeat(request: HeartbeatRequest): DecodedHeartbeat {
  if (request.heartbeat.length === 0) throw invalid("heartbeat is required");
  if (request.heartbeat.length > MAX_HEARTBEAT_BYTES) throw invalid(`heartbeat is ${request.heartbeat.length} bytes; at most ${MAX_HEARTBEAT_BYTES} are allowed`);
  if (request.signature.length !== ED25519_SIGNATURE_LEN) {
    throw invalid(`signature must be ${ED25519_SIGNATURE_LEN} bytes, got ${request.signature.length}`);
  }
  let body;
  try {
    body = fromBinary(HeartbeatBodySchema, request.heartbeat);
  } catch (err) {
    throw invalid(`heartbeat bytes do not decode as a HeartbeatBody: ${(err as Error).message}`);
  }
  if (body.identityKey.length !== ED25519_KEY_LEN) throw invalid(`identity_key must be ${ED25519_KEY_LEN} bytes, got ${body.identityKey.length}`);
  if (body.nonce.length !== HEARTBEAT_NONCE_LEN) throw invalid(`nonce must be ${HEARTBEAT_NONCE_LEN} bytes, got ${body.nonce.length}`);
  const sentAt = body.sentAt;
  if (sentAt === undefined) throw invalid("sent_at is required");
  if (sentAt.nanos < 0 || sentAt.nanos > 999_999_999) throw invalid("sent_at is not a valid timestamp");
  // Outside ±2^53 ms the number is meaningless; the window check refuses it anyway.
  const seconds = Number(sentAt.seconds);
  return {
    request: create(HeartbeatRequestSchema, { heartbeat: request.heartbeat, signature: request.signature }),
    identityKey: body.identityKey,
    keyHex: hex(body.identityKey),
    sentAtMs: seconds * 1000 + Math.floor(sentAt.nanos / 1e6),
    nonceHex: hex(body.nonce),
  };
}

export function verifyHeartbeatSignature(h: DecodedHeartbeat): void {
  if (!verifyWithDomain(DOMAIN_HEARTBEAT, h.request.heartbeat, h.request.signature, h.identityKey)) {
    throw badHeartbeatSignature();
  }
}

/** The same check on a SignatureVerifier (worker threads), for the authority's hot path. */
export async function verifyHeartbeatSignatureWith(h: DecodedHeartbeat, verifier: SignatureVerifier): Promise<void> {
  if (!(await verifier.verify(DOMAIN_HEARTBEAT, h.request.heartbeat, h.request.signature, h.identityKey))) {
    throw badHeartbeatSignature();
  }
}

function badHeartbeatSignature(): ConnectError {
  return new ConnectError("heartbeat signature does not verify against its identity_key", Code.Unauthenticated);
}

export function checkHeartbeatTime(h: DecodedHeartbeat, nowMs: number): void {
  const skew = h.sentAtMs - nowMs;
  if (!(Math.abs(skew) <= HEARTBEAT_WINDOW_MS)) {
    const when = Number.isFinite(h.sentAtMs) && Math.abs(h.sentAtMs) < 8.64e15 ? new Date(h.sentAtMs).toISOString() : "an unrepresentable time";
    throw new ConnectError(
      `sent_at ${when} is ${skew > 0 ? "ahead of" : "behind"} the authority's clock by more than 60 seconds`,
      Code.OutOfRange,
    );
  }
}
