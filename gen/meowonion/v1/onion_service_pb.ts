// MeowOnion onion services: reach a service by name without either side learning where the
// other is. Tor's v3 design (rend-spec-v3) with protobuf messages in place of trunnel layouts;
// the cryptography is Tor's, byte for byte (test vectors: conformance/vectors/hs-v3.json).
//
// NOTATION
//   H = SHA3-256; KDF(x, n) = the first n bytes of SHAKE-256(x); MAC(k, m) = H(INT_8(len k) |
//   k | m); INT_8(n) = 8-byte big-endian; "text" = its ASCII bytes; | = concatenation.
//
// KEYS AND ADDRESS
//   A service has a long-term Ed25519 identity key A (stored as its 32-byte seed). Its address
//   is base32(A | CHECKSUM | VERSION), lower case, 56 characters, CHECKSUM = H(".onion checksum"
//   | A | VERSION)[0:2], VERSION = 0x03 (Tor's rule), written with the suffix ".meow":
//   `<56 characters>.meow`. A client refuses a name whose length, base32, checksum or version is
//   wrong before building anything. Names ending in ".onion" belong to Tor's network (RFC 7686):
//   a MeowOnion client refuses them.
//
// TIME PERIODS
//   period_num = floor((unix_minutes - rotation_offset) / period_length), from the consensus's
//   `onion_service_params` (Tor: 1440 and 720 minutes; test networks shorter). A period's
//   blinded key (below) and HSDir positions change with the period.
//
// BLINDED KEY AND SUBCREDENTIAL (rend-spec-v3 A.2)
//   h = H("Derive temporary signing key" | INT_1(0) | A | s | B | N), s empty, B the ASCII
//   text of the Ed25519 base point "(15112221349535400772501151409588531511454012693041857206046113283949847762202, 46316835694926478169428394003475163141307993866256225615783033603165251855960)",
//   N = "key-blind" | INT_8(period_num) | INT_8(period_length); h clamped (h[0] &= 248,
//   h[31] &= 63, h[31] |= 64); A' = h·A. The service signs with the blinded secret: a' = h·a
//   mod l (a from the expanded seed), RH' = SHA-512("Derive temporary signing key hash input"
//   | RH)[0:32], as Ed25519 with the expanded key (a', RH'); anyone verifies with A'.
//   N_hs_cred = H("credential" | A); N_hs_subcred = H("subcredential" | N_hs_cred | A').
//   Only who knows A (the address) can compute A' and the subcredential.
//
// HSDIRS AND THE RING (rend-spec-v3 2.2)
//   Relays with the HSDIR flag (consensus.proto) store descriptors. For a period with shared
//   random value SRV (the consensus's `shared_random`):
//     hsdir_index(relay) = H("node-idx" | identity_key | SRV | INT_8(period_num) |
//                            INT_8(period_length))
//     hs_index(replica) = H("store-at-idx" | A' | INT_8(replica) | INT_8(period_length) |
//                           INT_8(period_num))
//   For replica = 1..2, walk the HSDIR relays sorted by hsdir_index (bytewise), starting at the
//   first index after hs_index (wrapping), and take the next `spread` relays not already taken:
//   spread = 4 to store, 3 to fetch. Services upload to all of them; clients try the fetch set
//   in random order. Both talk to an HSDir only over a circuit whose last hop it is, with
//   BEGIN_DIR (relay.proto), never directly: an HSDir does not learn who stores or fetches,
//   and a directory authority never sees descriptors.
//   Which period: the one of the consensus's shared_random.current (its `period`). A service
//   also keeps its descriptor uploaded for the previous period (shared_random.previous) while
//   its consensus is in the first 3 hours (or the first half, for shorter periods) of a period,
//   so that clients that still hold an older consensus find it; a client that fails with the
//   current period tries the previous one.
//
// DESCRIPTOR (SignedOnionDescriptor below)
//   Signed by A'; the intro points are encrypted in two layers (rend-spec-v3 2.5.3), each:
//     secret_input = A' | N_hs_subcred | INT_8(revision_counter)
//     keys = KDF(secret_input | salt | STRING_CONSTANT, 80) = SECRET_KEY (32, AES-256-CTR key) |
//            SECRET_IV (16, the CTR IV) | MAC_KEY (32)
//     layer = salt (16 random bytes) | AES-256-CTR(plaintext) | MAC(MAC_KEY, salt | ciphertext)
//             with MAC here = H(INT_8(32) | MAC_KEY | INT_8(16) | salt | ciphertext)
//   STRING_CONSTANT "hsdir-superencrypted-data" for the outer layer (its plaintext is a
//   serialized OnionDescriptorOuter), "hsdir-encrypted-data" for the inner one (a serialized
//   OnionDescriptorInner). A MAC that does not check, or a plaintext that does not decode:
//   the descriptor is invalid. An HSDir checks the signature and the sizes, never the layers.
//
// INTRODUCTION AND RENDEZVOUS (rend-spec-v3 3 and 4)
//   Introduction and rendezvous points are relays listing RELAY_FEATURE_ONION_SERVICE_POINTS
//   (descriptor.proto); a relay without it may refuse these messages.
//   1. The service keeps 3 introduction points: for each, a circuit whose last hop is the intro
//      point relay, an Ed25519 auth key (KP_hs_ipt_sid) and an X25519 key B (KP_hss_ntor); it
//      sends ESTABLISH_INTRO and waits for INTRO_ESTABLISHED. It lists them in its descriptor.
//   2. A client fetches the descriptor, picks a rendezvous point (any such relay), builds a
//      circuit to it and sends ESTABLISH_RENDEZVOUS with a fresh 20-byte cookie; the point
//      answers RENDEZVOUS_ESTABLISHED.
//   3. The client builds a circuit to an intro point and sends INTRODUCE1 (hs-ntor, below); the
//      intro point relays it to the service as INTRODUCE2 on the service's intro circuit and
//      answers the client INTRODUCE_ACK.
//   4. The service checks INTRODUCE2, builds a circuit to the rendezvous point and sends
//      RENDEZVOUS1 (the cookie and its half of hs-ntor); the point joins the two circuits and
//      sends RENDEZVOUS2 to the client. From then on the point passes every relay cell it does
//      not recognize on either circuit into the other, towards that one's originator (adding
//      that circuit's backward layer, as for any cell it sends back), and a DESTROY of either
//      circuit, or the loss of its link, destroys the other.
//   5. Both derive the end-to-end keys and add one hop to the circuit: the client's circuit
//      gains the service as its last hop, and the service's circuit gains the client. From then
//      on BEGIN/DATA/END/SENDME flow over it as over any circuit, with the port of BEGIN the
//      service's virtual port and the host of BEGIN empty (ignored).
//
// HS-NTOR (rend-spec-v3 3.3, "NTOR-WITH-EXTRA-DATA"; PROTOID =
//   "tor-hs-ntor-curve25519-sha3-256-1", t_hsenc = PROTOID | ":hs_key_extract", t_hsverify =
//   PROTOID | ":hs_verify", t_hsmac = PROTOID | ":hs_mac", m_hsexpand = PROTOID | ":hs_key_expand")
//   Client (x, X fresh): intro_secret_hs_input = EXP(B,x) | AUTH_KEY | X | B | PROTOID;
//     hs_keys = KDF(intro_secret_hs_input | t_hsenc | m_hsexpand | N_hs_subcred, 64) =
//     ENC_KEY (AES-256-CTR, zero IV) | MAC_KEY. Introduce1.encrypted = AES(ENC_KEY,
//     serialized IntroducePlaintext); Introduce1.mac = MAC(MAC_KEY, header | X | encrypted),
//     header = the serialized Introduce1 with client_public_key, encrypted and mac all empty.
//   Service (y, Y fresh; b the secret of B): checks the MAC, decrypts, then
//     rend_secret_hs_input = EXP(X,y) | EXP(X,b) | AUTH_KEY | B | X | Y | PROTOID;
//     NTOR_KEY_SEED = MAC(rend_secret_hs_input, t_hsenc); verify = MAC(rend_secret_hs_input,
//     t_hsverify); auth_input = verify | AUTH_KEY | B | Y | X | PROTOID | "Server";
//     AUTH_INPUT_MAC = MAC(auth_input, t_hsmac). RENDEZVOUS1 carries Y and AUTH_INPUT_MAC.
//   Client: recomputes the same from EXP(Y,x) and EXP(B,x), refuses a wrong AUTH_INPUT_MAC.
//   An all-zero X25519 output is refused on either side.
//   End-to-end keys: KDF(NTOR_KEY_SEED | m_hsexpand, 128) = Df (32) | Db (32) | Kf (32) |
//   Kb (32). The end-to-end hop's relay crypto is relay.proto's with SHA3-256 running digests
//   (seeded with Df forward, Db backward; the cell's 4 digest bytes are the first 4 of the
//   finished SHA3-256 of a copy) and AES-256-CTR (Kf forward, Kb backward, zero IV). Forward
//   is client → service: the service's circuit uses Kb/Db to send and Kf/Df to receive.
//
// LIMITS AND DEFENCES
//   - ESTABLISH_INTRO, INTRODUCE1, ESTABLISH_RENDEZVOUS and RENDEZVOUS1 are for the last hop of a
//     circuit that is not already an intro, rendezvous or joined circuit: elsewhere, DESTROY
//     PROTOCOL (so a second ESTABLISH_INTRO on a circuit is refused).
//   - An intro point refuses an ESTABLISH_INTRO whose signature or handshake_auth does not
//     check (DESTROY PROTOCOL); a newer circuit for the same auth key replaces the older one. It accepts at most `introduce_rate` INTRODUCE1 per second (burst
//     `introduce_burst`) per intro circuit (Establish Intro's dos parameters, Tor's DoS
//     extension); beyond, INTRODUCE_ACK with status RATE_LIMITED.
//   - The service keeps a replay cache of H(Introduce2.encrypted) per intro point (while the
//     intro point lives) and drops a replayed INTRODUCE2; it answers at most 1 introduction per
//     cookie.
//   - A rendezvous point joins each cookie once; ESTABLISH_RENDEZVOUS with a cookie already
//     waiting, or RENDEZVOUS1 with a cookie not waiting (unknown, or already joined) or a
//     handshake_info that is not 64 bytes: DESTROY PROTOCOL. Unjoined rendezvous circuits close
//     after 2 minutes.
//   - The service allows at most 256 streams per rendezvous circuit (END RESOURCELIMIT beyond).
//   - The service replaces an intro point after 16384 introductions or a random 18–24 hours
//     (shorter in test networks), and republishes its descriptor when its intro points change.

// @generated by protoc-gen-es v2.13.0 with parameter "target=ts,import_extension=js"
// @generated from file meowonion/v1/onion_service.proto (package meowonion.v1, syntax proto3)
/* eslint-disable */

import type { GenEnum, GenFile, GenMessage } from "@bufbuild/protobuf/codegenv2";
import { enumDesc, fileDesc, messageDesc } from "@bufbuild/protobuf/codegenv2";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { file_google_protobuf_timestamp } from "@bufbuild/protobuf/wkt";
import type { LinkSpecifier } from "./relay_pb.js";
import { file_meowonion_v1_relay } from "./relay_pb.js";
import type { Message } from "@bufbuild/protobuf";

/**
 * Describes the file meowonion/v1/onion_service.proto.
 */
export const file_meowonion_v1_onion_service: GenFile = /*@__PURE__*/
  fileDesc("CiBtZW93b25pb24vdjEvb25pb25fc2VydmljZS5wcm90bxIMbWVvd29uaW9uLnYxIj4KFVNpZ25lZE9uaW9uRGVzY3JpcHRvchISCgpkZXNjcmlwdG9yGAEgASgMEhEKCXNpZ25hdHVyZRgCIAEoDCLGAQoPT25pb25EZXNjcmlwdG9yEg8KB3ZlcnNpb24YASABKA0SEwoLYmxpbmRlZF9rZXkYAiABKAwSEgoKcGVyaW9kX251bRgDIAEoBBIYChByZXZpc2lvbl9jb3VudGVyGAQgASgEEi0KCXB1Ymxpc2hlZBgFIAEoCzIaLmdvb2dsZS5wcm90b2J1Zi5UaW1lc3RhbXASGAoQbGlmZXRpbWVfc2Vjb25kcxgGIAEoDRIWCg5zdXBlcmVuY3J5cHRlZBgHIAEoDCIpChRPbmlvbkRlc2NyaXB0b3JPdXRlchIRCgllbmNyeXB0ZWQYASABKAwiRgoUT25pb25EZXNjcmlwdG9ySW5uZXISLgoMaW50cm9fcG9pbnRzGAEgAygLMhgubWVvd29uaW9uLnYxLkludHJvUG9pbnQifQoKSW50cm9Qb2ludBI0Cg9saW5rX3NwZWNpZmllcnMYASADKAsyGy5tZW93b25pb24udjEuTGlua1NwZWNpZmllchIWCg5udG9yX29uaW9uX2tleRgCIAEoDBIQCghhdXRoX2tleRgDIAEoDBIPCgdlbmNfa2V5GAQgASgMImwKDEhzRGlyUmVxdWVzdBI0CgVzdG9yZRgBIAEoCzIjLm1lb3dvbmlvbi52MS5TaWduZWRPbmlvbkRlc2NyaXB0b3JIABIbChFmZXRjaF9ibGluZGVkX2tleRgCIAEoDEgAQgkKB3JlcXVlc3QihAEKDUhzRGlyUmVzcG9uc2USKQoGc3RhdHVzGAEgASgOMhkubWVvd29uaW9uLnYxLkhzRGlyU3RhdHVzEjcKCmRlc2NyaXB0b3IYAiABKAsyIy5tZW93b25pb24udjEuU2lnbmVkT25pb25EZXNjcmlwdG9yEg8KB21lc3NhZ2UYAyABKAkifgoORXN0YWJsaXNoSW50cm8SEAoIYXV0aF9rZXkYASABKAwSFgoOaW50cm9kdWNlX3JhdGUYAiABKA0SFwoPaW50cm9kdWNlX2J1cnN0GAMgASgNEhYKDmhhbmRzaGFrZV9hdXRoGAQgASgMEhEKCXNpZ25hdHVyZRgFIAEoDCISChBJbnRyb0VzdGFibGlzaGVkIiUKE0VzdGFibGlzaFJlbmRlenZvdXMSDgoGY29va2llGAEgASgMIhcKFVJlbmRlenZvdXNFc3RhYmxpc2hlZCJZCgpJbnRyb2R1Y2UxEhAKCGF1dGhfa2V5GAEgASgMEhkKEWNsaWVudF9wdWJsaWNfa2V5GAIgASgMEhEKCWVuY3J5cHRlZBgDIAEoDBILCgNtYWMYBCABKAwigwEKEkludHJvZHVjZVBsYWludGV4dBIOCgZjb29raWUYASABKAwSNAoPbGlua19zcGVjaWZpZXJzGAIgAygLMhsubWVvd29uaW9uLnYxLkxpbmtTcGVjaWZpZXISFgoObnRvcl9vbmlvbl9rZXkYAyABKAwSDwoHcGFkZGluZxgEIAEoDCJACgxJbnRyb2R1Y2VBY2sSMAoGc3RhdHVzGAEgASgOMiAubWVvd29uaW9uLnYxLkludHJvZHVjZUFja1N0YXR1cyI1CgtSZW5kZXp2b3VzMRIOCgZjb29raWUYASABKAwSFgoOaGFuZHNoYWtlX2luZm8YAiABKAwiJQoLUmVuZGV6dm91czISFgoOaGFuZHNoYWtlX2luZm8YASABKAwqrgEKC0hzRGlyU3RhdHVzEh0KGUhTX0RJUl9TVEFUVVNfVU5TUEVDSUZJRUQQABIUChBIU19ESVJfU1RBVFVTX09LEAESGwoXSFNfRElSX1NUQVRVU19OT1RfRk9VTkQQAhIZChVIU19ESVJfU1RBVFVTX0lOVkFMSUQQAxIXChNIU19ESVJfU1RBVFVTX1NUQUxFEAQSGQoVSFNfRElSX1NUQVRVU19SRUZVU0VEEAUq0gEKEkludHJvZHVjZUFja1N0YXR1cxIkCiBJTlRST0RVQ0VfQUNLX1NUQVRVU19VTlNQRUNJRklFRBAAEiAKHElOVFJPRFVDRV9BQ0tfU1RBVFVTX1NVQ0NFU1MQARIoCiRJTlRST0RVQ0VfQUNLX1NUQVRVU19VTktOT1dOX1NFUlZJQ0UQAhIjCh9JTlRST0RVQ0VfQUNLX1NUQVRVU19CQURfRk9STUFUEAMSJQohSU5UUk9EVUNFX0FDS19TVEFUVVNfUkFURV9MSU1JVEVEEARiBnByb3RvMw", [file_google_protobuf_timestamp, file_meowonion_v1_relay]);

/**
 * A descriptor as stored on HSDirs: `descriptor` is a serialized OnionDescriptor, `signature`
 * Ed25519 by the blinded key over "meowonion-onion-descriptor-v1" | 0x00 | descriptor.
 * At most 16 KiB in all.
 *
 * @generated from message meowonion.v1.SignedOnionDescriptor
 */
export type SignedOnionDescriptor = Message<"meowonion.v1.SignedOnionDescriptor"> & {
  /**
   * @generated from field: bytes descriptor = 1;
   */
  descriptor: Uint8Array;

  /**
   * @generated from field: bytes signature = 2;
   */
  signature: Uint8Array;
};

/**
 * Describes the message meowonion.v1.SignedOnionDescriptor.
 * Use `create(SignedOnionDescriptorSchema)` to create a new message.
 */
export const SignedOnionDescriptorSchema: GenMessage<SignedOnionDescriptor> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_onion_service, 0);

/**
 * The plaintext part of a descriptor, what an HSDir checks.
 *
 * @generated from message meowonion.v1.OnionDescriptor
 */
export type OnionDescriptor = Message<"meowonion.v1.OnionDescriptor"> & {
  /**
   * 3.
   *
   * @generated from field: uint32 version = 1;
   */
  version: number;

  /**
   * The blinded key A' of `period_num`, 32 bytes: names the descriptor on the ring, verifies it.
   *
   * @generated from field: bytes blinded_key = 2;
   */
  blindedKey: Uint8Array;

  /**
   * The time period this descriptor is for.
   *
   * @generated from field: uint64 period_num = 3;
   */
  periodNum: bigint;

  /**
   * Strictly increasing for one blinded key: an HSDir keeps the highest it has seen and refuses
   * lower or equal ones (FAILED_PRECONDITION at upload).
   *
   * @generated from field: uint64 revision_counter = 4;
   */
  revisionCounter: bigint;

  /**
   * When the service made it.
   *
   * @generated from field: google.protobuf.Timestamp published = 5;
   */
  published?: Timestamp | undefined;

  /**
   * How long an HSDir keeps it and a client may use it, seconds: at most 3 hours.
   *
   * @generated from field: uint32 lifetime_seconds = 6;
   */
  lifetimeSeconds: number;

  /**
   * The outer encrypted layer (see DESCRIPTOR): salt | ciphertext | MAC.
   *
   * @generated from field: bytes superencrypted = 7;
   */
  superencrypted: Uint8Array;
};

/**
 * Describes the message meowonion.v1.OnionDescriptor.
 * Use `create(OnionDescriptorSchema)` to create a new message.
 */
export const OnionDescriptorSchema: GenMessage<OnionDescriptor> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_onion_service, 1);

/**
 * The outer layer's plaintext. (Tor lists client authorization entries here; MeowOnion has no
 * client authorization yet.)
 *
 * @generated from message meowonion.v1.OnionDescriptorOuter
 */
export type OnionDescriptorOuter = Message<"meowonion.v1.OnionDescriptorOuter"> & {
  /**
   * The inner encrypted layer: salt | ciphertext | MAC.
   *
   * @generated from field: bytes encrypted = 1;
   */
  encrypted: Uint8Array;
};

/**
 * Describes the message meowonion.v1.OnionDescriptorOuter.
 * Use `create(OnionDescriptorOuterSchema)` to create a new message.
 */
export const OnionDescriptorOuterSchema: GenMessage<OnionDescriptorOuter> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_onion_service, 2);

/**
 * The inner layer's plaintext: how to introduce oneself to the service.
 *
 * @generated from message meowonion.v1.OnionDescriptorInner
 */
export type OnionDescriptorInner = Message<"meowonion.v1.OnionDescriptorInner"> & {
  /**
   * 1..6 introduction points.
   *
   * @generated from field: repeated meowonion.v1.IntroPoint intro_points = 1;
   */
  introPoints: IntroPoint[];
};

/**
 * Describes the message meowonion.v1.OnionDescriptorInner.
 * Use `create(OnionDescriptorInnerSchema)` to create a new message.
 */
export const OnionDescriptorInnerSchema: GenMessage<OnionDescriptorInner> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_onion_service, 3);

/**
 * One introduction point of a service.
 *
 * @generated from message meowonion.v1.IntroPoint
 */
export type IntroPoint = Message<"meowonion.v1.IntroPoint"> & {
  /**
   * How to extend to the intro point relay (relay.proto LinkSpecifier): an address and its
   * Ed25519 identity key.
   *
   * @generated from field: repeated meowonion.v1.LinkSpecifier link_specifiers = 1;
   */
  linkSpecifiers: LinkSpecifier[];

  /**
   * The intro point relay's ntor onion key, 32 bytes (for the client's EXTEND2 to it).
   *
   * @generated from field: bytes ntor_onion_key = 2;
   */
  ntorOnionKey: Uint8Array;

  /**
   * KP_hs_ipt_sid, Ed25519, 32 bytes: names the service at this intro point (Introduce1).
   *
   * @generated from field: bytes auth_key = 3;
   */
  authKey: Uint8Array;

  /**
   * KP_hss_ntor (B), X25519, 32 bytes: the service's hs-ntor key for this intro point.
   *
   * @generated from field: bytes enc_key = 4;
   */
  encKey: Uint8Array;
};

/**
 * Describes the message meowonion.v1.IntroPoint.
 * Use `create(IntroPointSchema)` to create a new message.
 */
export const IntroPointSchema: GenMessage<IntroPoint> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_onion_service, 4);

/**
 * Over a BEGIN_DIR stream to an HSDir (relay.proto): one size-delimited (varint length) request,
 * then one size-delimited response, then END DONE both ways. At most 20 KiB each.
 *
 * @generated from message meowonion.v1.HsDirRequest
 */
export type HsDirRequest = Message<"meowonion.v1.HsDirRequest"> & {
  /**
   * @generated from oneof meowonion.v1.HsDirRequest.request
   */
  request: {
    /**
     * Store a descriptor (service → HSDir).
     *
     * @generated from field: meowonion.v1.SignedOnionDescriptor store = 1;
     */
    value: SignedOnionDescriptor;
    case: "store";
  } | {
    /**
     * Fetch the descriptor of a blinded key, 32 bytes (client → HSDir).
     *
     * @generated from field: bytes fetch_blinded_key = 2;
     */
    value: Uint8Array;
    case: "fetchBlindedKey";
  } | { case: undefined; value?: undefined };
};

/**
 * Describes the message meowonion.v1.HsDirRequest.
 * Use `create(HsDirRequestSchema)` to create a new message.
 */
export const HsDirRequestSchema: GenMessage<HsDirRequest> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_onion_service, 5);

/**
 * The HSDir's answer.
 *
 * @generated from message meowonion.v1.HsDirResponse
 */
export type HsDirResponse = Message<"meowonion.v1.HsDirResponse"> & {
  /**
   * What happened.
   *
   * @generated from field: meowonion.v1.HsDirStatus status = 1;
   */
  status: HsDirStatus;

  /**
   * For a successful fetch: the descriptor as stored.
   *
   * @generated from field: meowonion.v1.SignedOnionDescriptor descriptor = 2;
   */
  descriptor?: SignedOnionDescriptor | undefined;

  /**
   * Why, for people (never parsed).
   *
   * @generated from field: string message = 3;
   */
  message: string;
};

/**
 * Describes the message meowonion.v1.HsDirResponse.
 * Use `create(HsDirResponseSchema)` to create a new message.
 */
export const HsDirResponseSchema: GenMessage<HsDirResponse> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_onion_service, 6);

/**
 * ESTABLISH_INTRO (service → intro point, stream_id 0, on a circuit whose last hop the intro
 * point is). The intro point verifies handshake_auth = MAC(KH, bytes) and signature =
 * Ed25519(auth_key) over "meowonion-establish-intro-v1" | 0x00 | bytes, where `bytes` is this
 * message serialized with handshake_auth and signature empty, and KH is the last 20 bytes (the
 * nonce, Tor's KH) of the circuit's ntor key material at the intro point (relay.proto
 * CRYPTOGRAPHY: Df | Db | Kf | Kb | nonce). So a valid ESTABLISH_INTRO cannot be replayed on
 * another circuit.
 *
 * @generated from message meowonion.v1.EstablishIntro
 */
export type EstablishIntro = Message<"meowonion.v1.EstablishIntro"> & {
  /**
   * KP_hs_ipt_sid, Ed25519, 32 bytes.
   *
   * @generated from field: bytes auth_key = 1;
   */
  authKey: Uint8Array;

  /**
   * Denial-of-service parameters for this intro point (0 = the intro point's defaults:
   * 25 per second, burst 200).
   *
   * @generated from field: uint32 introduce_rate = 2;
   */
  introduceRate: number;

  /**
   * @generated from field: uint32 introduce_burst = 3;
   */
  introduceBurst: number;

  /**
   * 32 bytes, see above.
   *
   * @generated from field: bytes handshake_auth = 4;
   */
  handshakeAuth: Uint8Array;

  /**
   * 64 bytes, see above.
   *
   * @generated from field: bytes signature = 5;
   */
  signature: Uint8Array;
};

/**
 * Describes the message meowonion.v1.EstablishIntro.
 * Use `create(EstablishIntroSchema)` to create a new message.
 */
export const EstablishIntroSchema: GenMessage<EstablishIntro> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_onion_service, 7);

/**
 * INTRO_ESTABLISHED (intro point → service): the intro circuit is registered.
 *
 * @generated from message meowonion.v1.IntroEstablished
 */
export type IntroEstablished = Message<"meowonion.v1.IntroEstablished"> & {
};

/**
 * Describes the message meowonion.v1.IntroEstablished.
 * Use `create(IntroEstablishedSchema)` to create a new message.
 */
export const IntroEstablishedSchema: GenMessage<IntroEstablished> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_onion_service, 8);

/**
 * ESTABLISH_RENDEZVOUS (client → rendezvous point, stream_id 0).
 *
 * @generated from message meowonion.v1.EstablishRendezvous
 */
export type EstablishRendezvous = Message<"meowonion.v1.EstablishRendezvous"> & {
  /**
   * 20 random bytes.
   *
   * @generated from field: bytes cookie = 1;
   */
  cookie: Uint8Array;
};

/**
 * Describes the message meowonion.v1.EstablishRendezvous.
 * Use `create(EstablishRendezvousSchema)` to create a new message.
 */
export const EstablishRendezvousSchema: GenMessage<EstablishRendezvous> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_onion_service, 9);

/**
 * RENDEZVOUS_ESTABLISHED (rendezvous point → client).
 *
 * @generated from message meowonion.v1.RendezvousEstablished
 */
export type RendezvousEstablished = Message<"meowonion.v1.RendezvousEstablished"> & {
};

/**
 * Describes the message meowonion.v1.RendezvousEstablished.
 * Use `create(RendezvousEstablishedSchema)` to create a new message.
 */
export const RendezvousEstablishedSchema: GenMessage<RendezvousEstablished> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_onion_service, 10);

/**
 * INTRODUCE1 (client → intro point, stream_id 0) and INTRODUCE2 (intro point → service, the
 * same message relayed unchanged).
 *
 * @generated from message meowonion.v1.Introduce1
 */
export type Introduce1 = Message<"meowonion.v1.Introduce1"> & {
  /**
   * The auth key of the intro point the client chose, from the descriptor, 32 bytes.
   *
   * @generated from field: bytes auth_key = 1;
   */
  authKey: Uint8Array;

  /**
   * X, the client's X25519 ephemeral, 32 bytes.
   *
   * @generated from field: bytes client_public_key = 2;
   */
  clientPublicKey: Uint8Array;

  /**
   * AES-256-CTR(ENC_KEY) of a serialized IntroducePlaintext (see HS-NTOR).
   *
   * @generated from field: bytes encrypted = 3;
   */
  encrypted: Uint8Array;

  /**
   * MAC over the header, X and `encrypted`, 32 bytes (see HS-NTOR).
   *
   * @generated from field: bytes mac = 4;
   */
  mac: Uint8Array;
};

/**
 * Describes the message meowonion.v1.Introduce1.
 * Use `create(Introduce1Schema)` to create a new message.
 */
export const Introduce1Schema: GenMessage<Introduce1> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_onion_service, 11);

/**
 * What only the service reads in an introduction.
 *
 * @generated from message meowonion.v1.IntroducePlaintext
 */
export type IntroducePlaintext = Message<"meowonion.v1.IntroducePlaintext"> & {
  /**
   * The rendezvous cookie, 20 bytes.
   *
   * @generated from field: bytes cookie = 1;
   */
  cookie: Uint8Array;

  /**
   * How to extend to the rendezvous point: an address and its identity key.
   *
   * @generated from field: repeated meowonion.v1.LinkSpecifier link_specifiers = 2;
   */
  linkSpecifiers: LinkSpecifier[];

  /**
   * The rendezvous point's ntor onion key, 32 bytes.
   *
   * @generated from field: bytes ntor_onion_key = 3;
   */
  ntorOnionKey: Uint8Array;

  /**
   * Random bytes so that every IntroducePlaintext has the same length (0..400 bytes).
   *
   * @generated from field: bytes padding = 4;
   */
  padding: Uint8Array;
};

/**
 * Describes the message meowonion.v1.IntroducePlaintext.
 * Use `create(IntroducePlaintextSchema)` to create a new message.
 */
export const IntroducePlaintextSchema: GenMessage<IntroducePlaintext> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_onion_service, 12);

/**
 * INTRODUCE_ACK (intro point → client).
 *
 * @generated from message meowonion.v1.IntroduceAck
 */
export type IntroduceAck = Message<"meowonion.v1.IntroduceAck"> & {
  /**
   * @generated from field: meowonion.v1.IntroduceAckStatus status = 1;
   */
  status: IntroduceAckStatus;
};

/**
 * Describes the message meowonion.v1.IntroduceAck.
 * Use `create(IntroduceAckSchema)` to create a new message.
 */
export const IntroduceAckSchema: GenMessage<IntroduceAck> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_onion_service, 13);

/**
 * RENDEZVOUS1 (service → rendezvous point, stream_id 0).
 *
 * @generated from message meowonion.v1.Rendezvous1
 */
export type Rendezvous1 = Message<"meowonion.v1.Rendezvous1"> & {
  /**
   * The cookie from IntroducePlaintext, 20 bytes.
   *
   * @generated from field: bytes cookie = 1;
   */
  cookie: Uint8Array;

  /**
   * Y (32) | AUTH_INPUT_MAC (32) (see HS-NTOR).
   *
   * @generated from field: bytes handshake_info = 2;
   */
  handshakeInfo: Uint8Array;
};

/**
 * Describes the message meowonion.v1.Rendezvous1.
 * Use `create(Rendezvous1Schema)` to create a new message.
 */
export const Rendezvous1Schema: GenMessage<Rendezvous1> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_onion_service, 14);

/**
 * RENDEZVOUS2 (rendezvous point → client, stream_id 0): the service's handshake, relayed.
 *
 * @generated from message meowonion.v1.Rendezvous2
 */
export type Rendezvous2 = Message<"meowonion.v1.Rendezvous2"> & {
  /**
   * Y (32) | AUTH_INPUT_MAC (32).
   *
   * @generated from field: bytes handshake_info = 1;
   */
  handshakeInfo: Uint8Array;
};

/**
 * Describes the message meowonion.v1.Rendezvous2.
 * Use `create(Rendezvous2Schema)` to create a new message.
 */
export const Rendezvous2Schema: GenMessage<Rendezvous2> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_onion_service, 15);

/**
 * @generated from enum meowonion.v1.HsDirStatus
 */
export enum HsDirStatus {
  /**
   * @generated from enum value: HS_DIR_STATUS_UNSPECIFIED = 0;
   */
  UNSPECIFIED = 0,

  /**
   * Stored, or found.
   *
   * @generated from enum value: HS_DIR_STATUS_OK = 1;
   */
  OK = 1,

  /**
   * No descriptor for that blinded key (fetch).
   *
   * @generated from enum value: HS_DIR_STATUS_NOT_FOUND = 2;
   */
  NOT_FOUND = 2,

  /**
   * The descriptor is malformed, its signature does not verify against its blinded key, it is
   * expired (published + lifetime is past), published more than 5 minutes ahead of the HSDir's
   * clock, its lifetime is above 3 hours, or it is larger than allowed.
   *
   * @generated from enum value: HS_DIR_STATUS_INVALID = 3;
   */
  INVALID = 3,

  /**
   * A descriptor with a higher or equal revision counter is already stored.
   *
   * @generated from enum value: HS_DIR_STATUS_STALE = 4;
   */
  STALE = 4,

  /**
   * This relay is not an HSDir, or holds too many descriptors.
   *
   * @generated from enum value: HS_DIR_STATUS_REFUSED = 5;
   */
  REFUSED = 5,
}

/**
 * Describes the enum meowonion.v1.HsDirStatus.
 */
export const HsDirStatusSchema: GenEnum<HsDirStatus> = /*@__PURE__*/
  enumDesc(file_meowonion_v1_onion_service, 0);

/**
 * @generated from enum meowonion.v1.IntroduceAckStatus
 */
export enum IntroduceAckStatus {
  /**
   * @generated from enum value: INTRODUCE_ACK_STATUS_UNSPECIFIED = 0;
   */
  UNSPECIFIED = 0,

  /**
   * Relayed to the service.
   *
   * @generated from enum value: INTRODUCE_ACK_STATUS_SUCCESS = 1;
   */
  SUCCESS = 1,

  /**
   * No intro circuit for that auth key here.
   *
   * @generated from enum value: INTRODUCE_ACK_STATUS_UNKNOWN_SERVICE = 2;
   */
  UNKNOWN_SERVICE = 2,

  /**
   * The message is malformed: auth_key, client_public_key or mac is not 32 bytes. (A body that
   * does not decode at all is a protocol violation: DESTROY PROTOCOL, relay.proto BODY.)
   *
   * @generated from enum value: INTRODUCE_ACK_STATUS_BAD_FORMAT = 3;
   */
  BAD_FORMAT = 3,

  /**
   * Too many introductions for this intro point just now.
   *
   * @generated from enum value: INTRODUCE_ACK_STATUS_RATE_LIMITED = 4;
   */
  RATE_LIMITED = 4,
}

/**
 * Describes the enum meowonion.v1.IntroduceAckStatus.
 */
export const IntroduceAckStatusSchema: GenEnum<IntroduceAckStatus> = /*@__PURE__*/
  enumDesc(file_meowonion_v1_onion_service, 1);

