import http2 from "node:http2";
import { afterEach, describe, expect, it } from "vitest";
import { Cleanups, tempDir } from "../../test/helpers/cleanups.js";
import { startTestDirectory } from "../../test/helpers/in-process-network.js";
import { startRpcServer } from "../common/rpc-server.js";
import { loadStatusPage, statusPageHandler } from "./status-page.js";

/** One HTTP/2 (prior knowledge) GET: status, content type and body. */
async function h2Request(url: string, path: string): Promise<{ status: number; type: string; body: string }> {
  const session = http2.connect(url);
  try {
    return await new Promise((resolve, reject) => {
      const req = session.request({ ":path": path });
      let status = 0;
      let type = "";
      let body = "";
      req.on("response", (headers) => {
        status = Number(headers[":status"]);
        type = String(headers["content-type"] ?? "");
      });
      req.setEncoding("utf8");
      req.on("data", (chunk: string) => (body += chunk));
      req.on("end", () => resolve({ status, type, body }));
      req.on("error", reject);
    });
  } finally {
    session.close();
  }
}

describe("status page served by the authority", () => {
  const cleanups = new Cleanups();
  afterEach(() => cleanups.run());

  it("serves / and its hashed assets with their types, caching and CSP, over HTTP/1.1 and HTTP/2", async () => {
    const { server } = await startTestDirectory(cleanups);
    const index = await fetch(`${server.url}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(index.headers.get("cache-control")).toBe("no-cache");
    expect(index.headers.get("content-security-policy")).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    );
    expect(index.headers.get("x-content-type-options")).toBe("nosniff");
    const html = await index.text();
    const script = /src="(app-[A-Z0-9]+\.js)"/.exec(html)?.[1];
    const style = /href="(style-[A-Z0-9]+\.css)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    expect(style).toBeDefined();

    for (const [name, type] of [[script, "text/javascript; charset=utf-8"], [style, "text/css; charset=utf-8"]]) {
      const asset = await fetch(`${server.url}/${name}`);
      expect(asset.status).toBe(200);
      expect(asset.headers.get("content-type")).toBe(type);
      expect(asset.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
      expect((await asset.arrayBuffer()).byteLength).toBeGreaterThan(0);
    }

    // Revalidation of index.html costs no body.
    const again = await fetch(`${server.url}/`, { headers: { "if-none-match": index.headers.get("etag")! } });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe("");

    const viaH2 = await h2Request(server.url, "/");
    expect(viaH2).toMatchObject({ status: 200, type: "text/html; charset=utf-8" });
    expect(viaH2.body).toBe(html);
  });

  it("answers HEAD without a body, other methods 405, unknown paths 404, and leaves the RPCs alone", async () => {
    const { server } = await startTestDirectory(cleanups);
    const head = await fetch(`${server.url}/`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(Number(head.headers.get("content-length"))).toBeGreaterThan(0);
    expect(await head.text()).toBe("");

    const post = await fetch(`${server.url}/`, { method: "POST", body: "x" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");

    for (const path of ["/index.html", "/nope", "/..%2Fpackage.json", "/meowonion.v1.DirectoryService/NoSuchMethod"]) {
      expect((await fetch(`${server.url}${path}`)).status, path).toBe(404);
      expect((await h2Request(server.url, path)).status, path).toBe(404);
    }

    // An RPC path is still the RPC, not the page.
    const rpc = await fetch(`${server.url}/meowonion.v1.DirectoryService/GetDescriptor`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ identityKey: "AAAA" }),
    });
    expect(rpc.status).toBe(400);
    expect(await rpc.json()).toEqual({ code: "invalid_argument", message: "identity_key must be 32 bytes, got 3" });
  });

  it("says how to build the page when it was not built, and 404s everything else", async () => {
    const page = await loadStatusPage(await tempDir(cleanups));
    expect(page.size).toBe(0);
    const server = await startRpcServer({ host: "127.0.0.1", port: 0, register: () => undefined, files: [], fallback: statusPageHandler(page) });
    cleanups.add(() => server.close());
    const index = await fetch(`${server.url}/`);
    expect(index.status).toBe(503);
    expect(await index.text()).toContain("npm run build");
    expect((await fetch(`${server.url}/app.js`)).status).toBe(404);
  });
});
