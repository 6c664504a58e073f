// MeowOnion relay messages: the plaintext inside the onion layers of RELAY/RELAY_EARLY frames.
//
// RELAY CELL BODY (509 bytes, RELAY_BODY_LEN), the same byte layout as Tor's relay cells so
// that our relay cryptography reproduces Tor's published test vectors:
//
//   offset  size  field
//   0       1     command      RelayCommand number (fits in one byte)
//   1       2     recognized   0x0000 in every plaintext cell
//   3       2     stream_id    big-endian; 0 for circuit-level commands
//   5       4     digest       first 4 bytes of the running digest (below)
//   9       2     length       big-endian, number of meaningful data bytes, 0..498
//   11      498   data         `length` bytes of body, then padding
//
// BODY
//   DATA carries raw stream bytes (1..498). Every other command carries the protobuf binary
//   encoding of the message named next to it in RelayCommand (possibly 0 bytes for an empty
//   message). A body that does not decode, or a length above 498, is a protocol violation:
//   a relay destroys the circuit (DESTROY PROTOCOL); a client does the same.
//
// PADDING
//   The data bytes after `length` are: 4 zero bytes (or fewer if the cell ends first), then
//   random bytes. Random padding (as Tor since proposal 289) keeps partially filled cells
//   unpredictable, so an authenticated SENDME (the digest of a cell) cannot be computed by a
//   client that did not receive the cell. Receivers ignore the padding.
//
// CRYPTOGRAPHY ("tor1", tor-spec 5.5 and 6.1)
//   Each circuit hop i shares 92 bytes of ntor key material with the client:
//   Df(20) | Db(20) | Kf(16) | Kb(16) | nonce(20). Per hop and direction there is
//   - an AES-128-CTR cipher keyed with Kf (forward, towards the exit) or Kb (backward),
//     IV all zero, ONE continuous key stream for the life of the circuit (never reset per cell);
//   - a running SHA-1 digest, initialised by hashing Df (forward) or Db (backward), then
//     updated with each 509-byte body that the hop originates or recognizes, taken with its
//     digest field set to zero.
//   "The running digest" as a value (the 4 bytes in a cell, the 20 bytes of a SENDME) is the
//   finished SHA-1 output (FIPS 180-4 padding and length included) of a COPY of the running
//   hash: the running hash itself is never finished and goes on absorbing bodies.
//   Portability: 509 is not a multiple of AES's 16-byte block, so one cell ends inside a block
//   and the next continues in that same block's key stream; an AES-CTR implementation must
//   continue at any byte offset (a streaming CTR cipher object does; an API that restarts at a
//   block boundary per call does not). The running SHA-1 must be copyable (hashlib's copy(),
//   Go's hash state marshalling, Node's Hash.copy(), Java's MessageDigest.clone()), or be
//   re-implemented so that a copy can be finished without finishing the original.
//   Test vectors: conformance/vectors/tor1-relay-crypto.json (C tor's cells) and
//   tor1-inbound.json.
//   Outbound (client → hop k of n): the client sets recognized = 0, computes hop k's forward
//   digest over the body with digest zeroed, writes its first 4 bytes at offset 5, then
//   encrypts with Kf of hop k, then hop k-1, ..., then hop 1. Each relay decrypts one layer
//   with its Kf.
//   Inbound (hop k → client): hop k sets its backward digest likewise and encrypts with Kb;
//   every relay between it and the client adds its own Kb layer; the client removes layers
//   starting from hop 1.
//
// RECOGNITION
//   After removing its layer, a hop (or the client, after each layer it removes) treats the cell
//   as addressed to it if and only if recognized == 0 AND the 4 digest bytes equal the first 4
//   bytes of its running digest updated with this body (digest field zeroed). If recognized is
//   nonzero or the digest does not match, the running digest MUST be left as it was (the
//   update is discarded) and:
//   - a relay with a next hop forwards the (partially decrypted) cell there, as RELAY (or
//     RELAY_EARLY if it came as RELAY_EARLY);
//   - the last relay of a circuit, or a client that removed all layers, destroys the circuit
//     with reason PROTOCOL. Hence a single flipped bit kills the circuit.
//
// SENDME AND FLOW CONTROL (tor-spec 7.3/7.4, proposal 289)
//   Only DATA cells count. Circuit level: each end starts with a package window of 1000 DATA
//   cells per direction and sends a circuit SENDME (stream_id 0) after every 100 DATA cells it
//   delivers; each SENDME received adds 100 to the package window. Stream level: window 500,
//   SENDME (stream_id set) every 50 delivered cells, +50 per SENDME. A sender never sends DATA
//   with a zero window. A receiver whose deliver window would go below zero (the peer ignored
//   the window), or that receives a SENDME that would push a package window above its initial
//   value, destroys the circuit (PROTOCOL).
//   Circuit SENDMEs are authenticated (version 1): the SENDME carries the 20-byte running
//   digest value (see CRYPTOGRAPHY: the finished SHA-1 of a copy of the running hash, all 20
//   bytes, not only the 4 in the cell) right after the DATA cell that made the receiver send
//   it (the 100th, 200th, ... DATA cell received on that hop) was added to the hash with its
//   digest field zeroed; at the receiver that is the hash of the recognizing hop's direction
//   towards it, at the sender the hash it sealed that cell with, so both compute the same
//   value. The DATA sender remembers the digest of every 100th DATA cell it sends and checks
//   that each SENDME carries the oldest remembered one; a mismatch destroys the circuit
//   (PROTOCOL).
//   Stream SENDMEs carry no digest.
//
// CONGESTION CONTROL (proposal 324, TOR_VEGAS; stream flow control by XON/XOFF as proposal 344)
//   On a circuit whose last hop lists RELAY_FEATURE_CONGESTION_CONTROL (descriptor.proto), a
//   client may replace the fixed windows above by congestion control, end to end between the
//   client and that hop (relays in between see nothing of it).
//   Negotiation. The client's first relay message to the last hop, sent before any BEGIN or
//   RESOLVE on the circuit, is CONGESTION_CONTROL_REQUEST (stream_id 0, version 1). The hop
//   answers CONGESTION_CONTROL_RESPONSE (stream_id 0) with the version it adopts: 1, or 0 to
//   decline (fixed windows stay). A hop that adopts 1 switches at once: every DATA cell after
//   the request, both ways, follows the rules below. The client switches when the response
//   arrives; no DATA crosses in between, since DATA needs an open stream and the hop sends
//   CONNECTED only after the response. A request after a BEGIN or RESOLVE on the circuit, a
//   second request, or a request to a hop that has a next hop: DESTROY PROTOCOL. A response
//   the client did not ask for, or with another version: the client destroys the circuit.
//   Version 1, in each direction:
//   - Circuit SENDMEs: the receiver of DATA sends an authenticated SENDME (version 1, the
//     running digest of the triggering cell) after every SENDME_INC = 31 DATA cells (the 31st,
//     62nd, ...), as soon as it has decrypted them, before handing the data on. The sender
//     remembers the digest and the send time of every 31st DATA cell it sends; each SENDME must
//     carry the oldest digest remembered (else DESTROY PROTOCOL), acknowledges 31 cells and
//     gives one round-trip sample: its arrival time minus that send time.
//   - The sender's congestion window: at most `cwnd` DATA cells sent and not yet acknowledged
//     (inflight). cwnd starts at CWND_INIT = 124 and stays within [CWND_MIN = 62,
//     CWND_MAX = 2000]; a receiver never needs to buffer more than that per circuit.
//     How cwnd moves is the sender's own affair; this is the algorithm to use (Tor's Vegas with
//     its exit parameters; all quantities in cells, times in any one clock):
//       on each SENDME:  n = clamp(floor(cwnd / (2 * 31)), 2, 10)
//                        ewma = sample if first, else (2 * sample + (n - 1) * ewma) / (n + 1)
//                        min_rtt = min(min_rtt, ewma)
//                        bdp = cwnd * min_rtt / ewma;  queue_use = cwnd - bdp
//       full = inflight reached cwnd - 31 since the last cwnd update (otherwise the window
//              was not the limit and must not grow);
//       slow start (initially): on each SENDME, if queue_use > GAMMA = 186, leave slow start;
//              else if full, cwnd += 31 (doubling once per round trip);
//       afterwards, once per cwnd acknowledged cells: if queue_use > DELTA = 310,
//              cwnd = bdp + DELTA - 31; else if queue_use > BETA = 248, cwnd -= 31; else if
//              queue_use < ALPHA = 186 and full, cwnd += 31.
//   - No stream windows: stream SENDMEs do not exist (one received: DESTROY PROTOCOL), and a
//     stream's sender is paced by the circuit window and by XOFF/XON:
//   - XOFF (stream_id set, empty body): the receiver of a stream's DATA holds more than
//     XOFF_BYTES = 250000 bytes of it that it could not hand on yet (to the application at a
//     client, to the destination socket at an exit): the sender stops sending DATA on that
//     stream. XON (stream_id set, empty body) once it holds at most XON_BYTES = 65536 of them
//     again: the sender resumes. DATA already in flight keeps arriving in between. XOFF on a
//     stream already stopped, XON on one not stopped, or either on a circuit without congestion
//     control: DESTROY PROTOCOL. XOFF/XON for a stream id not open (it may have ended as they
//     crossed) are ignored. A receiver holding more than XOFF_BYTES + CWND_MAX * 498 bytes for
//     one stream (its sender ignored XOFF) ends the stream with END RESOURCELIMIT.

// @generated by protoc-gen-es v2.13.0 with parameter "target=ts,import_extension=js"
// @generated from file meowonion/v1/relay.proto (package meowonion.v1, syntax proto3)
/* eslint-disable */

import type { GenEnum, GenFile, GenMessage } from "@bufbuild/protobuf/codegenv2";
import { enumDesc, fileDesc, messageDesc } from "@bufbuild/protobuf/codegenv2";
import type { Create2, DestroyReason } from "./link_pb.js";
import { file_meowonion_v1_link } from "./link_pb.js";
import type { Message } from "@bufbuild/protobuf";

/**
 * Describes the file meowonion/v1/relay.proto.
 */
export const file_meowonion_v1_relay: GenFile = /*@__PURE__*/
  fileDesc("ChhtZW93b25pb24vdjEvcmVsYXkucHJvdG8SDG1lb3dvbmlvbi52MSIjCgVCZWdpbhIMCgRob3N0GAEgASgJEgwKBHBvcnQYAiABKA0iCgoIQmVnaW5EaXIiMQoJQ29ubmVjdGVkEg8KB2FkZHJlc3MYASABKAkSEwoLdHRsX3NlY29uZHMYAiABKA0iLgoDRW5kEicKBnJlYXNvbhgBIAEoDjIXLm1lb3dvbmlvbi52MS5FbmRSZWFzb24iKQoGU2VuZG1lEg8KB3ZlcnNpb24YASABKA0SDgoGZGlnZXN0GAIgASgMIkcKDUxpbmtTcGVjaWZpZXISEQoHYWRkcmVzcxgBIAEoCUgAEhYKDGlkZW50aXR5X2tleRgCIAEoDEgAQgsKCXNwZWNpZmllciJnCgdFeHRlbmQyEjQKD2xpbmtfc3BlY2lmaWVycxgBIAMoCzIbLm1lb3dvbmlvbi52MS5MaW5rU3BlY2lmaWVyEiYKB2NyZWF0ZTIYAiABKAsyFS5tZW93b25pb24udjEuQ3JlYXRlMiIjCglFeHRlbmRlZDISFgoOaGFuZHNoYWtlX2RhdGEYASABKAwiCgoIVHJ1bmNhdGUiOAoJVHJ1bmNhdGVkEisKBnJlYXNvbhgBIAEoDjIbLm1lb3dvbmlvbi52MS5EZXN0cm95UmVhc29uIgYKBERyb3AiFwoHUmVzb2x2ZRIMCgRob3N0GAEgASgJIjYKDlJlc29sdmVkQW5zd2VyEg8KB2FkZHJlc3MYASABKAkSEwoLdHRsX3NlY29uZHMYAiABKA0iOQoIUmVzb2x2ZWQSLQoHYW5zd2VycxgBIAMoCzIcLm1lb3dvbmlvbi52MS5SZXNvbHZlZEFuc3dlciIGCgRYb2ZmIgUKA1hvbiIrChhDb25nZXN0aW9uQ29udHJvbFJlcXVlc3QSDwoHdmVyc2lvbhgBIAEoDSIsChlDb25nZXN0aW9uQ29udHJvbFJlc3BvbnNlEg8KB3ZlcnNpb24YASABKA0qygYKDFJlbGF5Q29tbWFuZBIdChlSRUxBWV9DT01NQU5EX1VOU1BFQ0lGSUVEEAASFwoTUkVMQVlfQ09NTUFORF9CRUdJThABEhYKElJFTEFZX0NPTU1BTkRfREFUQRACEhUKEVJFTEFZX0NPTU1BTkRfRU5EEAMSGwoXUkVMQVlfQ09NTUFORF9DT05ORUNURUQQBBIYChRSRUxBWV9DT01NQU5EX1NFTkRNRRAFEhoKFlJFTEFZX0NPTU1BTkRfVFJVTkNBVEUQCBIbChdSRUxBWV9DT01NQU5EX1RSVU5DQVRFRBAJEhYKElJFTEFZX0NPTU1BTkRfRFJPUBAKEhkKFVJFTEFZX0NPTU1BTkRfUkVTT0xWRRALEhoKFlJFTEFZX0NPTU1BTkRfUkVTT0xWRUQQDBIbChdSRUxBWV9DT01NQU5EX0JFR0lOX0RJUhANEhkKFVJFTEFZX0NPTU1BTkRfRVhURU5EMhAOEhsKF1JFTEFZX0NPTU1BTkRfRVhURU5ERUQyEA8SIQodUkVMQVlfQ09NTUFORF9FU1RBQkxJU0hfSU5UUk8QIBImCiJSRUxBWV9DT01NQU5EX0VTVEFCTElTSF9SRU5ERVpWT1VTECESHAoYUkVMQVlfQ09NTUFORF9JTlRST0RVQ0UxECISHAoYUkVMQVlfQ09NTUFORF9JTlRST0RVQ0UyECMSHQoZUkVMQVlfQ09NTUFORF9SRU5ERVpWT1VTMRAkEh0KGVJFTEFZX0NPTU1BTkRfUkVOREVaVk9VUzIQJRIjCh9SRUxBWV9DT01NQU5EX0lOVFJPX0VTVEFCTElTSEVEECYSKAokUkVMQVlfQ09NTUFORF9SRU5ERVpWT1VTX0VTVEFCTElTSEVEECcSHwobUkVMQVlfQ09NTUFORF9JTlRST0RVQ0VfQUNLECgSFgoSUkVMQVlfQ09NTUFORF9YT0ZGECsSFQoRUkVMQVlfQ09NTUFORF9YT04QLBIsCihSRUxBWV9DT01NQU5EX0NPTkdFU1RJT05fQ09OVFJPTF9SRVFVRVNUEC0SLQopUkVMQVlfQ09NTUFORF9DT05HRVNUSU9OX0NPTlRST0xfUkVTUE9OU0UQLiqXAwoJRW5kUmVhc29uEhoKFkVORF9SRUFTT05fVU5TUEVDSUZJRUQQABITCg9FTkRfUkVBU09OX01JU0MQARIcChhFTkRfUkVBU09OX1JFU09MVkVGQUlMRUQQAhIdChlFTkRfUkVBU09OX0NPTk5FQ1RSRUZVU0VEEAMSGQoVRU5EX1JFQVNPTl9FWElUUE9MSUNZEAQSFgoSRU5EX1JFQVNPTl9ERVNUUk9ZEAUSEwoPRU5EX1JFQVNPTl9ET05FEAYSFgoSRU5EX1JFQVNPTl9USU1FT1VUEAcSFgoSRU5EX1JFQVNPTl9OT1JPVVRFEAgSGgoWRU5EX1JFQVNPTl9ISUJFUk5BVElORxAJEhcKE0VORF9SRUFTT05fSU5URVJOQUwQChIcChhFTkRfUkVBU09OX1JFU09VUkNFTElNSVQQCxIYChRFTkRfUkVBU09OX0NPTk5SRVNFVBAMEhoKFkVORF9SRUFTT05fVE9SUFJPVE9DT0wQDRIbChdFTkRfUkVBU09OX05PVERJUkVDVE9SWRAOYgZwcm90bzM", [file_meowonion_v1_link]);

/**
 * BEGIN: open a TCP stream from the exit to host:port. The exit resolves `host` itself (the
 * client never does, so DNS does not leak at the client). The exit checks its exit policy
 * against the resolved address and port; a refusal is END with EXIT_POLICY. On success the
 * exit answers CONNECTED; on failure END with the matching reason.
 *
 * @generated from message meowonion.v1.Begin
 */
export type Begin = Message<"meowonion.v1.Begin"> & {
  /**
   * An IPv4/IPv6 literal (no brackets), or a DNS name of 1..255 bytes: labels of letters,
   * digits and '-' joined by single dots, at most one dot at the end (no empty label: "a..b"
   * is not a name). Anything else gets END (TORPROTOCOL); a client should refuse such a name
   * itself, before it builds anything.
   *
   * @generated from field: string host = 1;
   */
  host: string;

  /**
   * TCP port 1..65535. 0 or above 65535 gets END (TORPROTOCOL).
   *
   * @generated from field: uint32 port = 2;
   */
  port: number;
};

/**
 * Describes the message meowonion.v1.Begin.
 * Use `create(BeginSchema)` to create a new message.
 */
export const BeginSchema: GenMessage<Begin> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_relay, 0);

/**
 * BEGIN_DIR: open a directory stream to the recognizing hop. No fields.
 *
 * @generated from message meowonion.v1.BeginDir
 */
export type BeginDir = Message<"meowonion.v1.BeginDir"> & {
};

/**
 * Describes the message meowonion.v1.BeginDir.
 * Use `create(BeginDirSchema)` to create a new message.
 */
export const BeginDirSchema: GenMessage<BeginDir> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_relay, 1);

/**
 * CONNECTED: the exit's TCP connection is open; DATA may flow both ways.
 *
 * @generated from message meowonion.v1.Connected
 */
export type Connected = Message<"meowonion.v1.Connected"> & {
  /**
   * The address the exit connected to, as text (IPv4 dotted quad or IPv6); may be empty if
   * the exit chooses not to reveal it.
   *
   * @generated from field: string address = 1;
   */
  address: string;

  /**
   * How long the client may cache the name → address mapping, seconds.
   *
   * @generated from field: uint32 ttl_seconds = 2;
   */
  ttlSeconds: number;
};

/**
 * Describes the message meowonion.v1.Connected.
 * Use `create(ConnectedSchema)` to create a new message.
 */
export const ConnectedSchema: GenMessage<Connected> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_relay, 2);

/**
 * END: the sender will send no more DATA on this stream. After END in both directions, or
 * after END with a reason other than DONE, the stream id is free again. An END with DONE is a
 * half-close (TCP FIN): the other side may keep sending DATA until it sends its own END.
 *
 * @generated from message meowonion.v1.End
 */
export type End = Message<"meowonion.v1.End"> & {
  /**
   * @generated from field: meowonion.v1.EndReason reason = 1;
   */
  reason: EndReason;
};

/**
 * Describes the message meowonion.v1.End.
 * Use `create(EndSchema)` to create a new message.
 */
export const EndSchema: GenMessage<End> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_relay, 3);

/**
 * SENDME (see SENDME AND FLOW CONTROL above).
 *
 * @generated from message meowonion.v1.Sendme
 */
export type Sendme = Message<"meowonion.v1.Sendme"> & {
  /**
   * 1 for authenticated circuit SENDMEs; 0 for stream SENDMEs. Unknown versions: PROTOCOL.
   *
   * @generated from field: uint32 version = 1;
   */
  version: number;

  /**
   * Version 1: the running digest of the DATA cell that triggered this SENDME, 20 bytes (all
   * of tor1's SHA-1; the first 20 of an onion service hop's SHA3-256, as Tor).
   *
   * @generated from field: bytes digest = 2;
   */
  digest: Uint8Array;
};

/**
 * Describes the message meowonion.v1.Sendme.
 * Use `create(SendmeSchema)` to create a new message.
 */
export const SendmeSchema: GenMessage<Sendme> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_relay, 4);

/**
 * One way to reach the next relay, in EXTEND2.
 *
 * @generated from message meowonion.v1.LinkSpecifier
 */
export type LinkSpecifier = Message<"meowonion.v1.LinkSpecifier"> & {
  /**
   * @generated from oneof meowonion.v1.LinkSpecifier.specifier
   */
  specifier: {
    /**
     * An IPv4 or IPv6 literal and TCP port, "203.0.113.5:9001" or "[2001:db8::1]:9001".
     *
     * @generated from field: string address = 1;
     */
    value: string;
    case: "address";
  } | {
    /**
     * The relay's Ed25519 identity key, 32 bytes. Mandatory in EXTEND2.
     *
     * @generated from field: bytes identity_key = 2;
     */
    value: Uint8Array;
    case: "identityKey";
  } | { case: undefined; value?: undefined };
};

/**
 * Describes the message meowonion.v1.LinkSpecifier.
 * Use `create(LinkSpecifierSchema)` to create a new message.
 */
export const LinkSpecifierSchema: GenMessage<LinkSpecifier> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_relay, 5);

/**
 * EXTEND2: ask the last hop to extend the circuit to another relay. The extending relay
 * (1) refuses if the identity key is its own, or no address is given (DESTROY PROTOCOL);
 * (2) reuses an open link to the relay with identity_key (one it opened or one the relay
 *     opened to it and proved that identity on) only if the link's remote address is one of
 *     the addresses in link_specifiers or an address the current consensus lists for that
 *     identity (Tor's canonical-connection rule; IPv4-mapped IPv6 counts as its IPv4 form,
 *     ports are not compared). Otherwise it opens a new link to the first address and checks
 *     the link-level identity proof against identity_key: a mismatch fails the extension with
 *     OR_IDENTITY, a failed connection with CONNECTFAILED (see EXTENSION FAILURE at Truncate).
 *     Several links to one identity may then be open; a link to an address nobody named is
 *     never handed to a circuit that named another;
 * (3) sends CREATE2 with the given handshake on a new circuit id of that link, and answers the
 *     client with EXTENDED2 carrying the CREATED2 data.
 *
 * @generated from message meowonion.v1.Extend2
 */
export type Extend2 = Message<"meowonion.v1.Extend2"> & {
  /**
   * At least one address and exactly one identity key. At most 4 entries.
   *
   * @generated from field: repeated meowonion.v1.LinkSpecifier link_specifiers = 1;
   */
  linkSpecifiers: LinkSpecifier[];

  /**
   * The CREATE2 to send to the next relay.
   *
   * @generated from field: meowonion.v1.Create2 create2 = 2;
   */
  create2?: Create2 | undefined;
};

/**
 * Describes the message meowonion.v1.Extend2.
 * Use `create(Extend2Schema)` to create a new message.
 */
export const Extend2Schema: GenMessage<Extend2> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_relay, 6);

/**
 * EXTENDED2: the CREATED2 reply of the new hop, relayed to the client.
 *
 * @generated from message meowonion.v1.Extended2
 */
export type Extended2 = Message<"meowonion.v1.Extended2"> & {
  /**
   * Server handshake message (ntor: Y | AUTH, 64 bytes).
   *
   * @generated from field: bytes handshake_data = 1;
   */
  handshakeData: Uint8Array;
};

/**
 * Describes the message meowonion.v1.Extended2.
 * Use `create(Extended2Schema)` to create a new message.
 */
export const Extended2Schema: GenMessage<Extended2> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_relay, 7);

/**
 * TRUNCATE: tear down the circuit beyond the recognizing hop (which sends DESTROY REQUESTED
 * forward and answers TRUNCATED REQUESTED). The circuit then ends at that hop, and the client
 * drops the keys of the hops beyond it when TRUNCATED arrives (not before: cells from them may
 * still be on the way); it may extend the circuit again (EXTEND2, within its RELAY_EARLY
 * budget), to the same relay or another.
 *
 * EXTENSION FAILURE: when an extension fails at the extending relay (no link to the next relay,
 * OR_IDENTITY, no CREATED2 within its extend timeout, no room on that link, or DESTROY from the
 * next relay in answer to CREATE2), the relay sends DESTROY forward if it had sent CREATE2
 * (reason as it judged, e.g. TIMEOUT), answers the client with TRUNCATED (the reason) and keeps
 * the circuit, which now ends at it again, as after TRUNCATE. A client SHOULD then extend to a
 * substitute relay chosen by the same path rules (consensus.proto PATH SELECTION; never the
 * relay that failed) rather than build a new circuit; or destroy the circuit. A DESTROY from
 * the next relay of a circuit that is not extending, or the loss of that link, still destroys
 * the whole circuit (DESTROY back towards the client).
 *
 * @generated from message meowonion.v1.Truncate
 */
export type Truncate = Message<"meowonion.v1.Truncate"> & {
};

/**
 * Describes the message meowonion.v1.Truncate.
 * Use `create(TruncateSchema)` to create a new message.
 */
export const TruncateSchema: GenMessage<Truncate> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_relay, 8);

/**
 * TRUNCATED: the circuit now ends at the sending hop.
 *
 * @generated from message meowonion.v1.Truncated
 */
export type Truncated = Message<"meowonion.v1.Truncated"> & {
  /**
   * Why the rest of the circuit went away.
   *
   * @generated from field: meowonion.v1.DestroyReason reason = 1;
   */
  reason: DestroyReason;
};

/**
 * Describes the message meowonion.v1.Truncated.
 * Use `create(TruncatedSchema)` to create a new message.
 */
export const TruncatedSchema: GenMessage<Truncated> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_relay, 9);

/**
 * DROP: padding cell, discarded by the hop that recognizes it.
 *
 * @generated from message meowonion.v1.Drop
 */
export type Drop = Message<"meowonion.v1.Drop"> & {
};

/**
 * Describes the message meowonion.v1.Drop.
 * Use `create(DropSchema)` to create a new message.
 */
export const DropSchema: GenMessage<Drop> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_relay, 10);

/**
 * RESOLVE: resolve a hostname at the exit (like BEGIN without connecting). A relay whose exit
 * policy accepts nothing answers END (EXITPOLICY). The exit answers only with the addresses
 * its exit policy lets a stream reach on some port (it tells a client nothing about addresses
 * it would not connect it to); when the name resolves only to others, END (EXITPOLICY).
 *
 * @generated from message meowonion.v1.Resolve
 */
export type Resolve = Message<"meowonion.v1.Resolve"> & {
  /**
   * As Begin.host: a DNS name or an IP literal; anything else gets END (TORPROTOCOL).
   *
   * @generated from field: string host = 1;
   */
  host: string;
};

/**
 * Describes the message meowonion.v1.Resolve.
 * Use `create(ResolveSchema)` to create a new message.
 */
export const ResolveSchema: GenMessage<Resolve> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_relay, 11);

/**
 * One answer in RESOLVED.
 *
 * @generated from message meowonion.v1.ResolvedAnswer
 */
export type ResolvedAnswer = Message<"meowonion.v1.ResolvedAnswer"> & {
  /**
   * IPv4 or IPv6 literal.
   *
   * @generated from field: string address = 1;
   */
  address: string;

  /**
   * Cache lifetime, seconds.
   *
   * @generated from field: uint32 ttl_seconds = 2;
   */
  ttlSeconds: number;
};

/**
 * Describes the message meowonion.v1.ResolvedAnswer.
 * Use `create(ResolvedAnswerSchema)` to create a new message.
 */
export const ResolvedAnswerSchema: GenMessage<ResolvedAnswer> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_relay, 12);

/**
 * RESOLVED: the answers to RESOLVE. Empty `answers` means the name did not resolve.
 *
 * @generated from message meowonion.v1.Resolved
 */
export type Resolved = Message<"meowonion.v1.Resolved"> & {
  /**
   * At most 16 answers.
   *
   * @generated from field: repeated meowonion.v1.ResolvedAnswer answers = 1;
   */
  answers: ResolvedAnswer[];
};

/**
 * Describes the message meowonion.v1.Resolved.
 * Use `create(ResolvedSchema)` to create a new message.
 */
export const ResolvedSchema: GenMessage<Resolved> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_relay, 13);

/**
 * XOFF: stop sending DATA on this stream until XON (see CONGESTION CONTROL).
 *
 * @generated from message meowonion.v1.Xoff
 */
export type Xoff = Message<"meowonion.v1.Xoff"> & {
};

/**
 * Describes the message meowonion.v1.Xoff.
 * Use `create(XoffSchema)` to create a new message.
 */
export const XoffSchema: GenMessage<Xoff> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_relay, 14);

/**
 * XON: resume sending DATA on this stream.
 *
 * @generated from message meowonion.v1.Xon
 */
export type Xon = Message<"meowonion.v1.Xon"> & {
};

/**
 * Describes the message meowonion.v1.Xon.
 * Use `create(XonSchema)` to create a new message.
 */
export const XonSchema: GenMessage<Xon> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_relay, 15);

/**
 * CONGESTION_CONTROL_REQUEST: the client asks the last hop for congestion control.
 *
 * @generated from message meowonion.v1.CongestionControlRequest
 */
export type CongestionControlRequest = Message<"meowonion.v1.CongestionControlRequest"> & {
  /**
   * The version asked for: 1 (the only one defined). Other values: the hop answers 0.
   *
   * @generated from field: uint32 version = 1;
   */
  version: number;
};

/**
 * Describes the message meowonion.v1.CongestionControlRequest.
 * Use `create(CongestionControlRequestSchema)` to create a new message.
 */
export const CongestionControlRequestSchema: GenMessage<CongestionControlRequest> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_relay, 16);

/**
 * CONGESTION_CONTROL_RESPONSE: the version the last hop adopted, 1, or 0 (declined).
 *
 * @generated from message meowonion.v1.CongestionControlResponse
 */
export type CongestionControlResponse = Message<"meowonion.v1.CongestionControlResponse"> & {
  /**
   * @generated from field: uint32 version = 1;
   */
  version: number;
};

/**
 * Describes the message meowonion.v1.CongestionControlResponse.
 * Use `create(CongestionControlResponseSchema)` to create a new message.
 */
export const CongestionControlResponseSchema: GenMessage<CongestionControlResponse> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_relay, 17);

/**
 * Relay commands; numbers are Tor's (tor-spec 6.1). The name says which body follows.
 *
 * @generated from enum meowonion.v1.RelayCommand
 */
export enum RelayCommand {
  /**
   * @generated from enum value: RELAY_COMMAND_UNSPECIFIED = 0;
   */
  UNSPECIFIED = 0,

  /**
   * Begin, client → exit, stream_id nonzero and new on this circuit.
   *
   * @generated from enum value: RELAY_COMMAND_BEGIN = 1;
   */
  BEGIN = 1,

  /**
   * Raw stream bytes, both ways, stream_id of an open stream.
   *
   * @generated from enum value: RELAY_COMMAND_DATA = 2;
   */
  DATA = 2,

  /**
   * End, both ways, closes the stream (half-close semantics: see End).
   *
   * @generated from enum value: RELAY_COMMAND_END = 3;
   */
  END = 3,

  /**
   * Connected, exit → client, answer to BEGIN.
   *
   * @generated from enum value: RELAY_COMMAND_CONNECTED = 4;
   */
  CONNECTED = 4,

  /**
   * Sendme, both ways; stream_id 0 = circuit level, otherwise stream level.
   *
   * @generated from enum value: RELAY_COMMAND_SENDME = 5;
   */
  SENDME = 5,

  /**
   * Truncate, client → hop k, stream_id 0: hop k destroys everything after itself.
   *
   * @generated from enum value: RELAY_COMMAND_TRUNCATE = 8;
   */
  TRUNCATE = 8,

  /**
   * Truncated, hop k → client, stream_id 0: the circuit now ends at hop k.
   *
   * @generated from enum value: RELAY_COMMAND_TRUNCATED = 9;
   */
  TRUNCATED = 9,

  /**
   * Drop, both ways, stream_id 0: long-range padding; the recognizing hop discards it.
   *
   * @generated from enum value: RELAY_COMMAND_DROP = 10;
   */
  DROP = 10,

  /**
   * Resolve, client → exit, stream_id nonzero: resolve a hostname at the exit.
   *
   * @generated from enum value: RELAY_COMMAND_RESOLVE = 11;
   */
  RESOLVE = 11,

  /**
   * Resolved, exit → client, same stream_id: the answer; the stream is then closed.
   *
   * @generated from enum value: RELAY_COMMAND_RESOLVED = 12;
   */
  RESOLVED = 12,

  /**
   * BeginDir, client → the hop itself, stream_id nonzero and new: a directory stream to the
   * recognizing relay (onion_service.proto: HsDirRequest/HsDirResponse). CONNECTED (empty
   * address) or END NOTDIRECTORY if the relay is not an HSDir.
   *
   * @generated from enum value: RELAY_COMMAND_BEGIN_DIR = 13;
   */
  BEGIN_DIR = 13,

  /**
   * Extend2, client → last hop, stream_id 0, only in RELAY_EARLY frames.
   *
   * @generated from enum value: RELAY_COMMAND_EXTEND2 = 14;
   */
  EXTEND2 = 14,

  /**
   * Extended2, last hop → client, stream_id 0.
   *
   * @generated from enum value: RELAY_COMMAND_EXTENDED2 = 15;
   */
  EXTENDED2 = 15,

  /**
   * The onion-service messages (onion_service.proto), all stream_id 0. EstablishIntro, service
   * → intro point.
   *
   * @generated from enum value: RELAY_COMMAND_ESTABLISH_INTRO = 32;
   */
  ESTABLISH_INTRO = 32,

  /**
   * EstablishRendezvous, client → rendezvous point.
   *
   * @generated from enum value: RELAY_COMMAND_ESTABLISH_RENDEZVOUS = 33;
   */
  ESTABLISH_RENDEZVOUS = 33,

  /**
   * Introduce1, client → intro point.
   *
   * @generated from enum value: RELAY_COMMAND_INTRODUCE1 = 34;
   */
  INTRODUCE1 = 34,

  /**
   * Introduce1 relayed unchanged, intro point → service.
   *
   * @generated from enum value: RELAY_COMMAND_INTRODUCE2 = 35;
   */
  INTRODUCE2 = 35,

  /**
   * Rendezvous1, service → rendezvous point.
   *
   * @generated from enum value: RELAY_COMMAND_RENDEZVOUS1 = 36;
   */
  RENDEZVOUS1 = 36,

  /**
   * Rendezvous2, rendezvous point → client.
   *
   * @generated from enum value: RELAY_COMMAND_RENDEZVOUS2 = 37;
   */
  RENDEZVOUS2 = 37,

  /**
   * IntroEstablished, intro point → service.
   *
   * @generated from enum value: RELAY_COMMAND_INTRO_ESTABLISHED = 38;
   */
  INTRO_ESTABLISHED = 38,

  /**
   * RendezvousEstablished, rendezvous point → client.
   *
   * @generated from enum value: RELAY_COMMAND_RENDEZVOUS_ESTABLISHED = 39;
   */
  RENDEZVOUS_ESTABLISHED = 39,

  /**
   * IntroduceAck, intro point → client.
   *
   * @generated from enum value: RELAY_COMMAND_INTRODUCE_ACK = 40;
   */
  INTRODUCE_ACK = 40,

  /**
   * Xoff, either end → the other, stream_id set: stop sending DATA on this stream (see
   * CONGESTION CONTROL).
   *
   * @generated from enum value: RELAY_COMMAND_XOFF = 43;
   */
  XOFF = 43,

  /**
   * Xon, either end → the other, stream_id set: resume sending DATA on this stream.
   *
   * @generated from enum value: RELAY_COMMAND_XON = 44;
   */
  XON = 44,

  /**
   * CongestionControlRequest, client → last hop, stream_id 0 (see CONGESTION CONTROL).
   *
   * @generated from enum value: RELAY_COMMAND_CONGESTION_CONTROL_REQUEST = 45;
   */
  CONGESTION_CONTROL_REQUEST = 45,

  /**
   * CongestionControlResponse, last hop → client, stream_id 0.
   *
   * @generated from enum value: RELAY_COMMAND_CONGESTION_CONTROL_RESPONSE = 46;
   */
  CONGESTION_CONTROL_RESPONSE = 46,
}

/**
 * Describes the enum meowonion.v1.RelayCommand.
 */
export const RelayCommandSchema: GenEnum<RelayCommand> = /*@__PURE__*/
  enumDesc(file_meowonion_v1_relay, 0);

/**
 * Why a stream ended. Numbers follow Tor's END reasons (tor-spec 6.3).
 *
 * @generated from enum meowonion.v1.EndReason
 */
export enum EndReason {
  /**
   * @generated from enum value: END_REASON_UNSPECIFIED = 0;
   */
  UNSPECIFIED = 0,

  /**
   * Catch-all for unlisted reasons.
   *
   * @generated from enum value: END_REASON_MISC = 1;
   */
  MISC = 1,

  /**
   * The exit could not resolve the hostname.
   *
   * @generated from enum value: END_REASON_RESOLVEFAILED = 2;
   */
  RESOLVEFAILED = 2,

  /**
   * The destination refused the TCP connection.
   *
   * @generated from enum value: END_REASON_CONNECTREFUSED = 3;
   */
  CONNECTREFUSED = 3,

  /**
   * The exit policy forbids this address/port.
   *
   * @generated from enum value: END_REASON_EXITPOLICY = 4;
   */
  EXITPOLICY = 4,

  /**
   * The circuit is being destroyed.
   *
   * @generated from enum value: END_REASON_DESTROY = 5;
   */
  DESTROY = 5,

  /**
   * The connection closed normally (FIN).
   *
   * @generated from enum value: END_REASON_DONE = 6;
   */
  DONE = 6,

  /**
   * Connecting (or the connection) timed out.
   *
   * @generated from enum value: END_REASON_TIMEOUT = 7;
   */
  TIMEOUT = 7,

  /**
   * No route to the destination host.
   *
   * @generated from enum value: END_REASON_NOROUTE = 8;
   */
  NOROUTE = 8,

  /**
   * The relay is shutting down.
   *
   * @generated from enum value: END_REASON_HIBERNATING = 9;
   */
  HIBERNATING = 9,

  /**
   * Internal error at the exit.
   *
   * @generated from enum value: END_REASON_INTERNAL = 10;
   */
  INTERNAL = 10,

  /**
   * The exit is out of resources (too many streams, memory).
   *
   * @generated from enum value: END_REASON_RESOURCELIMIT = 11;
   */
  RESOURCELIMIT = 11,

  /**
   * The destination reset the connection.
   *
   * @generated from enum value: END_REASON_CONNRESET = 12;
   */
  CONNRESET = 12,

  /**
   * Protocol violation on the stream (bad BEGIN, unknown stream, window violation).
   *
   * @generated from enum value: END_REASON_TORPROTOCOL = 13;
   */
  TORPROTOCOL = 13,

  /**
   * Not a directory relay (unused here, kept for Tor's numbering).
   *
   * @generated from enum value: END_REASON_NOTDIRECTORY = 14;
   */
  NOTDIRECTORY = 14,
}

/**
 * Describes the enum meowonion.v1.EndReason.
 */
export const EndReasonSchema: GenEnum<EndReason> = /*@__PURE__*/
  enumDesc(file_meowonion_v1_relay, 1);

