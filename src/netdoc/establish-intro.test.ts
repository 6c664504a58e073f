import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { generateEd25519KeyPair } from "../onion/signing.js";
import { establishIntroAuthentic, signEstablishIntro } from "./establish-intro.js";

describe("ESTABLISH_INTRO", () => {
  it("authenticates on its own circuit only, and with its auth key's signature only", () => {
    const authKey = generateEd25519KeyPair();
    const nonce = randomBytes(20);
    const message = signEstablishIntro(authKey, nonce, { rate: 5, burst: 10 });
    expect(establishIntroAuthentic(message, nonce)).toBe(true);
    // Replayed on another circuit: another nonce.
    expect(establishIntroAuthentic(message, randomBytes(20))).toBe(false);
    // Another key claimed, or the DoS parameters changed: the signature no longer holds.
    expect(establishIntroAuthentic({ ...message, authKey: generateEd25519KeyPair().publicKey }, nonce)).toBe(false);
    expect(establishIntroAuthentic({ ...message, introduceRate: 500 }, nonce)).toBe(false);
    expect(establishIntroAuthentic({ ...message, handshakeAuth: message.handshakeAuth.subarray(1) }, nonce)).toBe(false);
  });
});
