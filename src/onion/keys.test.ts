import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { OnionError } from "./errors.js";
import { decodeKeyFile, encodeKeyFile, fingerprintHex } from "./keys.js";
import { relayIdFromIdentity } from "./ntor.js";

function expectKeyFileError(fn: () => unknown): void {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(OnionError);
  expect((thrown as OnionError).reason).toBe("key-file");
}

describe("key file format", () => {
  it("writes one documented line", () => {
    const secret = Buffer.alloc(32, 1);
    expect(encodeKeyFile("x25519-onion-secret", secret)).toBe(
      `meowonion-key-v1 x25519-onion-secret ${secret.toString("base64")}\n`,
    );
  });

  it("round-trips any 32-byte secret of either kind", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.constantFrom("ed25519-identity-secret" as const, "x25519-onion-secret" as const),
        (secret, kind) => {
          const text = encodeKeyFile(kind, secret);
          expect(Buffer.from(decodeKeyFile(kind, text)).equals(secret)).toBe(true);
          expect(Buffer.from(decodeKeyFile(kind, text.trimEnd())).equals(secret)).toBe(true);
        },
      ),
    );
  });

  it("refuses the wrong kind", () => {
    const text = encodeKeyFile("x25519-onion-secret", randomBytes(32));
    expectKeyFileError(() => decodeKeyFile("ed25519-identity-secret", text));
  });

  it("refuses garbage", () => {
    const b64 = randomBytes(32).toString("base64");
    const bad = [
      "",
      "\n",
      "hello",
      `meowonion-key-v2 x25519-onion-secret ${b64}\n`,
      `meowonion-key-v1 x25519-onion-secret\n`,
      `meowonion-key-v1 x25519-onion-secret ${b64} extra\n`,
      `meowonion-key-v1  x25519-onion-secret ${b64}\n`,
      `meowonion-key-v1 x25519-onion-secret ${b64}\r\n`,
      `meowonion-key-v1 x25519-onion-secret ${b64}\n\n`,
      `meowonion-key-v1 x25519-onion-secret ${randomBytes(31).toString("base64")}\n`,
      `meowonion-key-v1 x25519-onion-secret ${randomBytes(33).toString("base64")}\n`,
      `meowonion-key-v1 x25519-onion-secret ${b64.slice(0, 10)}!${b64.slice(10)}\n`,
      `meowonion-key-v1 x25519-onion-secret ${randomBytes(32).toString("base64url")}_\n`,
    ];
    for (const text of bad) expectKeyFileError(() => decodeKeyFile("x25519-onion-secret", text));
  });

  it("refuses to encode a secret that is not 32 bytes", () => {
    expectKeyFileError(() => encodeKeyFile("ed25519-identity-secret", randomBytes(64)));
  });
});

describe("fingerprintHex", () => {
  it("is the hex relay ID", () => {
    const identity = randomBytes(32);
    const fp = fingerprintHex(identity);
    expect(fp).toMatch(/^[0-9a-f]{40}$/);
    expect(fp).toBe(Buffer.from(relayIdFromIdentity(identity)).toString("hex"));
  });
});
