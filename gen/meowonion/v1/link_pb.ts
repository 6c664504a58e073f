// MeowOnion link protocol: the frames that relays and clients exchange over TLS.
//
// TRANSPORT
//   A link is one TLS 1.3 connection over TCP. Certificates are self-signed and are NOT used
//   for authentication: identity comes from the LinkHello proof below. TCP_NODELAY is set on
//   both ends (cells are latency sensitive and writes are already coalesced by the sender).
//   TLS parameters: TLS 1.3 is required (a peer offering only older versions fails the TLS
//   handshake). Any TLS 1.3 cipher suite the two libraries agree on is fine; none is required
//   or forbidden. The initiator does not verify the certificate (any key type, any name) and
//   sends no SNI for an IP address; a responder ignores SNI. No ALPN is sent or required; a
//   responder ignores one that is offered. Client certificates are neither requested nor sent.
//   The TLS exporter (below) is REQUIRED: a TLS library without RFC 8446 section 7.5 exporters
//   cannot implement this protocol. Python's `ssl` module, .NET's SslStream and Java's JSSE
//   lack it; pyOpenSSL (Connection.export_keying_material), Go's crypto/tls
//   (ConnectionState.ExportKeyingMaterial), rustls, BouncyCastle, OpenSSL and Node's
//   tls.TLSSocket.exportKeyingMaterial have it.
//
// CLOSING
//   A link is closed by a TLS close (close_notify), then a TCP close (FIN); frames written
//   before still reach the peer. A peer MUST treat a TCP close without close_notify (a crash,
//   a reset, a TLS library that omits it) exactly as a close: the link is gone and its
//   circuits are destroyed with reason CHANNEL_CLOSED. A side that closed may reset the TCP
//   connection if the peer does not close its side within a few seconds.
//
// FRAMING
//   The byte stream in each direction is a sequence of frames. A frame is one `Frame` message
//   in protobuf binary encoding, preceded by its length as a protobuf varint (the
//   "size-delimited" format of protobuf's `writeDelimitedTo`, `@bufbuild/protobuf/wire`
//   `sizeDelimitedEncode`). The length counts the message bytes only, not the prefix.
//   MAX_FRAME_SIZE = 1024 bytes (message bytes). A receiver that reads a length above
//   MAX_FRAME_SIZE, a frame that does not decode, a frame whose `command` is unset or unknown,
//   or a frame that is not allowed in the link's current state closes the link at once
//   (see CLOSING) without answering; every circuit on it is then treated as
//   destroyed with reason CHANNEL_CLOSED. The event is logged once. A truncated frame (EOF in
//   the middle of a frame) is a protocol error too.
//
// LINK HANDSHAKE
//   1. The initiator (the side that opened the TCP connection) sends a Frame with
//      circuit_id 0 and `hello` set: the link versions it supports and, if it is a relay, its
//      identity proof. An anonymous client leaves identity_key and signature empty.
//   2. The responder checks the proof (if any), picks the highest version both support and
//      answers with its own `hello` (versions = [chosen version]) carrying its identity proof,
//      which is mandatory for a responder.
//   3. The initiator checks the responder's proof and that the identity key is the one it
//      expected (from the consensus, or the EXTEND2 request). On any failure it closes the link.
//   No other frame may be sent before the peer's hello has been received and checked; the only
//   allowed frames with circuit_id 0 afterwards are PADDING.
//
// IDENTITY PROOF
//   exporter = TLS exporter keying material (RFC 8446 section 7.5 / RFC 5705), 32 bytes,
//              label "EXPORTER-meowonion-link-v1", empty context
//              (in TLS 1.3 an empty context and no context give the same value).
//   signed   = "meowonion-link-auth-v1" | 0x00 | role | exporter
//              role = 0x01 for the responder's proof, 0x02 for the initiator's proof.
//   signature = Ed25519(identity secret key, signed)   (RFC 8032, 64 bytes)
//   Both ends of one TLS session compute the same exporter value, and a man in the middle
//   terminating TLS would see a different one, so the proof binds the identity to this link.
//
// CIRCUIT IDS
//   A circuit is named on each link by a 4-byte circuit id, chosen by the side that sends
//   CREATE2 on that link. It is nonzero and random. The side that opened the TCP connection
//   (the initiator) uses ids with the top bit (0x80000000) set; the responder uses ids with it
//   clear. An id already in use on the link is redrawn (give up after 64 tries). The pair
//   (link, circuit id) names one circuit hop; circuit id 0 is reserved for link-level frames.
//   A relay receiving RELAY, RELAY_EARLY, CREATED2 or DESTROY for a circuit id it does not know
//   ignores DESTROY and answers the others with DESTROY (reason PROTOCOL); a CREATE2 whose id
//   has the wrong top bit for the sender or is already in use gets DESTROY (reason PROTOCOL).
//
// CONSTANT SIZE
//   A RELAY or RELAY_EARLY frame is always exactly 519 bytes on the wire including its length
//   prefix: circuit_id (1-byte key + 4 bytes) + payload (1-byte key + 2-byte length + 509) =
//   517 message bytes, prefixed by the 2-byte varint 517. Observers of the TLS record sizes
//   therefore cannot tell relay frames apart by circuit, command or content length.

// @generated by protoc-gen-es v2.13.0 with parameter "target=ts,import_extension=js"
// @generated from file meowonion/v1/link.proto (package meowonion.v1, syntax proto3)
/* eslint-disable */

import type { GenEnum, GenFile, GenMessage } from "@bufbuild/protobuf/codegenv2";
import { enumDesc, fileDesc, messageDesc } from "@bufbuild/protobuf/codegenv2";
import type { Message } from "@bufbuild/protobuf";

/**
 * Describes the file meowonion/v1/link.proto.
 */
export const file_meowonion_v1_link: GenFile = /*@__PURE__*/
  fileDesc("ChdtZW93b25pb24vdjEvbGluay5wcm90bxIMbWVvd29uaW9uLnYxIqICCgVGcmFtZRISCgpjaXJjdWl0X2lkGAEgASgHEigKBWhlbGxvGAIgASgLMhcubWVvd29uaW9uLnYxLkxpbmtIZWxsb0gAEigKB3BhZGRpbmcYAyABKAsyFS5tZW93b25pb24udjEuUGFkZGluZ0gAEigKB2NyZWF0ZTIYBCABKAsyFS5tZW93b25pb24udjEuQ3JlYXRlMkgAEioKCGNyZWF0ZWQyGAUgASgLMhYubWVvd29uaW9uLnYxLkNyZWF0ZWQySAASDwoFcmVsYXkYBiABKAxIABIVCgtyZWxheV9lYXJseRgHIAEoDEgAEigKB2Rlc3Ryb3kYCCABKAsyFS5tZW93b25pb24udjEuRGVzdHJveUgAQgkKB2NvbW1hbmQiRgoJTGlua0hlbGxvEhAKCHZlcnNpb25zGAEgAygNEhQKDGlkZW50aXR5X2tleRgCIAEoDBIRCglzaWduYXR1cmUYAyABKAwiFwoHUGFkZGluZxIMCgRkYXRhGAEgASgMIlYKB0NyZWF0ZTISMwoOaGFuZHNoYWtlX3R5cGUYASABKA4yGy5tZW93b25pb24udjEuSGFuZHNoYWtlVHlwZRIWCg5oYW5kc2hha2VfZGF0YRgCIAEoDCIiCghDcmVhdGVkMhIWCg5oYW5kc2hha2VfZGF0YRgBIAEoDCI2CgdEZXN0cm95EisKBnJlYXNvbhgBIAEoDjIbLm1lb3dvbmlvbi52MS5EZXN0cm95UmVhc29uKkgKDUhhbmRzaGFrZVR5cGUSHgoaSEFORFNIQUtFX1RZUEVfVU5TUEVDSUZJRUQQABIXChNIQU5EU0hBS0VfVFlQRV9OVE9SEAIqpwMKDURlc3Ryb3lSZWFzb24SHgoaREVTVFJPWV9SRUFTT05fVU5TUEVDSUZJRUQQABIbChdERVNUUk9ZX1JFQVNPTl9QUk9UT0NPTBABEhsKF0RFU1RST1lfUkVBU09OX0lOVEVSTkFMEAISHAoYREVTVFJPWV9SRUFTT05fUkVRVUVTVEVEEAMSHgoaREVTVFJPWV9SRUFTT05fSElCRVJOQVRJTkcQBBIgChxERVNUUk9ZX1JFQVNPTl9SRVNPVVJDRUxJTUlUEAUSIAocREVTVFJPWV9SRUFTT05fQ09OTkVDVEZBSUxFRBAGEh4KGkRFU1RST1lfUkVBU09OX09SX0lERU5USVRZEAcSIQodREVTVFJPWV9SRUFTT05fQ0hBTk5FTF9DTE9TRUQQCBIbChdERVNUUk9ZX1JFQVNPTl9GSU5JU0hFRBAJEhoKFkRFU1RST1lfUkVBU09OX1RJTUVPVVQQChIcChhERVNUUk9ZX1JFQVNPTl9ERVNUUk9ZRUQQCxIgChxERVNUUk9ZX1JFQVNPTl9OT1NVQ0hTRVJWSUNFEAxiBnByb3RvMw");

/**
 * One link frame. Exactly one `command` is set.
 *
 * @generated from message meowonion.v1.Frame
 */
export type Frame = Message<"meowonion.v1.Frame"> & {
  /**
   * Circuit this frame belongs to; 0 for link-level frames (hello, padding). Encoded as
   * fixed32 so that every nonzero id takes the same 5 bytes on the wire.
   *
   * @generated from field: fixed32 circuit_id = 1;
   */
  circuitId: number;

  /**
   * @generated from oneof meowonion.v1.Frame.command
   */
  command: {
    /**
     * Link handshake, circuit_id 0, exactly once per direction, first frame of the link.
     *
     * @generated from field: meowonion.v1.LinkHello hello = 2;
     */
    value: LinkHello;
    case: "hello";
  } | {
    /**
     * Link padding, circuit_id 0, any time after the handshake; the receiver drops it.
     *
     * @generated from field: meowonion.v1.Padding padding = 3;
     */
    value: Padding;
    case: "padding";
  } | {
    /**
     * Create the first hop of a circuit (client → relay, or relay → relay when extending).
     *
     * @generated from field: meowonion.v1.Create2 create2 = 4;
     */
    value: Create2;
    case: "create2";
  } | {
    /**
     * Answer to CREATE2 (relay → the side that sent CREATE2).
     *
     * @generated from field: meowonion.v1.Created2 created2 = 5;
     */
    value: Created2;
    case: "created2";
  } | {
    /**
     * An onion-encrypted relay cell: exactly 509 bytes (RELAY_BODY_LEN). Any other length
     * closes the link. The plaintext layout is in relay.proto.
     *
     * @generated from field: bytes relay = 6;
     */
    value: Uint8Array;
    case: "relay";
  } | {
    /**
     * Same as `relay`, but counted: it may carry EXTEND2. A relay accepts at most 8
     * RELAY_EARLY frames per circuit in the outbound (away from the client) direction;
     * the 9th destroys the circuit with reason PROTOCOL. Clients send the cells that carry
     * EXTEND2 as RELAY_EARLY. Inbound RELAY_EARLY is a protocol error (DESTROY PROTOCOL).
     *
     * @generated from field: bytes relay_early = 7;
     */
    value: Uint8Array;
    case: "relayEarly";
  } | {
    /**
     * Tear the circuit down. Sent both ways; a relay receiving it forwards DESTROY to the
     * other side of the circuit with reason DESTROYED (the original reason is only given to
     * the adjacent hop), then frees all state of the circuit.
     *
     * @generated from field: meowonion.v1.Destroy destroy = 8;
     */
    value: Destroy;
    case: "destroy";
  } | { case: undefined; value?: undefined };
};

/**
 * Describes the message meowonion.v1.Frame.
 * Use `create(FrameSchema)` to create a new message.
 */
export const FrameSchema: GenMessage<Frame> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_link, 0);

/**
 * The link handshake message (see IDENTITY PROOF above).
 *
 * @generated from message meowonion.v1.LinkHello
 */
export type LinkHello = Message<"meowonion.v1.LinkHello"> & {
  /**
   * Link protocol versions the sender supports (initiator) or the one chosen (responder).
   * This specification is version 1. A responder that shares no version with the initiator
   * closes the link. At most 8 entries.
   *
   * @generated from field: repeated uint32 versions = 1;
   */
  versions: number[];

  /**
   * Sender's Ed25519 identity public key, 32 bytes. Mandatory for a responder; set by an
   * initiating relay; empty for an anonymous client.
   *
   * @generated from field: bytes identity_key = 2;
   */
  identityKey: Uint8Array;

  /**
   * Ed25519 signature over the signed string of the IDENTITY PROOF, 64 bytes; empty if and
   * only if identity_key is empty. A bad signature closes the link.
   *
   * @generated from field: bytes signature = 3;
   */
  signature: Uint8Array;
};

/**
 * Describes the message meowonion.v1.LinkHello.
 * Use `create(LinkHelloSchema)` to create a new message.
 */
export const LinkHelloSchema: GenMessage<LinkHello> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_link, 1);

/**
 * Link padding. Its content is ignored; at most 509 bytes.
 *
 * @generated from message meowonion.v1.Padding
 */
export type Padding = Message<"meowonion.v1.Padding"> & {
  /**
   * @generated from field: bytes data = 1;
   */
  data: Uint8Array;
};

/**
 * Describes the message meowonion.v1.Padding.
 * Use `create(PaddingSchema)` to create a new message.
 */
export const PaddingSchema: GenMessage<Padding> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_link, 2);

/**
 * Create a circuit hop. circuit_id is the new circuit's id on this link (allocation rule above).
 *
 * @generated from message meowonion.v1.Create2
 */
export type Create2 = Message<"meowonion.v1.Create2"> & {
  /**
   * Which handshake handshake_data belongs to. Unknown types get DESTROY (PROTOCOL).
   *
   * @generated from field: meowonion.v1.HandshakeType handshake_type = 1;
   */
  handshakeType: HandshakeType;

  /**
   * Client handshake message; for NTOR exactly 84 bytes, otherwise DESTROY (PROTOCOL).
   * A handshake that fails (unknown ID or onion key, all-zero Diffie-Hellman result) gets
   * DESTROY with reason PROTOCOL.
   *
   * @generated from field: bytes handshake_data = 2;
   */
  handshakeData: Uint8Array;
};

/**
 * Describes the message meowonion.v1.Create2.
 * Use `create(Create2Schema)` to create a new message.
 */
export const Create2Schema: GenMessage<Create2> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_link, 3);

/**
 * Successful reply to CREATE2: the server handshake message (NTOR: 64 bytes Y | AUTH). The
 * client checks AUTH; on failure it destroys the circuit with reason PROTOCOL.
 *
 * @generated from message meowonion.v1.Created2
 */
export type Created2 = Message<"meowonion.v1.Created2"> & {
  /**
   * @generated from field: bytes handshake_data = 1;
   */
  handshakeData: Uint8Array;
};

/**
 * Describes the message meowonion.v1.Created2.
 * Use `create(Created2Schema)` to create a new message.
 */
export const Created2Schema: GenMessage<Created2> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_link, 4);

/**
 * Destroy a circuit.
 *
 * @generated from message meowonion.v1.Destroy
 */
export type Destroy = Message<"meowonion.v1.Destroy"> & {
  /**
   * @generated from field: meowonion.v1.DestroyReason reason = 1;
   */
  reason: DestroyReason;
};

/**
 * Describes the message meowonion.v1.Destroy.
 * Use `create(DestroySchema)` to create a new message.
 */
export const DestroySchema: GenMessage<Destroy> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_link, 5);

/**
 * Handshake types for CREATE2/EXTEND2. Numbers follow Tor's.
 *
 * @generated from enum meowonion.v1.HandshakeType
 */
export enum HandshakeType {
  /**
   * @generated from enum value: HANDSHAKE_TYPE_UNSPECIFIED = 0;
   */
  UNSPECIFIED = 0,

  /**
   * ntor (Tor's tor-spec 5.1.4, proposal 216), complete here:
   *   Client → relay, handshake_data = ID(20) | B(32) | X(32) = 84 bytes:
   *     ID = the relay id: the first 20 bytes of SHA-256(Ed25519 identity key of the relay);
   *     B  = the relay's current (or previous, during the rotation grace period) ntor onion
   *          key from its descriptor, an X25519 public key;
   *     X  = the client's fresh X25519 ephemeral public key (secret x).
   *   Relay → client, handshake_data = Y(32) | AUTH(32) = 64 bytes (Y: the relay's fresh
   *   ephemeral public key, secret y). With EXP(P, s) = X25519(s, P) (RFC 7748, 32 bytes) and
   *   H(m, t) = HMAC-SHA256(key = t, message = m):
   *     PROTOID  = "ntor-curve25519-sha256-1"          (ASCII, no terminator)
   *     t_mac    = PROTOID | ":mac"
   *     t_key    = PROTOID | ":key_extract"
   *     t_verify = PROTOID | ":verify"
   *     m_expand = PROTOID | ":key_expand"
   *     secret_input = EXP(X, y) | EXP(X, b) | ID | B | X | Y | PROTOID   (the relay's view)
   *                  = EXP(Y, x) | EXP(B, x) | ID | B | X | Y | PROTOID   (the client's view)
   *     verify     = H(secret_input, t_verify)
   *     auth_input = verify | ID | B | Y | X | PROTOID | "Server"
   *     AUTH       = H(auth_input, t_mac)
   *     key material = HKDF-SHA256 (RFC 5869) with salt = t_key, IKM = secret_input,
   *                    info = m_expand, L = 92 bytes
   *                  = Df(20) | Db(20) | Kf(16) | Kb(16) | nonce(20)   (used: relay.proto)
   *   (Tor writes the extract step as KEY_SEED = H(secret_input, t_key): the same PRK.)
   *   The relay refuses (DESTROY PROTOCOL) an ID that is not its own, a B it does not hold,
   *   and an all-zero EXP result (X of low order). The client compares AUTH in constant time
   *   and refuses an all-zero EXP result likewise. Test vector: conformance/vectors/ntor-v1.json.
   *
   * @generated from enum value: HANDSHAKE_TYPE_NTOR = 2;
   */
  NTOR = 2,
}

/**
 * Describes the enum meowonion.v1.HandshakeType.
 */
export const HandshakeTypeSchema: GenEnum<HandshakeType> = /*@__PURE__*/
  enumDesc(file_meowonion_v1_link, 0);

/**
 * Why a circuit was destroyed. Numbers follow Tor's DESTROY reasons (tor-spec 5.4).
 *
 * @generated from enum meowonion.v1.DestroyReason
 */
export enum DestroyReason {
  /**
   * No reason given (Tor's NONE).
   *
   * @generated from enum value: DESTROY_REASON_UNSPECIFIED = 0;
   */
  UNSPECIFIED = 0,

  /**
   * Protocol violation: bad frame for the state, handshake failure, unrecognized cell,
   * RELAY_EARLY limit exceeded, window overflow.
   *
   * @generated from enum value: DESTROY_REASON_PROTOCOL = 1;
   */
  PROTOCOL = 1,

  /**
   * Internal error.
   *
   * @generated from enum value: DESTROY_REASON_INTERNAL = 2;
   */
  INTERNAL = 2,

  /**
   * Closed on an explicit request: a TRUNCATE, or the user or controller of the originator
   * asking to close this circuit (ControlService CloseCircuit, shutting the client down).
   *
   * @generated from enum value: DESTROY_REASON_REQUESTED = 3;
   */
  REQUESTED = 3,

  /**
   * The relay is shutting down or hibernating.
   *
   * @generated from enum value: DESTROY_REASON_HIBERNATING = 4;
   */
  HIBERNATING = 4,

  /**
   * Out of memory, too many circuits, queue limits, rate limits.
   *
   * @generated from enum value: DESTROY_REASON_RESOURCELIMIT = 5;
   */
  RESOURCELIMIT = 5,

  /**
   * Could not connect to the next hop when extending.
   *
   * @generated from enum value: DESTROY_REASON_CONNECTFAILED = 6;
   */
  CONNECTFAILED = 6,

  /**
   * The next hop's identity proof did not match the identity in EXTEND2.
   *
   * @generated from enum value: DESTROY_REASON_OR_IDENTITY = 7;
   */
  OR_IDENTITY = 7,

  /**
   * The link carrying the circuit closed.
   *
   * @generated from enum value: DESTROY_REASON_CHANNEL_CLOSED = 8;
   */
  CHANNEL_CLOSED = 8,

  /**
   * The originator closed its circuit on its own because it is done with it: it expired (max
   * dirtiness), sat idle, or its last stream ended. A client closing its own circuit sends
   * FINISHED, or REQUESTED when someone asked for that close; relays treat both alike (they
   * only forward DESTROYED). Open streams need no END first: DESTROY ends them all. A client
   * need not answer an exit's END DONE with its own END DONE before a DESTROY (it may, to
   * free the stream id on a circuit it keeps).
   *
   * @generated from enum value: DESTROY_REASON_FINISHED = 9;
   */
  FINISHED = 9,

  /**
   * A circuit build or a handshake timed out.
   *
   * @generated from enum value: DESTROY_REASON_TIMEOUT = 10;
   */
  TIMEOUT = 10,

  /**
   * Sent by a relay forwarding a DESTROY it received from the other side.
   *
   * @generated from enum value: DESTROY_REASON_DESTROYED = 11;
   */
  DESTROYED = 11,

  /**
   * Unused here (Tor: no such onion service).
   *
   * @generated from enum value: DESTROY_REASON_NOSUCHSERVICE = 12;
   */
  NOSUCHSERVICE = 12,
}

/**
 * Describes the enum meowonion.v1.DestroyReason.
 */
export const DestroyReasonSchema: GenEnum<DestroyReason> = /*@__PURE__*/
  enumDesc(file_meowonion_v1_link, 1);

