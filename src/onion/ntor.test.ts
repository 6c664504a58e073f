import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { OnionError, type OnionErrorReason } from "./errors.js";
import { hkdfSha256 } from "./kdf.js";
import {
  EphemeralKeys,
  KEY_MATERIAL_LEN,
  NTOR_ONIONSKIN_LEN,
  NTOR_REPLY_LEN,
  generateX25519KeyPair,
  ntorClientFinish,
  ntorClientPrecompute,
  ntorClientStart,
  ntorServerRespond,
  relayIdFromIdentity,
  x25519PublicFromPrivate,
} from "./ntor.js";

const vector = JSON.parse(
  readFileSync(new URL("../../conformance/vectors/ntor-v1.json", import.meta.url), "utf8"),
) as Record<string, string> & { keys_split: Record<"Df" | "Db" | "Kf" | "Kb", string> };

const unhex = (s: string) => Buffer.from(s, "hex");
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

function expectOnionError(fn: () => unknown, reason: OnionErrorReason): void {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(OnionError);
  expect((thrown as OnionError).reason).toBe(reason);
}

const relayId = unhex(vector.relay_identity_id_20);
const onion = {
  publicKey: unhex(vector.relay_onion_public_B),
  privateKey: unhex(vector.relay_onion_secret_b),
};
const clientEphemeral = {
  publicKey: unhex(vector.client_ephemeral_public_X),
  privateKey: unhex(vector.client_ephemeral_secret_x),
};
const serverEphemeral = {
  publicKey: unhex(vector.server_ephemeral_public_Y),
  privateKey: unhex(vector.server_ephemeral_secret_y),
};

describe("ntor test vector (Arti / tor-spec 5.1.4)", () => {
  it("derives the public keys from the secrets", () => {
    expect(hex(x25519PublicFromPrivate(onion.privateKey))).toBe(vector.relay_onion_public_B);
    expect(hex(x25519PublicFromPrivate(clientEphemeral.privateKey))).toBe(
      vector.client_ephemeral_public_X,
    );
    expect(hex(x25519PublicFromPrivate(serverEphemeral.privateKey))).toBe(
      vector.server_ephemeral_public_Y,
    );
  });

  it("reproduces onionskin, reply and keys byte for byte", () => {
    const { state, onionskin } = ntorClientStart(relayId, onion.publicKey, clientEphemeral);
    expect(hex(onionskin)).toBe(vector.client_handshake_ID_B_X);

    const server = ntorServerRespond(onionskin, relayId, [onion], serverEphemeral);
    expect(hex(server.reply)).toBe(vector.server_handshake_Y_AUTH);
    expect(server.keyMaterial.length).toBe(KEY_MATERIAL_LEN);
    expect(hex(server.keyMaterial.subarray(0, 72))).toBe(vector.keys_72);

    const clientKeys = ntorClientFinish(state, server.reply);
    expect(hex(clientKeys)).toBe(hex(server.keyMaterial));

    const { Df, Db, Kf, Kb } = vector.keys_split;
    expect(hex(clientKeys.subarray(0, 20))).toBe(Df);
    expect(hex(clientKeys.subarray(20, 40))).toBe(Db);
    expect(hex(clientKeys.subarray(40, 56))).toBe(Kf);
    expect(hex(clientKeys.subarray(56, 72))).toBe(Kb);
  });

  it("gives the same keys when the client's EXP(B, x) was computed ahead", () => {
    const { state, onionskin } = ntorClientStart(relayId, onion.publicKey, clientEphemeral);
    ntorClientPrecompute(state);
    const server = ntorServerRespond(onionskin, relayId, [onion], serverEphemeral);
    expect(hex(ntorClientFinish(state, server.reply).subarray(0, 72))).toBe(vector.keys_72);
  });
});

describe("ntor handshake", () => {
  const identity = randomBytes(32);
  const id = relayIdFromIdentity(identity);

  it("round-trips with random keys, current or previous onion key", () => {
    const current = generateX25519KeyPair();
    const previous = generateX25519KeyPair();
    for (const used of [current, previous]) {
      const { state, onionskin } = ntorClientStart(id, used.publicKey);
      expect(onionskin.length).toBe(NTOR_ONIONSKIN_LEN);
      const { reply, keyMaterial } = ntorServerRespond(onionskin, id, [current, previous]);
      expect(reply.length).toBe(NTOR_REPLY_LEN);
      const clientKeys = ntorClientFinish(state, reply);
      expect(clientKeys.length).toBe(KEY_MATERIAL_LEN);
      expect(hex(clientKeys)).toBe(hex(keyMaterial));
    }
  });

  it("gives distinct keys to distinct handshakes", () => {
    const onionKey = generateX25519KeyPair();
    const keys = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const { onionskin } = ntorClientStart(id, onionKey.publicKey);
      keys.add(hex(ntorServerRespond(onionskin, id, [onionKey]).keyMaterial));
    }
    expect(keys.size).toBe(5);
  });

  it("never uses an ephemeral twice, made ahead or on demand, on either side", async () => {
    const onionKey = generateX25519KeyPair();
    const client = new EphemeralKeys(3);
    const relay = new EphemeralKeys(3);
    const ephemerals = new Set<string>();
    for (let round = 0; round < 3; round++) {
      // Several handshakes in one tick use up the spares and make the rest on demand; the
      // spares are made again in between rounds.
      await Promise.all([client.whenFull(), relay.whenFull()]);
      expect([client.spares, relay.spares]).toEqual([3, 3]);
      for (let i = 0; i < 5; i++) {
        const { state, onionskin } = ntorClientStart(id, onionKey.publicKey, client);
        const { reply, keyMaterial } = ntorServerRespond(onionskin, id, [onionKey], relay);
        expect(hex(ntorClientFinish(state, reply))).toBe(hex(keyMaterial));
        ephemerals.add(hex(onionskin.subarray(52, 84)));
        ephemerals.add(hex(reply.subarray(0, 32)));
      }
      expect([client.spares, relay.spares]).toEqual([0, 0]);
    }
    // And without a pool, each handshake makes its own.
    for (let i = 0; i < 2; i++) {
      const { onionskin } = ntorClientStart(id, onionKey.publicKey);
      ephemerals.add(hex(onionskin.subarray(52, 84)));
      ephemerals.add(hex(ntorServerRespond(onionskin, id, [onionKey]).reply.subarray(0, 32)));
    }
    expect(ephemerals.size).toBe(34);
  });

  it("makes spares again after handshakes take them, off the turn that took them", async () => {
    const onionKey = generateX25519KeyPair();
    const client = new EphemeralKeys(2);
    await client.whenFull();
    const { onionskin } = ntorClientStart(id, onionKey.publicKey, client);
    const taken = hex(onionskin.subarray(52, 84));
    expect(client.spares).toBe(1);
    await client.whenFull();
    expect(client.spares).toBe(2);
    const next = new Set<string>();
    for (let i = 0; i < 2; i++) next.add(hex(ntorClientStart(id, onionKey.publicKey, client).onionskin.subarray(52, 84)));
    expect(next.size).toBe(2);
    expect(next.has(taken)).toBe(false);
  });

  it("refuses a bad AUTH or a tampered Y", () => {
    const onionKey = generateX25519KeyPair();
    for (const bit of [0, 7 * 8 + 3, 32 * 8, 63 * 8 + 7]) {
      const { state, onionskin } = ntorClientStart(id, onionKey.publicKey);
      const { reply } = ntorServerRespond(onionskin, id, [onionKey]);
      const bad = Buffer.from(reply);
      bad[bit >> 3] ^= 1 << (bit & 7);
      expectOnionError(() => ntorClientFinish(state, bad), "handshake-failed");
    }
  });

  it("refuses an all-zero public key on either side", () => {
    const onionKey = generateX25519KeyPair();
    const { state, onionskin } = ntorClientStart(id, onionKey.publicKey);
    const zeroX = Buffer.from(onionskin);
    zeroX.fill(0, 52, 84);
    expectOnionError(() => ntorServerRespond(zeroX, id, [onionKey]), "handshake-failed");

    const { reply } = ntorServerRespond(onionskin, id, [onionKey]);
    const zeroY = Buffer.from(reply);
    zeroY.fill(0, 0, 32);
    expectOnionError(() => ntorClientFinish(state, zeroY), "handshake-failed");
  });

  it("refuses an onionskin for another relay ID or an unknown onion key", () => {
    const onionKey = generateX25519KeyPair();
    const { onionskin } = ntorClientStart(id, onionKey.publicKey);
    const otherId = relayIdFromIdentity(randomBytes(32));
    expectOnionError(() => ntorServerRespond(onionskin, otherId, [onionKey]), "handshake-failed");
    expectOnionError(
      () => ntorServerRespond(onionskin, id, [generateX25519KeyPair()]),
      "handshake-failed",
    );
    expectOnionError(() => ntorServerRespond(onionskin, id, []), "handshake-failed");
  });

  it("refuses wrong lengths", () => {
    const onionKey = generateX25519KeyPair();
    const { state, onionskin } = ntorClientStart(id, onionKey.publicKey);
    expectOnionError(
      () => ntorServerRespond(onionskin.subarray(0, 83), id, [onionKey]),
      "handshake-failed",
    );
    expectOnionError(
      () => ntorServerRespond(Buffer.concat([onionskin, Buffer.of(0)]), id, [onionKey]),
      "handshake-failed",
    );
    const { reply } = ntorServerRespond(onionskin, id, [onionKey]);
    expectOnionError(() => ntorClientFinish(state, reply.subarray(0, 63)), "handshake-failed");
    expectOnionError(() => ntorClientStart(id.subarray(0, 19), onionKey.publicKey), "bad-key");
    expectOnionError(() => ntorClientStart(id, onionKey.publicKey.subarray(1)), "bad-key");
  });
});

describe("relayIdFromIdentity", () => {
  it("is the first 20 bytes of SHA-256 of the identity key", () => {
    const identity = randomBytes(32);
    const expected = createHash("sha256").update(identity).digest().subarray(0, 20);
    expect(hex(relayIdFromIdentity(identity))).toBe(hex(expected));
  });

  it("refuses a key that is not 32 bytes", () => {
    expectOnionError(() => relayIdFromIdentity(randomBytes(31)), "bad-key");
  });
});

describe("hkdfSha256", () => {
  it("matches RFC 5869 test case 1", () => {
    const okm = hkdfSha256(
      unhex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"),
      unhex("000102030405060708090a0b0c"),
      unhex("f0f1f2f3f4f5f6f7f8f9"),
      42,
    );
    expect(hex(okm)).toBe(
      "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
    );
  });
});
