/** Durable writes of small private files (keys, state): all or nothing, never a torn file. */
import { randomBytes } from "node:crypto";
import { link, open, rename, unlink } from "node:fs/promises";

/**
 * Writes `text` to a fresh temporary file (mode 0600) beside `path`, syncs it, then puts it in
 * place: with `replace`, over whatever is at `path` (rename); without, only if nothing is there
 * (link, which fails with EEXIST otherwise, so a file another process created is never
 * replaced). The temporary file never stays behind.
 */
export async function writeFileAtomic(path: string, text: string, options: { replace: boolean }): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
  try {
    const fh = await open(tmp, "wx", 0o600);
    try {
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (options.replace) await rename(tmp, path);
    else await link(tmp, path);
  } finally {
    // After a rename there is nothing left to remove; otherwise the unique name is inert.
    await unlink(tmp).catch(() => undefined);
  }
}
