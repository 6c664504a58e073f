/**
 * Key files on disk: load the existing key, or create it once. A key file is never replaced:
 * a malformed or group/other-accessible file is refused so the operator looks at it.
 */
import { mkdir, open } from "node:fs/promises";
import { dirname } from "node:path";
import { OnionError } from "../onion/errors.js";
import { decodeKeyFile, encodeKeyFile, type KeyKind } from "../onion/keys.js";
import { writeFileAtomic } from "./files.js";

// A key file is one short line; anything much bigger is not ours.
const MAX_KEY_FILE_BYTES = 4096;

export async function loadOrCreateKey(
  path: string,
  kind: KeyKind,
  generate: () => Uint8Array,
): Promise<{ secret: Uint8Array; created: boolean }> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const existing = await readKeyFile(path, kind);
  if (existing) return { secret: existing, created: false };

  const secret = generate();
  try {
    // Never replaces a key: if another process created the file meanwhile, use theirs.
    await writeFileAtomic(path, encodeKeyFile(kind, secret), { replace: false });
  } catch (err) {
    if (errorCode(err) !== "EEXIST") throw err;
    const theirs = await readKeyFile(path, kind);
    if (!theirs) throw err;
    return { secret: theirs, created: false };
  }
  return { secret, created: true };
}

/** The decoded key, or undefined if there is no file at `path`. */
async function readKeyFile(path: string, kind: KeyKind): Promise<Uint8Array | undefined> {
  let fh;
  try {
    fh = await open(path, "r");
  } catch (err) {
    if (errorCode(err) === "ENOENT") return undefined;
    throw err;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.size > MAX_KEY_FILE_BYTES) {
      throw new OnionError("key-file", `${path} is not a key file`);
    }
    if ((st.mode & 0o077) !== 0) {
      const mode = (st.mode & 0o777).toString(8);
      throw new OnionError("key-file", `${path} has mode ${mode}; refusing it (chmod 600 it)`);
    }
    try {
      return decodeKeyFile(kind, await fh.readFile("utf8"));
    } catch (cause) {
      throw new OnionError("key-file", `${path}: ${(cause as Error).message}`, { cause });
    }
  } finally {
    await fh.close();
  }
}

function errorCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}
