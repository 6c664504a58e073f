/**
 * The worker-thread verifier answers exactly as signing.ts's verifyWithDomain: valid,
 * tampered, wrong key, wrong domain, malformed lengths; in batches larger than one message;
 * and still answers after close().
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { DOMAIN_DESCRIPTOR, DOMAIN_HEARTBEAT, generateEd25519KeyPair, signWithDomain, verifyWithDomain } from "../onion/signing.js";
import { createSignatureVerifier } from "./verify-pool.js";

describe("SignatureVerifier (worker threads)", () => {
  it("agrees with verifyWithDomain on every case", async () => {
    const verifier = createSignatureVerifier(2);
    try {
      const key = generateEd25519KeyPair();
      const other = generateEd25519KeyPair();
      const cases = Array.from({ length: 600 }, (_, i) => {
        const message = randomBytes(50 + (i % 300));
        let signature = signWithDomain(DOMAIN_DESCRIPTOR, message, key.privateKey);
        let publicKey = key.publicKey;
        let domain = DOMAIN_DESCRIPTOR;
        switch (i % 6) {
          case 1:
            signature = Buffer.from(signature);
            signature[i % 64] ^= 1;
            break;
          case 2:
            publicKey = other.publicKey;
            break;
          case 3:
            domain = DOMAIN_HEARTBEAT;
            break;
          case 4:
            signature = signature.subarray(0, 63);
            break;
          case 5:
            publicKey = new Uint8Array(32); // not a valid point for this signature
            break;
        }
        return [domain, message, signature, publicKey] as const;
      });
      const answers = await Promise.all(cases.map((c) => verifier.verify(...c)));
      expect(answers).toEqual(cases.map((c) => verifyWithDomain(...c)));
      expect(answers.filter(Boolean)).toHaveLength(100);
    } finally {
      await verifier.close();
    }
  });

  it("still answers after close()", async () => {
    const verifier = createSignatureVerifier(1);
    await verifier.close();
    const key = generateEd25519KeyPair();
    const message = randomBytes(10);
    expect(await verifier.verify(DOMAIN_DESCRIPTOR, message, signWithDomain(DOMAIN_DESCRIPTOR, message, key.privateKey), key.publicKey)).toBe(true);
  });
});
