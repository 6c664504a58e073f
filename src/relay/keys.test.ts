import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { OnionKeyRing, loadIdentity } from "./keys.js";

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function dataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "meowonion-keys-"));
  dirs.push(dir);
  return dir;
}

const HOUR = 3600_000;

describe("relay keys", () => {
  it("creates the identity once and loads the same one afterwards (mode 600)", async () => {
    const dir = await dataDir();
    const first = await loadIdentity(dir);
    const second = await loadIdentity(dir);
    expect(first.created).toBe(true);
    expect(second.created).toBe(false);
    expect(Buffer.from(second.identity.publicKey).equals(first.identity.publicKey)).toBe(true);
    expect((await stat(join(dir, "identity.key"))).mode & 0o777).toBe(0o600);
  });

  it("keeps the onion key across restarts until it is due", async () => {
    const dir = await dataDir();
    const t0 = 1_800_000_000_000;
    const ring = await OnionKeyRing.load(dir, 24 * HOUR, t0);
    const again = await OnionKeyRing.load(dir, 24 * HOUR, t0 + HOUR);
    expect(Buffer.from(again.current.publicKey).equals(ring.current.publicKey)).toBe(true);
    expect(again.keys(t0 + HOUR)).toHaveLength(1);
    expect(again.nextRotationAt).toBe(t0 + 24 * HOUR);
  });

  it("rotates: the previous key stays accepted for one more period, then is forgotten and deleted", async () => {
    const dir = await dataDir();
    const t0 = 1_800_000_000_000;
    const ring = await OnionKeyRing.load(dir, 24 * HOUR, t0);
    const first = ring.current;
    await ring.rotate(t0 + 24 * HOUR);
    const second = ring.current;
    expect(Buffer.from(second.publicKey).equals(first.publicKey)).toBe(false);
    expect(ring.keys(t0 + 25 * HOUR).map((k) => k.publicKey)).toEqual([second.publicKey, first.publicKey]);
    expect(ring.keys(t0 + 48 * HOUR)).toHaveLength(1);
    await ring.rotate(t0 + 48 * HOUR);
    expect(ring.keys(t0 + 48 * HOUR).map((k) => k.publicKey)).toEqual([ring.current.publicKey, second.publicKey]);
    expect(await readdir(join(dir, "onion-keys"))).toHaveLength(2); // the first is gone
  });

  it("rotates on load when the key is overdue, keeping the old one in its grace period", async () => {
    const dir = await dataDir();
    const t0 = 1_800_000_000_000;
    const old = (await OnionKeyRing.load(dir, 24 * HOUR, t0)).current;
    const ring = await OnionKeyRing.load(dir, 24 * HOUR, t0 + 30 * HOUR);
    expect(Buffer.from(ring.current.publicKey).equals(old.publicKey)).toBe(false);
    expect(ring.keys(t0 + 30 * HOUR)[1].publicKey).toEqual(old.publicKey);
  });
});
