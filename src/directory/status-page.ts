/**
 * The authority's read-only status page, served at "/" on its RPC port next to the RPCs
 * (docs/directory.md, "Status page"). The page's source is web/status/; the build
 * (scripts/build-status-page.ts, part of `npm run build`, and vitest's global setup) bundles
 * it into dist/status-page/: index.html plus content-hashed assets. The page itself only
 * calls this authority's DirectoryService with connect-web, so serving it is static files.
 *
 * The files are read into memory once at start and looked up by exact path, so no request
 * path ever reaches the file system. Unknown paths get 404 (as before the page existed), a
 * method other than GET/HEAD on a page path 405.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { RpcServerOptions } from "../common/rpc-server.js";

type Fallback = NonNullable<RpcServerOptions["fallback"]>;

/** Where the build puts the bundled page, in the package root: same place from src/ (tsx) and dist/src/. */
export const STATUS_PAGE_DIR = join(packageRoot(), "dist", "status-page");
export const STATUS_PAGE_INDEX = "index.html";

/**
 * The page may load only its own scripts, styles and images, and talk only to this origin;
 * nothing may frame it or receive a form from it.
 */
const STATUS_PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
};

const COMMON_HEADERS = {
  "content-security-policy": STATUS_PAGE_CSP,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
};

interface StaticFile {
  body: Buffer;
  headers: Record<string, string>;
}

/** URL path → file. Empty when the page was not built. */
export type StatusPageFiles = ReadonlyMap<string, StaticFile>;

/**
 * Reads the built page. index.html is served at "/" and revalidated on every load (no-cache,
 * with an ETag); every other file name carries its content hash (the build guarantees it), so
 * it is cached for a year as immutable.
 */
export async function loadStatusPage(dir = STATUS_PAGE_DIR): Promise<StatusPageFiles> {
  const files = new Map<string, StaticFile>();
  const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return [];
    throw err;
  });
  for (const name of names) {
    const type = CONTENT_TYPES[extname(name)];
    if (type === undefined) continue;
    const body = await readFile(join(dir, name));
    const index = name === STATUS_PAGE_INDEX;
    files.set(index ? "/" : `/${name}`, {
      body,
      headers: {
        ...COMMON_HEADERS,
        "content-type": type,
        "content-length": String(body.length),
        "cache-control": index ? "no-cache" : "public, max-age=31536000, immutable",
        etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`,
      },
    });
  }
  if (files.size > 0 && !files.has("/")) throw new Error(`${dir} has no ${STATUS_PAGE_INDEX}: rebuild it (npm run build)`);
  return files;
}

/** The RPC server's fallback: the page's files for GET/HEAD, else 404/405; "/" says how to build a missing page. */
export function statusPageHandler(files: StatusPageFiles): Fallback {
  return (req, res) => {
    const path = (req.url ?? "/").split("?", 1)[0];
    const file = files.get(path);
    if (file === undefined) {
      if (path === "/" && files.size === 0) {
        res.writeHead(503, { ...COMMON_HEADERS, "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" });
        res.end("The status page is not built in this checkout: run `npm run build` (it bundles web/status/ into dist/status-page/).\n");
        return;
      }
      res.writeHead(404, { "x-content-type-options": "nosniff" });
      res.end();
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { ...COMMON_HEADERS, allow: "GET, HEAD" });
      res.end();
      return;
    }
    if (req.headers["if-none-match"] === file.headers.etag) {
      const { "content-length": _, "content-type": __, ...headers } = file.headers;
      res.writeHead(304, headers);
      res.end();
      return;
    }
    res.writeHead(200, file.headers);
    if (req.method === "HEAD") res.end();
    else res.end(file.body);
  };
}

/** The nearest folder above this module holding package.json: the repository or the installed package. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error("no package.json above src/directory/status-page");
    dir = parent;
  }
  return dir;
}
