import { randomBytes } from "node:crypto";
import { chmod, mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { OnionError } from "../onion/errors.js";
import { decodeKeyFile, encodeKeyFile } from "../onion/keys.js";
import { loadOrCreateKey } from "./key-store.js";

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "meowonion-key-store-"));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function counting() {
  const calls: Uint8Array[] = [];
  const generate = () => {
    const secret = randomBytes(32);
    calls.push(secret);
    return secret;
  };
  return { calls, generate };
}

async function expectKeyFileRejection(promise: Promise<unknown>): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OnionError);
  expect((err as OnionError).reason).toBe("key-file");
}

describe("loadOrCreateKey", () => {
  it("creates a 0600 key file (and its directory), then loads the same key", async () => {
    const path = join(dir, "keys", "nested", "onion.key");
    const { calls, generate } = counting();

    const first = await loadOrCreateKey(path, "x25519-onion-secret", generate);
    expect(first.created).toBe(true);
    expect(calls).toHaveLength(1);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const onDisk = decodeKeyFile("x25519-onion-secret", await readFile(path, "utf8"));
    expect(Buffer.from(onDisk).equals(first.secret)).toBe(true);

    const second = await loadOrCreateKey(path, "x25519-onion-secret", generate);
    expect(second.created).toBe(false);
    expect(calls).toHaveLength(1);
    expect(Buffer.from(second.secret).equals(first.secret)).toBe(true);
    expect(await readdir(join(dir, "keys", "nested"))).toEqual(["onion.key"]); // no temp files
  });

  it("agrees on one key when two callers race to create it", async () => {
    const path = join(dir, "identity.key");
    const { generate } = counting();
    const [a, b] = await Promise.all([
      loadOrCreateKey(path, "ed25519-identity-secret", generate),
      loadOrCreateKey(path, "ed25519-identity-secret", generate),
    ]);
    expect(Buffer.from(a.secret).equals(b.secret)).toBe(true);
    expect([a.created, b.created].filter(Boolean)).toHaveLength(1);
    expect(await readdir(dir)).toEqual(["identity.key"]);
  });

  it("refuses a group/other-readable file and leaves it alone", async () => {
    const path = join(dir, "identity.key");
    const text = encodeKeyFile("ed25519-identity-secret", randomBytes(32));
    await writeFile(path, text, { mode: 0o600 });
    await chmod(path, 0o644);
    const { calls, generate } = counting();
    await expectKeyFileRejection(loadOrCreateKey(path, "ed25519-identity-secret", generate));
    expect(calls).toHaveLength(0);
    expect(await readFile(path, "utf8")).toBe(text);
  });

  it("refuses a malformed or wrong-kind file rather than overwriting it", async () => {
    const path = join(dir, "onion.key");
    for (const text of ["garbage\n", encodeKeyFile("ed25519-identity-secret", randomBytes(32))]) {
      await writeFile(path, text, { mode: 0o600 });
      const { calls, generate } = counting();
      await expectKeyFileRejection(loadOrCreateKey(path, "x25519-onion-secret", generate));
      expect(calls).toHaveLength(0);
      expect(await readFile(path, "utf8")).toBe(text);
    }
  });

  it("refuses a generator that returns the wrong size and leaves nothing behind", async () => {
    const path = join(dir, "onion.key");
    await expectKeyFileRejection(
      loadOrCreateKey(path, "x25519-onion-secret", () => randomBytes(16)),
    );
    expect(await readdir(dir)).toEqual([]);
  });
});
