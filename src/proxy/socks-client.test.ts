/** The one SOCKS5 client, against a minimal SOCKS5 server that records what it was asked. */
import { createServer } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { Cleanups } from "../../test/helpers/cleanups.js";
import { miniSocks } from "../../test/helpers/mini-socks.js";
import { listen } from "../../test/helpers/relay.js";
import { Socks5Reply } from "../onion/reasons.js";
import { encodeConnectRequest, SocksError, socksConnect } from "./socks-client.js";

describe("SOCKS5 client", () => {
  const cleanups = new Cleanups();
  afterEach(() => cleanups.run());

  it("encodes CONNECT for IPv4, IPv6 and names, and refuses what SOCKS cannot carry", () => {
    expect([...encodeConnectRequest("127.0.0.1", 80)]).toEqual([5, 1, 0, 1, 127, 0, 0, 1, 0, 80]);
    expect([...encodeConnectRequest("example.com", 443)]).toEqual([5, 1, 0, 3, 11, ...Buffer.from("example.com"), 1, 187]);
    const v6 = encodeConnectRequest("::1", 1);
    expect(v6[3]).toBe(4);
    expect([...v6.subarray(4, 20)]).toEqual([...Array(15).fill(0), 1]);
    expect(() => encodeConnectRequest("x".repeat(256), 80)).toThrow(SocksError);
    expect(() => encodeConnectRequest("example.com", 0)).toThrow(SocksError);
  });

  it("sends names as DOMAINNAME with the isolation username, and keeps early stream bytes", async () => {
    const proxy = await miniSocks(cleanups, { requireAuth: true });
    const socket = await socksConnect({ proxyHost: "127.0.0.1", proxyPort: proxy.port, host: "cat.example", port: 7000, username: "iso-1" });
    const reply = new Promise<string>((resolve) => {
      let text = "";
      socket.on("data", (d: Buffer) => {
        text += d.toString();
        if (text.endsWith("\n")) resolve(text);
      });
    });
    socket.resume();
    socket.write("meow\n");
    expect(await reply).toBe("hi meow\n");
    socket.destroy();
    expect(proxy.seen).toEqual(["user=iso-1", "connect=3:cat.example:7000"]);
  });

  it("reports the reply code of a refusal as a typed error", async () => {
    const proxy = await miniSocks(cleanups, { reply: Socks5Reply.NOT_ALLOWED });
    const err = await socksConnect({ proxyHost: "127.0.0.1", proxyPort: proxy.port, host: "10.1.2.3", port: 9 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SocksError);
    expect((err as SocksError).reply).toBe(Socks5Reply.NOT_ALLOWED);
    expect((err as SocksError).kind).toBe("exit-policy");
    expect((err as Error).message).toContain("not allowed by ruleset");
    expect(proxy.seen).toEqual(["connect=1:10.1.2.3:9"]);
  });

  it("gives up at its deadline when the server never answers", async () => {
    const silent = await listen(createServer((c) => c.on("error", () => undefined)), cleanups);
    const started = Date.now();
    const err = await socksConnect({ proxyHost: "127.0.0.1", proxyPort: silent, host: "a.example", port: 1, timeoutMs: 200 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SocksError);
    expect((err as Error).message).toContain("200 ms");
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
