/**
 * On-disk key file format (pure encode/decode; src/common/key-store.ts does the file I/O):
 * one line `meowonion-key-v1 <kind> <base64 of the 32-byte secret>\n`. The kind is written
 * into the file so an onion key can never be loaded as an identity key or vice versa.
 */
import { OnionError } from "./errors.js";
import { relayIdFromIdentity } from "./ntor.js";

export const KEY_FILE_MAGIC = "meowonion-key-v1";
export const KEY_SECRET_LEN = 32;

export type KeyKind = "ed25519-identity-secret" | "x25519-onion-secret";

export function encodeKeyFile(kind: KeyKind, secret: Uint8Array): string {
  if (secret.length !== KEY_SECRET_LEN) {
    throw new OnionError("key-file", `a ${kind} must be ${KEY_SECRET_LEN} bytes`);
  }
  return `${KEY_FILE_MAGIC} ${kind} ${Buffer.from(secret).toString("base64")}\n`;
}

/** Strict: exactly what encodeKeyFile writes (the final newline may be missing). */
export function decodeKeyFile(kind: KeyKind, text: string): Uint8Array {
  const line = text.endsWith("\n") ? text.slice(0, -1) : text;
  const fields = line.split(" ");
  if (fields.length !== 3 || fields[0] !== KEY_FILE_MAGIC) {
    throw new OnionError("key-file", "not a meowonion-key-v1 key file");
  }
  if (fields[1] !== kind) {
    const found = JSON.stringify(fields[1].slice(0, 40));
    throw new OnionError("key-file", `expected a ${kind} key file, found ${found}`);
  }
  const secret = Buffer.from(fields[2], "base64");
  // Node's base64 decoder skips junk silently; re-encoding catches it.
  if (secret.length !== KEY_SECRET_LEN || secret.toString("base64") !== fields[2]) {
    throw new OnionError("key-file", "malformed key in key file");
  }
  return secret;
}

/** Hex of the 20-byte relay ID, for logs. */
export function fingerprintHex(identityKey: Uint8Array): string {
  return Buffer.from(relayIdFromIdentity(identityKey)).toString("hex");
}
