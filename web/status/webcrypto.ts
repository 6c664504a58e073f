/**
 * What the page computes with the browser's WebCrypto: relay fingerprints (SHA-256) and the
 * check of each authority's Ed25519 signature over the consensus. WebCrypto exists only in a
 * secure context (https, or http to localhost / 127.0.0.1) and Ed25519 only in current
 * browsers; without them the page shows identity keys for fingerprints and says that the
 * signatures were not checked, rather than guessing.
 */
import type { SignedConsensus } from "../../gen/meowonion/v1/consensus_pb.js";
import { toHex } from "./format.js";

// consensus.proto, SignedConsensus: "meowonion-consensus-v1" | 0x00 | consensus.
const CONSENSUS_DOMAIN = "meowonion-consensus-v1";

export type SignatureStatus = "valid" | "invalid" | "missing" | "unchecked";

export interface AuthorityStatus {
  /** Ed25519 key, hex. */
  key: string;
  status: SignatureStatus;
}

const fingerprints = new Map<string, string>();

/** First 20 bytes of SHA-256(identity key), hex; the identity key itself without WebCrypto. */
export async function fingerprintOf(identityKey: Uint8Array): Promise<string> {
  const id = toHex(identityKey);
  const subtle = globalThis.crypto?.subtle;
  if (subtle === undefined) return id;
  let fingerprint = fingerprints.get(id);
  if (fingerprint === undefined) {
    fingerprint = toHex(new Uint8Array(await subtle.digest("SHA-256", copy(identityKey))).subarray(0, 20));
    fingerprints.set(id, fingerprint);
  }
  return fingerprint;
}

/** Each listed authority's signature: there and valid, there and invalid, or missing. */
export async function authorityStatuses(signed: SignedConsensus, authorityKeys: Uint8Array[]): Promise<AuthorityStatus[]> {
  const prefix = new TextEncoder().encode(`${CONSENSUS_DOMAIN}\0`);
  const message = new Uint8Array(prefix.length + signed.consensus.length);
  message.set(prefix);
  message.set(signed.consensus, prefix.length);
  return Promise.all(
    authorityKeys.map(async (key) => {
      const hex = toHex(key);
      const signature = signed.signatures.find((s) => toHex(s.authorityKey) === hex);
      return { key: hex, status: signature === undefined ? "missing" : await verify(key, signature.signature, message) };
    }),
  );
}

/** A majority of the n authorities, floor(n/2)+1: what a client needs (consensus.proto, VALIDITY). */
export function signaturesNeeded(authorities: number): number {
  return Math.floor(authorities / 2) + 1;
}

async function verify(key: Uint8Array, signature: Uint8Array, message: Uint8Array<ArrayBuffer>): Promise<SignatureStatus> {
  const subtle = globalThis.crypto?.subtle;
  if (subtle === undefined) return "unchecked";
  try {
    const publicKey = await subtle.importKey("raw", copy(key), { name: "Ed25519" }, false, ["verify"]);
    return (await subtle.verify({ name: "Ed25519" }, publicKey, copy(signature), message)) ? "valid" : "invalid";
  } catch (err) {
    // NotSupportedError: this browser has no Ed25519; anything else is a malformed key.
    return (err as Error).name === "NotSupportedError" ? "unchecked" : "invalid";
  }
}

/** WebCrypto wants bytes on a plain ArrayBuffer. */
function copy(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(bytes);
}
